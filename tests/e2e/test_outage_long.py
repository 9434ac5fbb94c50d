#!/usr/bin/python3
"""One long WAN outage (docs/outage.md, issue 4; ctest label `long`, not in the default run): a 5-minute blackhole
of the WAN between two sites while a few checksummed streams and an interactive ssh session run between compute
nodes of those sites. Everything must survive: streams complete and exact both ways, every ssh line echoed once in
order, ssh exit code 0, and the routers' `recovery` counters show suspended and resumed relays.

Theory of operation: the streams (4, 200 KB/s each way) keep writing during the cut, so each router holds far more
than its replay ring (1 MiB per relay direction) for the other side: the rest goes to the spill files, which the
test samples from `uvpn status` during the cut (printed). The cut length can be shortened for a trial run with
UVPN_OUTAGE_SECS (default 300).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_outage as to  # noqa: E402
import test_ssh  # noqa: E402

CUT_SECS = float(os.environ.get("UVPN_OUTAGE_SECS", "300"))


def test_five_minute_cut():
    h.require_tools("ssh", "ssh-keygen", "/usr/sbin/sshd")
    with h.Overlay(tag="out-long") as ov:
        sshdir = test_ssh.setup_sshd(ov, to.SERVER)
        rate = 200_000
        streams = to.Streams(ov, 4, rate * 40, rate, timeout=CUT_SECS + 200)
        sess = to.SshSession(ov, sshdir)
        time.sleep(5)
        assert len(sess.echo_at) >= 20, "ssh session: no echoes before the cut"
        t_cut = time.time()
        ov.cut("s1", "s2")
        try:
            while time.time() - t_cut < CUT_SECS:
                time.sleep(min(30, CUT_SECS - (time.time() - t_cut)))
                rec = {s: to.recovery(ov, s, required=False) for s in ("s1", "s2")}
                print(f"  +{time.time() - t_cut:.0f}s into the cut: recovery {rec}", flush=True)
                assert ov.router_alive("s1") and ov.router_alive("s2"), "a router died during the cut"
        finally:
            ov.restore("s1", "s2")
        print(f"  restored after {time.time() - t_cut:.0f}s", flush=True)
        to.wait_links(ov, timeout=30)
        lat = sess.finish(timeout=120)
        report = streams.check_ok()
        print(f"  longest stall: streams {report['max_stall']:.1f}s, ssh echo {lat:.1f}s")
        assert report["max_stall"] < CUT_SECS + to.STALL_SLACK and lat < CUT_SECS + to.STALL_SLACK, \
            "data moved again too late after the cut ended"
        rec = {s: to.recovery(ov, s) for s in ("s1", "s2")}
        print(f"  recovery: {rec}")
        assert sum(int(r.get("resumes", 0)) for r in rec.values()) > 0, f"no relay resumed: {rec}"


if __name__ == "__main__":
    h.main([test_five_minute_cut])
