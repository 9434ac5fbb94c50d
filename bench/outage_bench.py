#!/usr/bin/python3
"""WAN outage recovery benchmark (issue 4, docs/outage.md): recovery time, cost of recovery, memory in an outage.

    sudo /usr/bin/python3 bench/outage_bench.py --build-dir build/release [--out-dir DIR] [--smoke]

Theory of operation: two overlays of two sites (one node each) run side by side on the namespace testbed
(tests/e2e/harness.Overlay): "on" with the routers' defaults (relays resumable) and "off" with
`uvpn router --no-resume` (plain splice relays). Three measurements, each optional (--only):

1. throughput (on and off, interleaved): iperf3 -c -l SIZE under `uvpn run` on s1-n1 to `iperf3 -s` under
   `uvpn run` on s2-n1, by virtual IP; for each repeat and size, both overlays back to back, the order
   alternating; the median of the repeats per column and the ratio on/off.
2. recovery (on): outage_probe.py ts-send on s1-n1 writes a 32-byte timestamped record every 1 ms to ts-recv on
   s2-n1 over one overlay connection; the receiver checks sequence numbers (exactly once, in order) and reports
   each gap in arrivals live. For each repeat and each cut kind, the WAN is cut for --cut-seconds and restored;
   recovery time = arrival of the first record after the restore began - the moment the restore call returned.
   Kinds: `blackhole` (uvpn-testbed cut/restore s1 s2: silent drops in the WAN namespace), `chaos-s1` and
   `chaos-s2` (`uvpn chaos cut s2` / `restore s2` on router s1, or the mirror on router s2: resets, refused
   handshakes). The same connection rides through every cut; if it breaks, the cut is recorded as broken (with
   the receiver's and sender's reason) and a new pair is started for the next cut. Goal: under 1 s.
3. memory (on): outage_probe.py bulk-send opens --streams connections s1 -> s2 pushing as fast as they can
   (pattern-checked by bulk-recv); after --load-seconds the WAN is blackholed for --mem-cut-seconds, then
   restored; --post-seconds later the senders stop, half-close, and every stream must be confirmed complete.
   A sampler reads both routers' VmRSS/VmHWM (/proc/PID/status) every 100 ms and their `recovery` section of
   `uvpn status --json` every 200 ms; the report compares the peak RSS with the RSS under load before the cut.

Output (--out-dir, default build/bench-out/outage): the table on stdout and in summary.txt, results.csv (one row
per figure with its samples), cuts.csv (one row per cut), memory.csv (the sampler's time series), raw.json and
outage_bench.png. Nothing crashes on a missing feature: a router that refuses --no-resume leaves the off column
n/a, a missing `uvpn chaos` marks the chaos cuts unavailable, broken connections are counted and shown. Exit 1
on any failed run or broken connection; a missed goal is an error only with --strict. --smoke (ctest) runs each
measurement once, tiny, and exits 77 when not root or when uvpn is not built. Every wait is bounded.
"""

import argparse
import csv
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of bench/ and tests/e2e/
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = os.path.join(REPO, "bench", "outage_probe.py")
SKIP = 77
IPERF_PORT, TS_PORT, BULK_PORT = 5501, 5601, 5701
GOAL_S = 1.0
GAUGES = {"suspended", "ring_bytes", "spill_bytes", "spill_files"}  # in `recovery` of uvpn status --json
h = None  # tests/e2e/harness, imported in main() once UVPN_BUILD_DIR is set


def log(msg):
    print(f"[outage] {msg}", file=sys.stderr, flush=True)


def med(xs):
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return statistics.median(xs) if xs else float("nan")


def fmt(v, nd=3):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


