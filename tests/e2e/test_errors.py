#!/usr/bin/python3
"""Errors the application sees through the overlay are the kernel's: no listener -> ECONNREFUSED (blocking connect;
non-blocking via poll + SO_ERROR; non-blocking then a second connect() like hiredis); an unleased VIP in the other
site's subnet -> EHOSTUNREACH; a VIP in no site's subnet -> EHOSTUNREACH. Non-blocking cases run several times:
the router resets a failed leg 0 at once, and the errno must come from the router, not from that reset."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netprogs.py")
CLOSED_PORT = 9
REPEAT = 4


def probe(ov, host, addr, port, mode):
    r = ov.call(host, [h.PYTHON, PROGS, "probe", addr, str(port), mode], timeout=60)
    return r.stdout.decode().strip() or f"(no output, exit {r.returncode}, stderr {r.stderr[-500:]!r})"


def test_errno_semantics():
    with h.Overlay(tag="errs") as ov:
        # A program must be running on the destination node, so its VIP is leased (no listener on the port).
        ov.run("s2-n1", ["sleep", "600"], label="lease-holder")
        h.wait_until(lambda: any(n.get("vip") == ov.vip_of("s2-n1") for n in ov.status_json("s1")["nodes"]), 10,
                     "site s1 to learn s2-n1's lease")
        cases = [
            (ov.vip_of("s2-n1"), CLOSED_PORT, "block", "ECONNREFUSED"),
            (ov.vip_of("s2-n1"), CLOSED_PORT, "nonblock", "ECONNREFUSED"),
            (ov.vip_of("s2-n1"), CLOSED_PORT, "reconnect", "ECONNREFUSED"),
            ("100.97.2.200", 80, "block", "EHOSTUNREACH"),
            ("100.97.2.200", 80, "nonblock", "EHOSTUNREACH"),
            ("100.97.200.1", 80, "block", "EHOSTUNREACH"),
            (ov.vip_of("s1-n2"), CLOSED_PORT, "block", "EHOSTUNREACH"),  # same site, not leased
        ]
        bad = []
        for addr, port, mode, want in cases:
            # Non-blocking results race the router's reset of the failed connection: ask several times.
            for attempt in range(1 if mode == "block" else REPEAT):
                got = probe(ov, "s1-n1", addr, port, mode)
                print(f"  connect {addr}:{port} {mode}: {got} (want {want})")
                if got != want:
                    bad.append(f"{addr}:{port} {mode} (try {attempt + 1}): got {got}, want {want}")
        assert not bad, "; ".join(bad)


if __name__ == "__main__":
    h.main([test_errno_semantics])
