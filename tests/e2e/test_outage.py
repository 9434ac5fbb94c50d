#!/usr/bin/python3
"""WAN outage tolerance (docs/outage.md, issue 4): applications on compute nodes of two sites keep their TCP
connections across a cut of the WAN between the heads, and every byte arrives exactly once, in order.

Theory of operation:
  One workload runs from s1-n1 (client) to s2-n1 (server) through the overlay, all at once: an scp upload and an
  scp download of the same 100 MB file (rate-limited so that they are mid-transfer when the cut comes), a set of
  streamcheck streams (both directions per connection, every byte verified by both ends) and an interactive
  `ssh -T ... cat` session driven over pipes (a numbered line every 100 ms, each echo checked in order, with its
  latency). While it runs the test cuts the WAN: a testbed blackhole (`ov.cut`, silent drop, both ways) and/or a
  `uvpn chaos cut` on router s1 (RSTs and refused handshakes), for 2 s and for 30 s. Then every program must end
  with exit code 0, both copies must have the source's sha256, every stream must be complete and exact both ways
  and every ssh line echoed once, in order; data must move again within STALL_SLACK of the end of a cut (a router
  that leaves recovery to leg 1's TCP retransmission backoff is ~20 s late after a 30 s cut); for the long cuts
  the routers' `recovery` counters must show relays suspended 8 s into the cut and resumed afterwards.
  Two more tests bound the behaviour: past `--outage-deadline` the applications get an error (bounded in time,
  not a hang), and with `--no-resume` a `uvpn chaos reset` breaks the streams (the checks can fail).
  The helpers here (Streams, SshSession, Scp, cut, recovery) are also used by test_outage_random.py and
  test_outage_long.py. Run one test: `test_outage.py test_blackhole_30s`.
"""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_ssh  # noqa: E402  (setup_sshd, ssh_opts)

SC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "streamcheck.py")
SC_PORT = 9400
SSH_PORT = test_ssh.PORT
CLIENT, SERVER = "s1-n1", "s2-n1"