class Probe:
    """A probe (or any program) run under `uvpn run`; a thread collects its stdout lines with their read time."""

    def __init__(self, ov, host, argv, label, python=True):
        full = ([h.PYTHON, "-u", PROBE] if python else []) + argv
        self.p = ov.run(host, full, overlay=True, label=label, stdout=subprocess.PIPE)
        self.ov, self.label, self.lines, self.eof = ov, label, [], False
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            with self.cv:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def wait_line(self, pred, timeout, start=0):
        """Index of the first line >= start satisfying pred, or None at timeout / end of output."""
        deadline = time.monotonic() + timeout
        with self.cv:
            i = start
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return i
                    i += 1
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    return None
                self.cv.wait(left)

    def find(self, prefix, start=0):
        with self.cv:
            return [ln for ln in self.lines[start:] if ln.startswith(prefix)]

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10):
        """SIGTERM (probes end gracefully on it), bounded wait, then the whole group is killed."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.ov.stop(self.p, signal.SIGKILL)
        self.wait_line(lambda ln: False, 3)  # let the reader reach EOF
        return self.p.returncode


class Bench:
    def __init__(self, args):
        self.a = args
        self.ovs = {}          # "on"/"off" -> Overlay
        self.notes = []        # unavailable features, odd router behaviour
        self.failures = []     # runs that failed or connections that broke
        self.tput = {}         # size -> {"on": [bps], "off": [bps]}
        self.cuts = []         # one dict per cut
        self.mem = {}          # memory summary
        self.mem_samples = []  # sampler rows
        self.mem_events = {}   # name -> seconds since sampler start
        self.bulk_progress = []  # (t, bytes) from bulk-recv
        self.deadline = time.monotonic() + args.max_minutes * 60

    def fail(self, msg):
        log(f"FAILED: {msg}")
        self.failures.append(msg)

    def note(self, msg):
        log(f"note: {msg}")
        self.notes.append(msg)

    # --- overlays ----------------------------------------------------------------------------------------
    def up(self, which):
        router_args = ["--no-resume"] if which == "off" else []
        if self.a.spill_quota:
            router_args += ["--spill-quota", str(self.a.spill_quota)]
        try:
            ov = h.Overlay(sites=2, nodes=1, tag=f"out{which}", log_level=self.a.router_log_level,
                           router_args=router_args)
            self.ovs[which] = ov.__enter__()
            log(f"overlay '{which}' up (router args {router_args or 'default'}); logs in {ov.dir}")
            return True
        except (AssertionError, subprocess.SubprocessError, OSError) as e:
            self.note(f"overlay '{which}' (router args {router_args}) did not come up: {str(e)[-600:]}")
            return False

    def down(self, which):
        ov = self.ovs.pop(which, None)
        if ov is not None:
            ov.close()

    def close(self):
        for which in list(self.ovs):
            self.down(which)

    # --- 1. throughput on/off ----------------------------------------------------------------------------
    def iperf_server(self, which):
        ov = self.ovs[which]
        p = ov.run("s2-n1", ["iperf3", "-s", "-p", str(IPERF_PORT)], overlay=True, label=f"iperf3-s-{which}")
        ov.wait_listening("s2-n1", IPERF_PORT, timeout=15, proc=p)
        return p

    def iperf(self, which, size, servers):
        ov, a = self.ovs[which], self.a
        argv = ["iperf3", "-c", ov.vip_of("s2-n1"), "-p", str(IPERF_PORT), "-l", str(size), "-t", str(a.seconds),
                "-O", str(a.omit), "-J", "--connect-timeout", "5000"]
        try:
            r = ov.call("s1-n1", argv, timeout=a.seconds + a.omit + 30)
            bps = float(json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"])
            if r.returncode != 0:
                raise ValueError(f"rc {r.returncode}")
            return bps
        except (AssertionError, ValueError, KeyError, TypeError) as e:
            self.fail(f"iperf3 -l {size} [{which}]: {str(e)[-300:]}")
            ov.stop(servers[which])  # a half-finished test can leave iperf3 -s busy
            try:
                servers[which] = self.iperf_server(which)
            except AssertionError as e2:
                self.fail(f"iperf3 -s [{which}] restart: {e2}")
            return float("nan")

    def throughput(self):
        modes = [m for m in ("on", "off") if m in self.ovs]
        servers = {}
        for m in modes:
            servers[m] = self.iperf_server(m)
        for size in self.a.sizes:
            self.tput[size] = {"on": [], "off": []}
        for rep in range(self.a.repeats):
            order = modes if rep % 2 == 0 else list(reversed(modes))
            log(f"throughput repeat {rep + 1}/{self.a.repeats} ({' then '.join(order)}), "
                f"load {os.getloadavg()[0]:.2f}")
            for size in self.a.sizes:
                for m in order:
                    time.sleep(0.3)
                    v = self.iperf(m, size, servers)
                    self.tput[size][m].append(v)
                    log(f"  -l {size} {m}: {fmt(v / 1e6, 1)} Mbit/s")
            if time.monotonic() > self.deadline:
                self.note(f"--max-minutes reached after {rep + 1} throughput repeats")
                break
        for m in modes:
            self.ovs[m].stop(servers[m])

    # --- 2. recovery time --------------------------------------------------------------------------------
    def ts_pair(self, n):
        ov = self.ovs["on"]
        recv = Probe(ov, "s2-n1", ["ts-recv", str(TS_PORT), "--gap-ms", "50", "--max-seconds", "1800"],
                     f"ts-recv-{n}")
        ov.wait_listening("s2-n1", TS_PORT, timeout=15, proc=recv.p)
        send = Probe(ov, "s1-n1", ["ts-send", ov.vip_of("s2-n1"), str(TS_PORT), "--interval-ms", "1",
                                   "--max-seconds", "1800"], f"ts-send-{n}")
        if send.wait_line(lambda ln: ln == "CONNECTED", 15) is None:
            raise AssertionError(f"ts-send did not connect: {send.lines[-3:]}")
        # Flowing: the receiver's one-second tick shows records.
        i = recv.wait_line(lambda ln: ln.startswith("T ") and int(ln.split()[2]) > 0, 10)
        if i is None:
            raise AssertionError(f"no records reach ts-recv: {recv.lines[-3:]}")
        return send, recv

    def cut(self, kind, on):
        ov = self.ovs["on"]
        if kind == "blackhole":
            (ov.cut if on else ov.restore)("s1", "s2")
        else:
            site, other = ("s1", "s2") if kind == "chaos-s1" else ("s2", "s1")
            ov.chaos(site, "cut" if on else "restore", other)

    def one_cut(self, kind, secs, rep, send, recv):
        rec = {"kind": kind, "cut_s": secs, "repeat": rep, "recovery_s": float("nan"), "stall_s": float("nan"),
               "first_age_s": float("nan"), "outcome": "", "detail": ""}
        s0, r0 = len(send.lines), len(recv.lines)
        t_cut = time.monotonic()
        self.cut(kind, True)
        time.sleep(max(0.0, secs - (time.monotonic() - t_cut)))
        t_restore = time.monotonic()
        t_restore_ns = time.monotonic_ns()
        self.cut(kind, False)
        t_back = time.monotonic()
        rec["restore_call_s"] = round(t_back - t_restore, 4)

        def back(ln):
            if ln.startswith("GAP "):
                return int(ln.split()[2]) >= t_restore_ns
            return ln.startswith("END ")
        i = recv.wait_line(back, self.a.recover_timeout, start=r0)
        line = recv.lines[i] if i is not None else ""
        if line.startswith("GAP "):
            _, last, now, _seq, sent = line.split()
            rec["recovery_s"] = int(now) / 1e9 - t_back
            rec["stall_s"] = (int(now) - int(last)) / 1e9
            rec["first_age_s"] = (int(now) - int(sent)) / 1e9
            rec["outcome"] = "recovered"
            if rec["stall_s"] < secs * 0.5:
                rec["detail"] = f"data kept flowing for part of the cut (stall {rec['stall_s']:.2f}s)"
        else:
            # No gap ended after the restore: broken, stalled, or the flow never stopped.
            ticks = [ln for ln in recv.lines[r0:] if ln.startswith("T ")]
            counts = [int(t.split()[2]) for t in ticks]
            ends = recv.find("END ", r0)
            errs = send.find("ERROR", s0)
            if ends or errs or not recv.alive() or not send.alive():
                rec["outcome"] = "broken"
                rec["detail"] = "; ".join(ends + errs) or "a probe exited"
                got = [int(e.split("records=")[1]) for e in ends if e.startswith("END ok")]
                sent = [int(e.split("sent=")[1].split()[0]) for e in errs if "sent=" in e]
                if got and sent and got[0] < sent[0]:
                    rec["detail"] += (f" -- the receiver saw a clean EOF: {sent[0] - got[0]} records silently "
                                      f"missing (the sender had them accepted)")
            elif len(counts) >= 2 and counts[-1] > counts[0] and not recv.find("GAP ", r0):
                rec["outcome"] = "no-outage"
                rec["detail"] = "records kept arriving through the cut"
            else:
                rec["outcome"] = "stalled"
                rec["detail"] = f"no record within {self.a.recover_timeout}s after the restore"
        seqerr = recv.find("SEQERR", r0)
        if seqerr:
            rec["detail"] += f"; {seqerr[0]}"
            rec["outcome"] += "+seqerr"
        return rec

    def recovery(self):
        kinds = list(self.a.kinds)
        send = recv = None
        pairs = 0
        for rep in range(self.a.cut_repeats):
            for secs in self.a.cut_seconds:
                for kind in kinds:
                    if kind not in self.a.kinds:
                        continue  # became unavailable
                    if send is None or not (send.alive() and recv.alive()):
                        if send is not None:
                            send.stop(3)
                            recv.stop(3)
                        pairs += 1
                        try:
                            send, recv = self.ts_pair(pairs)
                        except AssertionError as e:
                            self.fail(f"recovery: probe pair {pairs} did not start: {e}")
                            return
                        time.sleep(0.5)
                    log(f"cut {kind} {secs}s (repeat {rep + 1}/{self.a.cut_repeats})")
                    try:
                        rec = self.one_cut(kind, secs, rep + 1, send, recv)
                    except (AssertionError, subprocess.SubprocessError) as e:
                        self.note(f"cut kind {kind} unavailable: {(str(e).strip().splitlines() or [''])[0][:300]}")
                        self.a.kinds = [k for k in self.a.kinds if k != kind]
                        with_restore = [k for k in ("blackhole",) if k == kind]
                        for k in with_restore:  # never leave the WAN cut
                            self.cut(k, False)
                        continue
                    rec["pair"] = pairs
                    self.cuts.append(rec)
                    log(f"  -> {rec['outcome']}: recovery {fmt(rec['recovery_s'])} s, stall "
                        f"{fmt(rec['stall_s'])} s {rec['detail']}")
                    if not rec["outcome"].startswith("recovered"):
                        self.fail(f"cut {kind} {secs}s repeat {rep + 1}: {rec['outcome']} ({rec['detail']})")
                    time.sleep(self.a.settle)
            if time.monotonic() > self.deadline:
                self.note(f"--max-minutes reached after {rep + 1} cut repeats")
                break
        if send is not None:
            send.stop(40)
            recv.stop(10)
            sent = send.find("SENT ")
            ends = recv.find("END ")
            log(f"last probe pair: sender {sent or send.find('ERROR')}, receiver {ends}")
            if sent and ends and ends[-1].startswith("END ok") and \
                    ends[-1].split("records=")[1] == sent[-1].split()[1]:
                self.mem["ts_integrity"] = (f"pair {pairs}: all {sent[-1].split()[1]} records sent arrived "
                                            f"exactly once, in order")
            elif not (self.cuts and self.cuts[-1].get("pair") == pairs and self.cuts[-1]["outcome"] == "broken"):
                self.fail(f"recovery: final check of probe pair {pairs}: sender {sent or send.lines[-2:]}, "
                          f"receiver {ends or recv.lines[-2:]}")

    # --- 3. memory under load ----------------------------------------------------------------------------
    def router_pid(self, site):
        pid = self.ovs["on"].routers[site].pid
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            return pid
        if comm != "uvpn":
            self.note(f"router {site} pid {pid} is '{comm}', not uvpn: RSS is of that process")
        return pid

    @staticmethod
    def proc_mem(pid):
        out = {}
        try:
            with open(f"/proc/{pid}/status") as f:
                for ln in f:
                    if ln.startswith(("VmRSS:", "VmHWM:")):
                        out[ln.split(":")[0]] = int(ln.split()[1]) * 1024
        except OSError:
            pass
        return out

    def recovery_section(self, site):
        try:
            st = self.ovs["on"].status_json(site)
        except (AssertionError, ValueError, subprocess.SubprocessError):
            return None
        sec = h.find_key(st, "recovery")
        if not isinstance(sec, dict):
            return None
        out = {k: v for k, v in sec.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        links = st.get("links")
        if isinstance(links, list):  # 1/0: this router sees its link to the other site up
            out["link_up"] = int(any(isinstance(ln, dict) and ln.get("up") is True for ln in links))
        return out

    def sampler(self, stop, t0):
        pids = {s: self.router_pid(s) for s in ("s1", "s2")}
        last_status = {}
        next_status = 0.0
        while not stop.is_set():
            t = time.monotonic() - t0
            row = {"t": round(t, 3)}
            for s, pid in pids.items():
                m = self.proc_mem(pid)
                row[f"{s}_rss"] = m.get("VmRSS", float("nan"))
                row[f"{s}_hwm"] = m.get("VmHWM", float("nan"))
            if t >= next_status:
                next_status = t + 0.2
                for s in pids:
                    sec = self.recovery_section(s)
                    if sec is not None:
                        last_status[s] = sec
                    elif "no_recovery_noted" not in self.mem:
                        self.mem["no_recovery_noted"] = True
                        self.note(f"`uvpn status --json` of router {s} has no numeric `recovery` section")
            for s, sec in last_status.items():
                for k, v in sec.items():
                    row[f"{s}_{k}"] = v
            self.mem_samples.append(row)
            stop.wait(0.1)

    def memory(self):
        ov, a = self.ovs["on"], self.a
        recv = Probe(ov, "s2-n1", ["bulk-recv", str(BULK_PORT), "--streams", str(a.streams),
                                   "--max-seconds", "900"], "bulk-recv")
        ov.wait_listening("s2-n1", BULK_PORT, timeout=15, proc=recv.p)
        stop = threading.Event()
        t0 = time.monotonic()
        th = threading.Thread(target=self.sampler, args=(stop, t0), daemon=True)
        th.start()
        ev = self.mem_events
        cut = False
        try:
            time.sleep(1.0)
            ev["load"] = time.monotonic() - t0
            send = Probe(ov, "s1-n1", ["bulk-send", ov.vip_of("s2-n1"), str(BULK_PORT), "--streams",
                                       str(a.streams), "--max-seconds", "600", "--drain-seconds",
                                       str(a.drain_seconds)], "bulk-send")
            if send.wait_line(lambda ln: ln.startswith("CONNECTED"), 60) is None:
                self.fail(f"memory: bulk-send did not connect {a.streams} streams: {send.lines[-3:]}")
                send.stop(5)
                return
            ev["connected"] = time.monotonic() - t0
            time.sleep(a.load_seconds)
            ev["cut"] = time.monotonic() - t0
            ov.cut("s1", "s2")
            cut = True
            log(f"memory: WAN cut for {a.mem_cut_seconds}s under {a.streams} streams")
            time.sleep(a.mem_cut_seconds)
            ov.restore("s1", "s2")
            cut = False
            ev["restore"] = time.monotonic() - t0
            time.sleep(a.post_seconds)
            ev["stop"] = time.monotonic() - t0
            send.p.send_signal(signal.SIGTERM)
            i = send.wait_line(lambda ln: ln.startswith("RESULT "), a.drain_seconds + 30)
            ev["done"] = time.monotonic() - t0
            time.sleep(0.5)
        finally:
            if cut:
                ov.restore("s1", "s2")
            stop.set()
            th.join(5)
        send.stop(10)
        recv.stop(10)
        self.bulk_progress = [(int(ln.split()[1]) / 1e9 - t0, int(ln.split()[2])) for ln in recv.find("P ")]
        res = json.loads(send.lines[i][7:]) if i is not None else None
        rres = recv.find("RESULT ")
        self.mem["bulk"] = res
        self.mem["bulk_recv"] = json.loads(rres[-1][7:]) if rres else None
        if res is None:
            self.fail(f"memory: bulk-send gave no result: {send.lines[-3:]}")
        elif res["complete"] != res["streams"]:
            self.fail(f"memory: {res['complete']}/{res['streams']} streams complete; errors {res['errors']} "
                      f"mismatched {res['mismatched'][:3]}")
        corrupt = recv.find("CORRUPT")
        if corrupt:
            self.fail(f"memory: corrupted streams: {corrupt[:3]}")
        self.summarize_memory()

    def summarize_memory(self):
        ev, rows = self.mem_events, self.mem_samples
        if "cut" not in ev or not rows:
            return

        def window(lo, hi, key):
            return [r[key] for r in rows if lo <= r["t"] < hi and key in r and not math.isnan(r[key])]
        for s in ("s1", "s2"):
            idle = window(0, ev["load"], f"{s}_rss")
            pre = window(max(ev["load"], ev["cut"] - 2), ev["cut"], f"{s}_rss")
            during = window(ev["cut"], ev.get("restore", 1e9), f"{s}_rss")
            after = window(ev.get("restore", 1e9), 1e9, f"{s}_rss")
            hwm = window(0, 1e9, f"{s}_hwm")
            self.mem[s] = {"idle_rss": med(idle), "loaded_rss": med(pre),
                           "peak_rss_cut": max(during, default=float("nan")),
                           "peak_rss_after": max(after, default=float("nan")),
                           "end_rss": after[-1] if after else float("nan"),
                           "hwm": max(hwm, default=float("nan"))}
            # The recovery section: gauges (suspended, ring/spill bytes, spill files) -> their peak; the rest are
            # counters since the router started -> their growth over this phase.
            for key in sorted({k for r in rows for k in r if k.startswith(s + "_")} -
                              {f"{s}_rss", f"{s}_hwm"}):
                vals, name = window(0, 1e9, key), key[len(s) + 1:]
                if not vals or name == "link_up":
                    continue
                if name in GAUGES or name.startswith("unacked"):
                    self.mem[s]["max_" + name] = max(vals)
                else:
                    self.mem[s]["delta_" + name] = vals[-1] - vals[0]
        for s in ("s1", "s2"):
            early = [r["t"] for r in rows if r.get(f"{s}_link_up") == 0 and r["t"] < ev["cut"]]
            if early:
                self.note(f"memory: router {s} saw its link down at t={early[0]:.1f} s, before the cut at "
                          f"t={ev['cut']:.1f} s (no outage then: under load only)")
        # Bytes delivered during the cut and how long delivery stalled (from bulk-recv's progress lines).
        prog = self.bulk_progress
        if prog:
            def at(t):
                prior = [b for (tt, b) in prog if tt <= t]
                return prior[-1] if prior else 0
            r = ev.get("restore", ev["cut"])
            self.mem["delivered_during_cut"] = at(r) - at(ev["cut"] + 0.3)
            pre_rate = (at(ev["cut"]) - at(max(ev["load"], ev["cut"] - 2))) / min(2, ev["cut"] - ev["load"])
            self.mem["load_Bps_before_cut"] = pre_rate
            later = [tt for (tt, b) in prog if tt > r and b > at(r)]
            self.mem["delivery_back_after_s"] = (later[0] - r) if later else float("nan")

    # --- the whole run -----------------------------------------------------------------------------------
    def run(self):
        only = self.a.only
        if not self.up("on"):
            raise RuntimeError("the default overlay did not come up; nothing to measure")
        if "throughput" in only:
            self.up("off")
            if "off" not in self.ovs:
                self.fail("throughput: no --no-resume overlay, the off column is n/a")
            self.throughput()
            self.down("off")
        if "recovery" in only:
            self.recovery()
        if "memory" in only:
            self.memory()


# --- report ------------------------------------------------------------------------------------------------
def cut_stats(b):
    """(kind, cut_s) -> dict of median/max recovery, counts."""
    out = {}
    for c in b.cuts:
        d = out.setdefault((c["kind"], c["cut_s"]), dict(rec=[], n=0, recovered=0, broken=0, other=0))
        d["n"] += 1
        if c["outcome"] == "recovered":
            d["recovered"] += 1
            d["rec"].append(c["recovery_s"])
        elif c["outcome"].startswith("broken"):
            d["broken"] += 1
        else:
            d["other"] += 1
    for d in out.values():
        d["median"] = med(d["rec"])
        d["max"] = max(d["rec"], default=float("nan"))
    return out


def results_rows(b):
    rows = []
    for (kind, secs), d in sorted(cut_stats(b).items()):
        samples = " ".join(fmt(c["recovery_s"]) for c in b.cuts if c["kind"] == kind and c["cut_s"] == secs)
        note = f"{d['recovered']}/{d['n']} recovered, {d['broken']} broken, {d['other']} other"
        rows.append(("recovery", f"{kind} cut {secs:g}s median", d["median"], "s", samples, note))
        rows.append(("recovery", f"{kind} cut {secs:g}s max", d["max"], "s", samples, note))
    for size, cols in sorted(b.tput.items(), reverse=True):
        on, off = med(cols["on"]), med(cols["off"])
        for m, v in (("on", on), ("off", off)):
            rows.append(("throughput", f"{m} -l {size}", v / 1e6, "Mbit/s",
                         " ".join(fmt(x / 1e6, 1) for x in cols[m]), ""))
        ratios = [x / y for x, y in zip(cols["on"], cols["off"]) if y and not math.isnan(x) and not math.isnan(y)]
        rows.append(("throughput", f"ratio on/off -l {size}", on / off if off and not math.isnan(off) else
                     float("nan"), "x", " ".join(fmt(r, 3) for r in ratios), "ratio of medians; samples paired"))
    for s in ("s1", "s2"):
        for k, v in b.mem.get(s, {}).items():
            unit = "MiB" if ("rss" in k or "hwm" in k or "bytes" in k or "spilled" in k) else ""
            rows.append(("memory", f"router {s} {k}", v / 2**20 if unit == "MiB" else v, unit, "", ""))
    for k in ("load_Bps_before_cut", "delivered_during_cut", "delivery_back_after_s"):
        if k in b.mem:
            v = b.mem[k]
            unit = "MiB/s" if k.endswith("Bps_before_cut") else ("MiB" if k.startswith("delivered") else "s")
            rows.append(("memory", k, v / 2**20 if unit.startswith("MiB") else v, unit, "", ""))
    bulk = b.mem.get("bulk")
    if bulk:
        rows.append(("memory", "streams complete", bulk["complete"], f"of {bulk['streams']}", "",
                     f"sent {bulk['sent_total'] / 2**20:.0f} MiB; errors {bulk['errors']}"))
    return rows


def print_report(b, a, out):
    print(f"uvpn WAN outage benchmark ({'smoke, ' if a.smoke else ''}{os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.2f})", file=out)
    stats = cut_stats(b)
    if stats:
        print(f"\nRecovery: record every 1 ms s1-n1 -> s2-n1 on one overlay connection; time from the restore "
              f"call's return\nto the first record's arrival (goal < {GOAL_S:g} s; negative: data flowed before the "
              f"call returned;\nstall: receiver's gap in arrivals; call: how long the restore call took)",
              file=out)
        print(f"{'kind':<10} {'cut':>5} {'cuts':>4} {'ok':>4} {'broken':>6} {'median s':>9} {'max s':>7} "
              f"{'stall s':>8} {'call s':>6}  goal (median)", file=out)
        for (kind, secs), d in sorted(stats.items()):
            stall = med([c["stall_s"] for c in b.cuts if c["kind"] == kind and c["cut_s"] == secs])
            call = med([c["restore_call_s"] for c in b.cuts if c["kind"] == kind and c["cut_s"] == secs])
            verdict = []
            if not math.isnan(d["median"]):
                verdict.append("ok" if d["median"] < GOAL_S else "MISSED")
                if d["median"] < GOAL_S <= d["max"]:
                    verdict.append("(max over)")
            if d["broken"]:
                verdict.append(f"{d['broken']} CONNECTION(S) LOST")
            if d["other"]:
                verdict.append(f"{d['other']} stalled/no outage")
            ok = " ".join(verdict)
            print(f"{kind:<10} {secs:>4g}s {d['n']:>4} {d['recovered']:>4} {d['broken']:>6} {fmt(d['median']):>9} "
                  f"{fmt(d['max']):>7} {fmt(stall, 2):>8} {fmt(call, 2):>6}  {ok}", file=out)
        for c in b.cuts:
            if c["outcome"] != "recovered" or c["detail"]:
                print(f"  {c['kind']} #{c['repeat']}: {c['outcome']} {c['detail']}", file=out)
        if "ts_integrity" in b.mem:
            print(f"  records: {b.mem['ts_integrity']}", file=out)
    if b.tput:
        print("\nThroughput, resume on (default) vs --no-resume (iperf3 through the overlay, median of "
              f"{a.repeats}, -t {a.seconds})", file=out)
        print(f"{'-l':>7} {'on Mbit/s':>10} {'off Mbit/s':>11} {'on/off':>7}", file=out)
        for size, cols in sorted(b.tput.items(), reverse=True):
            on, off = med(cols["on"]), med(cols["off"])
            print(f"{size:>7} {fmt(on / 1e6, 1):>10} {fmt(off / 1e6, 1):>11} "
                  f"{fmt(on / off if off and not math.isnan(off) else float('nan'), 2):>7}", file=out)
    if "s1" in b.mem:
        ev = b.mem_events
        print(f"\nMemory: {a.streams} streams s1 -> s2 at full speed, WAN blackholed for {a.mem_cut_seconds:g} s "
              f"(t={ev.get('cut', 0):.1f}..{ev.get('restore', 0):.1f} s)", file=out)
        print(f"{'router':<6} {'idle':>6} {'loaded':>7} {'peak in cut':>12} {'peak after':>11} {'end':>6} "
              f"{'VmHWM':>6}  peak/loaded   (VmRSS, MiB)", file=out)
        for s in ("s1", "s2"):
            m = b.mem[s]
            mib = [fmt(m[k] / 2**20, 1) for k in ("idle_rss", "loaded_rss", "peak_rss_cut", "peak_rss_after",
                                                    "end_rss", "hwm")]
            grow = m["peak_rss_cut"] / m["loaded_rss"] if m["loaded_rss"] else float("nan")
            print(f"{s:<6} {mib[0]:>6} {mib[1]:>7} {mib[2]:>12} {mib[3]:>11} {mib[4]:>6} {mib[5]:>6}  "
                  f"{fmt(grow, 2):>11}", file=out)
        for s in ("s1", "s2"):
            parts = []
            for k, v in b.mem[s].items():
                if k.startswith(("max_", "delta_")):
                    big = "bytes" in k or "spilled" in k
                    val = f"{v / 2**20:.1f} MiB" if big else f"{v:g}"
                    parts.append(f"{k.replace('max_', 'peak ').replace('delta_', '+')} {val}")
            print(f"  {s} recovery: " + (", ".join(parts) or "(no `recovery` section in uvpn status --json)"),
                  file=out)
        bulk = b.mem.get("bulk")
        if bulk:
            print(f"  load before the cut {fmt(b.mem.get('load_Bps_before_cut', float('nan')) / 2**20, 0)} MiB/s; "
                  f"delivered during the cut {fmt(b.mem.get('delivered_during_cut', float('nan')) / 2**20, 1)} MiB; "
                  f"delivery back {fmt(b.mem.get('delivery_back_after_s', float('nan')), 2)} s after restore",
                  file=out)
            print(f"  {bulk['streams']} streams connected in {ev.get('connected', 0) - ev.get('load', 0):.1f} s",
                  file=out)
            print(f"  streams complete {bulk['complete']}/{bulk['streams']} (sent {bulk['sent_total'] / 2**20:.0f} "
                  f"MiB, drained in {bulk['drain_seconds']} s) errors {bulk['errors']}", file=out)
    for n in b.notes:
        print(f"NOTE: {n}", file=out)
    for f in b.failures:
        print(f"FAILED: {f}", file=out)


def write_outputs(b, a):
    with open(os.path.join(a.out_dir, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["section", "name", "value", "unit", "samples", "note"])
        for r in results_rows(b):
            w.writerow([r[0], r[1], "" if isinstance(r[2], float) and math.isnan(r[2]) else f"{r[2]:.6g}"] +
                       list(r[3:]))
    fields = ["kind", "cut_s", "repeat", "pair", "outcome", "recovery_s", "stall_s", "first_age_s",
              "restore_call_s", "detail"]
    with open(os.path.join(a.out_dir, "cuts.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for c in b.cuts:
            w.writerow(c)
    if b.mem_samples:
        keys = list(dict.fromkeys(k for r in b.mem_samples for k in r))
        with open(os.path.join(a.out_dir, "memory.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            for r in b.mem_samples:
                w.writerow(r)
    with open(os.path.join(a.out_dir, "raw.json"), "w") as f:
        json.dump({"args": vars(a), "cuts": b.cuts, "throughput": b.tput, "memory": b.mem,
                   "events": b.mem_events, "bulk_progress": b.bulk_progress, "notes": b.notes,
                   "failures": b.failures}, f, indent=1, default=str)


def write_plot(b, a, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"matplotlib not available ({e}); run with /usr/bin/python3"
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), gridspec_kw={"width_ratios": [1, 0.8, 1.8]})
    ax = axes[0]
    stats = sorted(cut_stats(b).items())
    for x, ((kind, secs), d) in enumerate(stats):
        ys = [c["recovery_s"] for c in b.cuts if c["kind"] == kind and c["cut_s"] == secs and
              c["outcome"] == "recovered"]
        ax.scatter([x] * len(ys), ys, color="#4c72b0", zorder=3)
        if ys:
            ax.hlines(d["median"], x - 0.3, x + 0.3, color="black")
        if d["broken"] or d["other"]:
            ax.annotate(f"{d['broken']} broken\n{d['other']} other", (x, 0), ha="center", va="bottom",
                        color="red", fontsize=8)
    ax.axhline(GOAL_S, color="red", ls="--", lw=1, label=f"goal {GOAL_S:g} s")
    ax.set_xticks(range(len(stats)))
    ax.set_xticklabels([f"{k}\n{s:g}s" for (k, s), _ in stats], fontsize=8)
    ax.set_ylabel("s from restore to first record")
    ax.set_title("Recovery time")
    ax.set_ylim(bottom=min(0, min((c["recovery_s"] for c in b.cuts if not math.isnan(c["recovery_s"])),
                                  default=0)))
    ax.legend(fontsize=8, loc="center right")
    ax = axes[1]
    sizes = sorted(b.tput)
    for j, (m, col) in enumerate((("on", "#dd8452"), ("off", "#4c72b0"))):
        ys = [med(b.tput[s][m]) / 1e6 for s in sizes]
        ax.bar([i + (j - 0.5) * 0.38 for i in range(len(sizes))], ys, 0.38, label=f"resume {m}", color=col)
    for i, s in enumerate(sizes):
        on, off = med(b.tput[s]["on"]), med(b.tput[s]["off"])
        if off and not math.isnan(off) and not math.isnan(on):
            ax.annotate(f"{on / off:.2f}x", (i, max(on, off) / 1e6), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(sizes)))
    ax.set_xticklabels([str(s) for s in sizes])
    ax.set_xlabel("iperf3 -l")
    ax.set_ylabel("Mbit/s (median)")
    ax.set_title("Throughput: recovery on vs off")
    ax.legend(fontsize=8)
    ax = axes[2]
    rows = b.mem_samples
    if rows:
        t = [r["t"] for r in rows]
        for s, col in (("s1", "#dd8452"), ("s2", "#4c72b0")):
            ax.plot(t, [r.get(f"{s}_rss", float("nan")) / 2**20 for r in rows], color=col, label=f"{s} VmRSS")
            for k in sorted({k for r in rows for k in r if k.startswith(s + "_") and "bytes" in k and
                             ("spill" in k or "ring" in k)}):
                ax.plot(t, [r.get(k, float("nan")) / 2**20 for r in rows], color=col,
                        ls=":" if "spill" in k else "--", label=k)
        ev = b.mem_events
        if "cut" in ev:
            ax.axvspan(ev["cut"], ev.get("restore", ev["cut"]), color="grey", alpha=0.2, label="WAN cut")
        if b.bulk_progress and len(b.bulk_progress) > 1:
            ax2 = ax.twinx()
            p = b.bulk_progress
            ax2.plot([p[i][0] for i in range(1, len(p))],
                     [(p[i][1] - p[i - 1][1]) / max(1e-3, p[i][0] - p[i - 1][0]) * 8 / 1e6 for i in range(1, len(p))],
                     color="green", lw=0.8, alpha=0.6)
            ax2.set_ylabel("delivered Mbit/s (green)")
        ax.set_xlabel("s")
        ax.set_ylabel("MiB")
        ax.set_ylim(bottom=0)
        ax.set_title(f"Routers under {a.streams} streams, WAN cut {a.mem_cut_seconds:g} s")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"))
    ap.add_argument("--out-dir", default=None, help="default <repo>/build/bench-out/outage")
    ap.add_argument("--smoke", action="store_true", help="each measurement once, tiny (ctest)")
    ap.add_argument("--spill-quota", type=int, default=None,
                    help="routers' --spill-quota in bytes (default: the router's; smoke: 128 MiB, to spare CI disks)")
    ap.add_argument("--only", default="throughput,recovery,memory")
    ap.add_argument("--repeats", type=int, help="throughput repeats per column (default 3, smoke 1)")
    ap.add_argument("--seconds", type=int, help="iperf3 -t (default 3, smoke 1)")
    ap.add_argument("--sizes", default="131072,1000")
    ap.add_argument("--kinds", help="cut kinds: blackhole,chaos-s1,chaos-s2 (smoke: blackhole,chaos-s1)")
    ap.add_argument("--cut-seconds", help="comma-separated cut lengths (default 5, smoke 4)")
    ap.add_argument("--cut-repeats", type=int, help="cuts per kind and length (default 3, smoke 1)")
    ap.add_argument("--recover-timeout", type=float, default=20, help="give up on a cut's recovery after this")
    ap.add_argument("--settle", type=float, default=1.0, help="pause after each cut's recovery")
    ap.add_argument("--streams", type=int, help="memory test streams (default 100, smoke 10)")
    ap.add_argument("--load-seconds", type=float, help="full load before the cut (default 5, smoke 2)")
    ap.add_argument("--mem-cut-seconds", type=float, help="memory test cut (default 10, smoke 4)")
    ap.add_argument("--post-seconds", type=float, help="load after the restore (default 3, smoke 1)")
    ap.add_argument("--drain-seconds", type=float, default=120, help="bound on the streams' completion")
    ap.add_argument("--max-minutes", type=float, default=30)
    ap.add_argument("--router-log-level", default="info", choices=["debug", "info", "warn", "error"])
    ap.add_argument("--strict", action="store_true", help="exit 1 when the recovery goal is missed")
    a = ap.parse_args(argv)
    s = a.smoke

    def dflt(v, full, smoke):
        return v if v is not None else (smoke if s else full)
    a.spill_quota = dflt(a.spill_quota, None, 128 << 20)
    a.repeats = max(1, min(dflt(a.repeats, 3, 1), 20))
    a.seconds = max(1, min(dflt(a.seconds, 3, 1), 60))
    a.omit = 0 if s else 1
    a.sizes = [int(x) for x in a.sizes.split(",")]
    a.kinds = (a.kinds or ("blackhole,chaos-s1" if s else "blackhole,chaos-s1,chaos-s2")).split(",")
    if not set(a.kinds) <= {"blackhole", "chaos-s1", "chaos-s2"}:
        ap.error("--kinds takes blackhole, chaos-s1, chaos-s2")
    a.cut_seconds = [float(x) for x in (a.cut_seconds or ("4" if s else "5")).split(",")]
    if any(not 0 < x <= 300 for x in a.cut_seconds):
        ap.error("--cut-seconds: each in (0, 300]")
    a.cut_repeats = max(1, min(dflt(a.cut_repeats, 3, 1), 30))
    a.streams = max(1, min(dflt(a.streams, 100, 10), 128))
    a.load_seconds = dflt(a.load_seconds, 5.0, 2.0)
    a.mem_cut_seconds = min(dflt(a.mem_cut_seconds, 10.0, 4.0), 300)
    a.post_seconds = dflt(a.post_seconds, 3.0, 1.0)
    a.only = set(a.only.split(","))
    if not a.only or not a.only <= {"throughput", "recovery", "memory"}:
        ap.error("--only takes a subset of throughput,recovery,memory")
    a.build_dir = os.path.abspath(a.build_dir)
    a.out_dir = os.path.abspath(a.out_dir or os.path.join(REPO, "build", "bench-out", "outage"))
    return a


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt()


def main(argv):
    global h
    a = parse_args(argv)
    if os.geteuid() != 0:
        log("needs root (network namespaces): sudo /usr/bin/python3 bench/outage_bench.py ...")
        return SKIP if a.smoke else 1
    if not os.access(os.path.join(a.build_dir, "bin", "uvpn"), os.X_OK):
        log(f"missing {a.build_dir}/bin/uvpn: build it first")
        return SKIP if a.smoke else 1
    os.environ["UVPN_BUILD_DIR"] = a.build_dir
    sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
    import harness  # noqa: E402
    h = harness
    try:
        h.require_tools("iperf3", "ss")
    except h.Skip as e:
        log(f"cannot run: {e}")
        return SKIP if a.smoke else 1
    h.reap_stale()
    os.makedirs(a.out_dir, exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    b = Bench(a)
    started = time.time()
    try:
        b.run()
    except KeyboardInterrupt:
        log("interrupted")
        b.close()
        return 130
    except (RuntimeError, AssertionError, subprocess.SubprocessError) as e:
        b.fail(f"aborted: {str(e)[-800:]}")
    finally:
        b.close()
    print()
    print_report(b, a, sys.stdout)
    with open(os.path.join(a.out_dir, "summary.txt"), "w") as f:
        print_report(b, a, f)
    write_outputs(b, a)
    png = os.path.join(a.out_dir, "outage_bench.png")
    err = write_plot(b, a, png)
    print(f"\nout: {a.out_dir} (results.csv, cuts.csv, memory.csv, raw.json); plot: "
          f"{png if err is None else 'not written: ' + err}; took {time.time() - started:.0f} s")
    status = 1 if b.failures else 0
    missed = [k for k, d in cut_stats(b).items() if not math.isnan(d["median"]) and d["median"] >= GOAL_S]
    if missed:
        print("recovery goal missed: " + ", ".join(f"{k} {s:g}s" for k, s in missed))
        if a.strict:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
