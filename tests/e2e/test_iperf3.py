#!/usr/bin/python3
"""iperf3 TCP across sites through the overlay, both directions; checks that bytes arrived."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PORT = 5201


def run_iperf(ov, reverse):
    argv = ["iperf3", "-c", ov.vip_of("s2-n1"), "-p", str(PORT), "-t", "3", "-J"] + (["-R"] if reverse else [])
    r = ov.call("s1-n1", argv, timeout=40)
    assert r.returncode == 0, f"iperf3 exited {r.returncode}: {r.stdout[-1500:]!r} {r.stderr[-1500:]!r}"
    res = json.loads(r.stdout)
    sent = res["end"]["sum_sent"]["bytes"]
    received = res["end"]["sum_received"]["bytes"]
    print(f"  iperf3 {'reverse' if reverse else 'forward'}: {received * 8 / 3 / 1e9:.2f} Gbit/s, "
          f"sent {sent} received {received}")
    assert received > 10 * 1024 * 1024, f"only {received} bytes received"
    assert received <= sent and received > 0.9 * sent, f"sent {sent} received {received}"
    # The server saw the client's virtual address.
    peers = [c.get("remote_host") for c in res["start"].get("connected", [])]
    return peers


def test_iperf3_both_directions():
    h.require_tools("iperf3")
    with h.Overlay(tag="iperf") as ov:
        srv = ov.run("s2-n1", ["iperf3", "-s", "-p", str(PORT)], label="iperf3-server")
        ov.wait_listening("s2-n1", PORT, proc=srv)
        peers = run_iperf(ov, reverse=False)
        assert ov.vip_of("s2-n1") in " ".join(peers), f"client's view of the server: {peers}"
        run_iperf(ov, reverse=True)
        with open(ov.log_path("iperf3-server"), errors="replace") as f:
            log = f.read()
        assert "Accepted connection from" in log and ov.vip_of("s1-n1") in log, f"server log: {log[-800:]}"


if __name__ == "__main__":
    h.main([test_iperf3_both_directions])
