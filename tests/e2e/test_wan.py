#!/usr/bin/python3
"""WAN outages with three sites: `cut s1 s3` silently drops traffic between those heads. Router s1 notices the
link down (heartbeats), a new connection to s3 fails with an error (EHOSTUNREACH or ETIMEDOUT, bounded in time)
while s1 -> s2 keeps working; after `restore` the link comes back by itself and s1 -> s3 works again."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netprogs.py")
PORT = 9000


def link_up(ov, site, other):
    return any(ln["site"] == other and ln["up"] is True for ln in ov.status_json(site)["links"])


def echo_ok(ov, client, server):
    r = ov.call(client, [h.PYTHON, PROGS, "aclient", ov.vip_of(server), str(PORT)], timeout=60)
    return r.stdout.decode().strip() == f"OK {ov.vip_of(client)}"


def test_cut_and_restore():
    with h.Overlay(sites=3, nodes=1, tag="wan") as ov:
        for host in ("s2-n1", "s3-n1"):
            p = ov.run(host, [h.PYTHON, "-u", PROGS, "aserver", str(PORT)], label=f"echo-{host}")
            ov.wait_listening(host, PORT, proc=p)
        assert echo_ok(ov, "s1-n1", "s3-n1") and echo_ok(ov, "s1-n1", "s2-n1"), "before the cut"
        ov.cut("s1", "s3")
        t0 = time.monotonic()
        h.wait_until(lambda: not link_up(ov, "s1", "s3"), 15, "router s1 to see link s3 down", interval=0.2)
        print(f"  link s1-s3 down after {time.monotonic() - t0:.1f}s")
        assert link_up(ov, "s1", "s2"), "link s1-s2 went down with s1-s3"
        t1 = time.monotonic()
        r = ov.call("s1-n1", [h.PYTHON, PROGS, "probe", ov.vip_of("s3-n1"), str(PORT), "block"], timeout=60)
        got = r.stdout.decode().strip()
        print(f"  connect across the cut: {got} after {time.monotonic() - t1:.1f}s")
        assert got in ("EHOSTUNREACH", "ETIMEDOUT", "ENETUNREACH"), f"connect across a cut WAN: {got!r}"
        assert echo_ok(ov, "s1-n1", "s2-n1"), "s1 -> s2 during the s1-s3 cut"
        ov.restore("s1", "s3")
        t2 = time.monotonic()
        h.wait_until(lambda: link_up(ov, "s1", "s3") and link_up(ov, "s3", "s1"), 20, "link s1-s3 back up",
                     interval=0.2)
        print(f"  link s1-s3 up again after {time.monotonic() - t2:.1f}s")
        assert echo_ok(ov, "s1-n1", "s3-n1"), "s1 -> s3 after restore"


if __name__ == "__main__":
    h.main([test_cut_and_restore])