# ---- streamcheck ------------------------------------------------------------------------------------------------
class Streams:
    """N streamcheck connections CLIENT -> SERVER, `nbytes` each way per stream at `rate` B/s."""

    def __init__(self, ov, n, nbytes, rate, timeout, port=SC_PORT, client=CLIENT, server=SERVER, tag="sc"):
        self.ov, self.n, self.nbytes, self.timeout = ov, n, nbytes, timeout
        self.srv_log = ov.log_path(f"{tag}-server")
        self.cli_out = os.path.join(ov.dir, f"{tag}-client.json")
        self.srv = ov.run(server, [h.PYTHON, "-u", SC, "server", str(port), "--conns", str(n)], label=f"{tag}-server")
        ov.wait_listening(server, port, proc=self.srv)
        self.t0 = time.time()
        self.out = open(self.cli_out, "wb")
        self.cli = ov.run(client, [h.PYTHON, SC, "client", ov.vip_of(server), str(port), "--streams", str(n),
                                   "--bytes", str(nbytes), "--rate", str(rate), "--timeout", str(timeout)],
                          stdout=self.out, label=f"{tag}-client")

    def wait(self):
        """Waits for the client (bounded by its own --timeout) and the server; returns (client report, server
        per-connection records)."""
        try:
            self.cli.wait(timeout=self.timeout + 30)
        except subprocess.TimeoutExpired:
            self.ov.stop(self.cli)
            raise AssertionError(f"streamcheck client did not exit within {self.timeout + 30}s")
        self.out.close()
        with open(self.cli_out, "rb") as f:
            text = f.read().decode(errors="replace")
        try:
            report = json.loads(text)
        except ValueError:
            raise AssertionError(f"streamcheck client (exit {self.cli.returncode}) printed no report: {text[-2000:]!r}")
        report["exit"] = self.cli.returncode
        try:
            self.srv.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.ov.stop(self.srv)
        conns = []
        with open(self.srv_log, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                if line.startswith("{") and '"sid"' in line:
                    conns.append(json.loads(line))
        return report, conns

    def check_ok(self):
        """Asserts every stream complete and exact both ways, seen from both ends. Returns the client report."""
        report, conns = self.wait()
        summary = {k: report[k] for k in ("streams", "ok", "failed", "sent", "recv", "max_stall", "elapsed")}
        print(f"  streams: {summary}")
        assert report["exit"] == 0 and report["failed"] == 0, \
            f"streamcheck client: exit {report['exit']}, errors {dict(list(report['errors'].items())[:10])}"
        want = self.n * self.nbytes
        assert report["sent"] == want and report["recv"] == want, f"client totals {report['sent']}/{report['recv']}"
        bad = [c for c in conns if c["error"]]
        assert not bad, f"streamcheck server errors: {bad[:10]}"
        assert len(conns) == self.n, f"server saw {len(conns)} connections, expected {self.n}"
        assert sum(c["recv"] for c in conns) == want and sum(c["sent"] for c in conns) == want, "server totals"
        return report


# ---- interactive ssh session ------------------------------------------------------------------------------------
class SshSession:
    """`ssh -T root@SERVER cat`, one numbered line every `period` s; the reader checks each echo in order."""

    def __init__(self, ov, sshdir, period=0.1, client=CLIENT, server=SERVER):
        self.ov, self.period = ov, period
        argv = ["ssh", "-T"] + test_ssh.ssh_opts(sshdir) + ["-p", str(SSH_PORT), f"root@{ov.vip_of(server)}", "cat"]
        self.p = ov.run(client, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, label="ssh-session")
        self.sent_at = []     # send time of line i
        self.echo_at = []     # echo time of line i
        self.errors = []
        self.stopping = threading.Event()
        self.ready = threading.Event()  # the first echo came back: the session is established
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.writer.start()
        self.reader.start()

    @staticmethod
    def line(i):
        return b"%06d the quick brown fox jumps over the lazy dog\n" % i

    def _write(self):
        i = 0
        try:
            while not self.stopping.is_set():
                self.sent_at.append(time.time())
                self.p.stdin.write(self.line(i))
                self.p.stdin.flush()
                i += 1
                if i == 1:
                    self.ready.wait(60)  # ssh's handshake first: latency counts from an established session
                self.stopping.wait(self.period)
            self.p.stdin.close()
        except OSError as e:
            self.errors.append(f"write line {i}: {e!r}")

    def _read(self):
        i = 0
        for got in iter(self.p.stdout.readline, b""):
            if got != self.line(i):
                self.errors.append(f"echo {i}: got {got[:80]!r}")
                return
            self.echo_at.append(time.time())
            self.ready.set()
            i += 1

    def echoed_before(self, t):
        return sum(1 for e in self.echo_at if e < t)

    def finish(self, timeout=90):
        """Stops writing, closes stdin, waits for every echo and ssh's exit; asserts all lines echoed in order and
        exit code 0. Returns the largest echo latency (s)."""
        self.stopping.set()
        self.writer.join(timeout=10)
        self.reader.join(timeout=timeout)
        try:
            rc = self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.ov.stop(self.p)
            rc = "hung"
        n, m = len(self.sent_at), len(self.echo_at)
        lat = max((self.echo_at[i] - self.sent_at[i] for i in range(1, m)), default=0.0)
        print(f"  ssh session: {n} lines, {m} echoed, max echo latency {lat:.1f}s, exit {rc}")
        assert not self.errors, f"ssh session: {self.errors[:5]}"
        assert m == n, f"ssh session: {m} of {n} lines echoed"
        assert rc == 0, f"ssh session exited {rc}"
        return lat


# ---- scp both ways ----------------------------------------------------------------------------------------------
def make_file(path, mib):
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    return h.sha256_file(path)


class Scp:
    """scp of `src` to the server (upload) and back from it (download), both run on the client, at `kbit` Kbit/s."""

    def __init__(self, ov, sshdir, src, kbit, client=CLIENT, server=SERVER):
        self.ov, self.src = ov, src
        self.up, self.down = src + ".up", src + ".down"
        base = ["scp", "-q", "-l", str(kbit)] + test_ssh.ssh_opts(sshdir) + ["-P", str(SSH_PORT)]
        vip = ov.vip_of(server)
        self.p_up = ov.run(client, base + [src, f"root@{vip}:{self.up}"], label="scp-up")
        self.p_down = ov.run(client, base + [f"root@{vip}:{src}", self.down], label="scp-down")

    def progress(self):
        """Bytes written so far of the smaller of the two copies."""
        sizes = []
        for path in (self.up, self.down):
            try:
                sizes.append(os.path.getsize(path))
            except OSError:
                sizes.append(0)
        return min(sizes)

    def check(self, digest, timeout):
        deadline = time.monotonic() + timeout
        for name, p, copy in (("up", self.p_up, self.up), ("down", self.p_down, self.down)):
            try:
                rc = p.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.ov.stop(p)
                raise AssertionError(f"scp {name} did not finish within {timeout}s")
            with open(self.ov.log_path(f"scp-{name}"), errors="replace") as f:
                assert rc == 0, f"scp {name} exited {rc}: {f.read()[-1000:]}"
            got = h.sha256_file(copy)
            assert got == digest, f"scp {name}: sha256 {got} != source {digest}"
            os.unlink(copy)
        print("  scp upload and download: exit 0, sha256 match")


# ---- cuts -------------------------------------------------------------------------------------------------------
def cut(ov, kind, seconds, a="s1", b="s2", during=None):
    """Cuts the WAN between sites a and b for `seconds` (blocking): kind 'blackhole' (testbed, silent drop) or
    'chaos' (`uvpn chaos cut` on router a, RSTs then refused handshakes; ends by itself), or 'reset' (`uvpn chaos
    reset`, instantaneous). `during()` is called 8 s into a cut longer than 12 s."""
    t = time.time()
    if kind == "blackhole":
        ov.cut(a, b)
    elif kind == "chaos":
        ov.chaos(a, "cut", b, "--for", f"{seconds:g}")
    elif kind == "reset":
        ov.chaos(a, "reset", b)
    else:
        raise ValueError(kind)
    try:
        if during and seconds > 12:
            time.sleep(8)
            during()
        time.sleep(max(0.0, t + seconds - time.time()))
    finally:
        if kind == "blackhole":
            ov.restore(a, b)
    print(f"  {kind} {a}-{b} {seconds:g}s at +{t - T0[0]:.1f}s")
    return t


T0 = [time.time()]
STALL_SLACK = 15  # s: allowed delay between the end of a cut and data moving again (TCP RTO backoff alone: ~20 s)


def recovery(ov, site, required=True):
    """The router's `recovery` counters (uvpn status --json); {} if absent and not `required`."""
    st = ov.status_json(site)
    rec = h.find_key(st, "recovery")
    if not isinstance(rec, dict):
        assert not required, f"router {site}: no 'recovery' object in uvpn status --json: {json.dumps(st)[:600]}"
        return {}
    return rec


def wait_links(ov, timeout=20):
    h.wait_until(lambda: ov.links_up("s1") and ov.links_up("s2"), timeout, "links up again", interval=0.2)


# ---- the scenarios ----------------------------------------------------------------------------------------------
def full_workload(tag, cuts, stream_secs, scp_secs, check_recovery):
    """Starts the workload, applies `cuts` [(kind, seconds, pause_after)], checks everything."""
    h.require_tools("ssh", "scp", "ssh-keygen", "/usr/sbin/sshd")
    with h.Overlay(tag=tag) as ov:
        T0[0] = time.time()
        sshdir = test_ssh.setup_sshd(ov, SERVER)
        src = os.path.join(ov.dir, "big.bin")
        digest = make_file(src, 100)
        total_cut = sum(c[1] for c in cuts)
        rate = 100_000
        scp = Scp(ov, sshdir, src, kbit=100 * 8 * 1024 // scp_secs)
        sess = SshSession(ov, sshdir)
        # Cut only once everything is moving: 20 echoes, and both scp copies partly written.
        h.wait_until(lambda: len(sess.echo_at) >= 20 and scp.progress() >= (5 << 20), 60,
                     "ssh echoes and scp progress before the cut", interval=0.2)
        print(f"  before the cut: {len(sess.echo_at)} echoes, scp copies at least {scp.progress() >> 20} MiB")
        streams = Streams(ov, 8, rate * stream_secs, rate, timeout=stream_secs + total_cut + 90)
        time.sleep(2)
        before = {s: recovery(ov, s, required=False) for s in ("s1", "s2")}
        mid = {}

        def during():
            mid.update({s: recovery(ov, s, required=False) for s in ("s1", "s2")})
            print(f"  during the cut: recovery {mid}")
        for kind, secs, pause in cuts:
            cut(ov, kind, secs, during=during)
            time.sleep(pause)
        wait_links(ov)
        failures = []

        def check(what, fn, *args):
            try:
                return fn(*args)
            except AssertionError as e:
                print(f"  FAILED {what}: {e}", flush=True)
                failures.append(f"{what}: {e}")
        check("scp", scp.check, digest, scp_secs + total_cut + 120)
        lat = check("ssh session", sess.finish)
        report = check("streams", streams.check_ok)
        longest = max(c[1] for c in cuts)
        if report and lat is not None:
            print(f"  longest stall: streams {report['max_stall']:.1f}s, ssh echo {lat:.1f}s (cuts: {total_cut:g}s)")
            # Resumed relays move again soon after the WAN is back (redial backoff <= 1 s, then RESUME); a
            # router that leaves it to leg 1's TCP retransmission timer (backoff up to 2 min) fails this.
            if not (report["max_stall"] < longest + STALL_SLACK and lat < longest + STALL_SLACK):
                failures.append(f"data moved again only {max(report['max_stall'], lat) - longest:.1f}s after a "
                                f"{longest:g}s cut ended")
        after = {s: recovery(ov, s, required=False) for s in ("s1", "s2")}
        print(f"  recovery after: {after}")
        if check_recovery:
            resumes = sum(int(after[s].get("resumes", 0)) - int(before[s].get("resumes", 0)) for s in after)
            if resumes <= 0:
                failures.append(f"no relay resumed (recovery.resumes did not grow): {after}")
            if longest > 12 and not any(int(mid.get(s, {}).get("suspended", 0)) > 0 for s in ("s1", "s2")):
                failures.append(f"no relay was suspended 8 s into the cut: {mid}")
        os.unlink(src)
        assert not failures, "; ".join(failures)


def test_short_cuts():
    """2 s blackhole (about the link timeout: TCP may ride it out), 2 s chaos cut, one chaos reset (these two
    RST every leg 1: the relays must resume)."""
    full_workload("out-short", [("blackhole", 2, 3), ("chaos", 2, 3), ("reset", 0, 3)], stream_secs=15,
                  scp_secs=15, check_recovery=True)


def test_blackhole_30s():
    full_workload("out-bh30", [("blackhole", 30, 0)], stream_secs=12, scp_secs=12, check_recovery=True)


def test_chaos_cut_30s():
    full_workload("out-ch30", [("chaos", 30, 0)], stream_secs=12, scp_secs=12, check_recovery=True)


def test_outage_deadline():
    """Routers with --outage-deadline 5 and a 25 s blackhole: the streams fail (error, not a hang) about
    link timeout + 5 s after the cut; after restore new connections work."""
    deadline = 5
    with h.Overlay(tag="out-dl", router_args=["--outage-deadline", str(deadline)]) as ov:
        T0[0] = time.time()
        streams = Streams(ov, 8, 100_000 * 60, 100_000, timeout=60)
        time.sleep(3)
        t_cut = time.time()
        ov.cut("s1", "s2")
        try:
            report, conns = streams.wait()
        finally:
            ov.restore("s1", "s2")
        t_ends = [r["t_end_wall"] - t_cut for r in report["per_stream"] if "t_end_wall" in r]
        print(f"  client: {report['failed']} of {report['streams']} failed, errors "
              f"{sorted(set(report['errors'].values()))[:5]}, ended {min(t_ends, default=-1):.1f}.."
              f"{max(t_ends, default=-1):.1f}s after the cut")
        srv_ends = [c["t_end_wall"] - t_cut for c in conns if c.get("t_end_wall")]
        print(f"  server: {sum(1 for c in conns if c['error'])} of {len(conns)} failed, errors "
              f"{sorted(set(c['error'] for c in conns if c['error']))[:5]}, ended "
              f"{min(srv_ends, default=-1):.1f}..{max(srv_ends, default=-1):.1f}s after the cut")
        assert report["failed"] == report["streams"], "every stream must fail once the deadline passed"
        assert all(not e.startswith("timeout") for e in report["errors"].values()), \
            f"the client hung until its own timeout: {report['errors']}"
        assert t_ends and max(t_ends) < deadline + 3 + 10, f"errors came {max(t_ends):.1f}s after the cut"
        assert min(t_ends) >= deadline - 1, f"a stream failed {min(t_ends):.1f}s after the cut, before the deadline"
        assert len(conns) == report["streams"] and all(c["error"] for c in conns), \
            f"the server side must fail too (its router resets at the deadline): {conns}"
        rec = {s: recovery(ov, s, required=False) for s in ("s1", "s2")}
        print(f"  recovery: {rec}")
        assert all(int(rec[s].get("deadline_resets", 0)) > 0 for s in rec), \
            f"both routers must count deadline resets: {rec}"
        wait_links(ov)
        Streams(ov, 2, 200_000, 200_000, timeout=30, port=SC_PORT + 1, tag="sc-after").check_ok()


def test_no_resume_breaks():
    """--no-resume: the old plain relays; one `uvpn chaos reset` must break every stream."""
    with h.Overlay(tag="out-nr", router_args=["--no-resume"]) as ov:
        streams = Streams(ov, 8, 100_000 * 20, 100_000, timeout=40)
        time.sleep(3)
        ov.chaos("s1", "reset", "s2")
        report, conns = streams.wait()
        print(f"  client: {report['failed']} of {report['streams']} failed: "
              f"{sorted(set(report['errors'].values()))[:5]}")
        assert report["failed"] == report["streams"], \
            f"with --no-resume a chaos reset must break every stream: {report['failed']} failed"
        assert all(not e.startswith("timeout") for e in report["errors"].values()), report["errors"]


if __name__ == "__main__":
    h.main([test_short_cuts, test_blackhole_30s, test_chaos_cut_30s, test_outage_deadline, test_no_resume_breaks])
