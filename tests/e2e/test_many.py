#!/usr/bin/python3
"""1,000 concurrent connections across sites, each moving a random amount of random data (up to 64 KiB) that the
far end hashes and the client checks; bounded in time."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netprogs.py")
PORT = 9100
COUNT = int(os.environ.get("UVPN_E2E_CONNS", "1000"))


def test_thousand_concurrent_connections():
    with h.Overlay(tag="many", log_level="info") as ov:
        srv = ov.run("s2-n1", [h.PYTHON, PROGS, "hashserver", str(PORT)], label="hashserver")
        ov.wait_listening("s2-n1", PORT, proc=srv)
        r = ov.call("s1-n1", [h.PYTHON, PROGS, "hashclient", ov.vip_of("s2-n1"), str(PORT), str(COUNT), "65536",
                              "150"], timeout=200)
        out = r.stdout.decode().strip()
        print(f"  {out}")
        assert out.startswith("OK"), f"client: {out} {r.stderr[-1500:]!r}"
        assert ov.router_alive("s1") and ov.router_alive("s2"), "a router died"


if __name__ == "__main__":
    h.main([test_thousand_concurrent_connections])
