#!/usr/bin/python3
"""Python asyncio client and server across sites: non-blocking connect through the shim; the server sees the
client's VIP via get_extra_info('peername') and the client sees its own VIP via getsockname."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netprogs.py")
PORT = 9000


def test_asyncio_peername():
    with h.Overlay(tag="aio") as ov:
        srv = ov.run("s2-n2", [h.PYTHON, "-u", PROGS, "aserver", str(PORT)], label="aserver")
        ov.wait_listening("s2-n2", PORT, proc=srv)
        r = ov.call("s1-n2", [h.PYTHON, PROGS, "aclient", ov.vip_of("s2-n2"), str(PORT)], timeout=60)
        assert r.stdout.decode().strip() == f"OK {ov.vip_of('s1-n2')}", f"client: {r.stdout!r} {r.stderr!r}"
        want = f"PEER {ov.vip_of('s1-n2')} "
        h.wait_until(lambda: want in open(ov.log_path("aserver"), errors="replace").read(), 5,
                     f"server line {want!r}")


if __name__ == "__main__":
    h.main([test_asyncio_peername])
