#!/usr/bin/python3
"""Interposition overhead: native, preload, ptrace-all and ptrace with seccomp, in one run on the testbed.

    sudo /usr/bin/python3 bench/trace_bench.py --build-dir build/release [--out-dir DIR] [--quick]

Theory of operation: this redraws the paper's overhead figures (issue 6) on this machine.
  - Fig 8 / Tables 2-3, throughput: iperf3 -c -l SIZE from s1-n1 to an iperf3 -s on s2-n1, for SIZE 100, 200, ...,
    1000 and 131072, in four modes. "native" runs both ends plainly and kernel-routed (the testbed's
    --kernel-routes; the server by its real IP); the other three run both ends under `uvpn run --mode MODE`
    through the overlay (the server by its virtual IP): preload (the library), ptrace-all (every system call
    stops: the paper's unpatched case), ptrace (the seccomp filter stops only the socket calls of interest: the
    upstream form of the paper's PTRACE_SYSCALL_MASK). One server per mode stays up on its own port.
  - Fig 12, execution overhead: programs that make no network calls, run on s1-n1 natively and under each mode:
    a compute-bound loop and a syscall-heavy FASTA-like program (100-byte reads and writes with a little compute
    per chunk), both from uvpn-bench-tracework (trace_work.cc), which time their own work loop; and
    `dd if=/dev/zero of=/dev/null bs=100` (its own reported time), the workload behind the strace reference
    figures (34x without a filter, 1.08x with --seccomp-bpf).
Each repeat runs every measurement once per mode, back to back, rotating which mode goes first, so the drift of a
noisy shared machine hits every column alike; the report takes medians and ratios to native. Traced runs set
UVPN_TRACE_STATS=1 and the monitor's stop counts are kept beside the times (they explain the ratios). Output:
tables on stdout and in summary.txt, results.csv, raw.json, and fig8_throughput.png, fig12_exec.png in the output
directory (default build/bench-out/trace). Every run has a timeout and every loop a bound (--max-minutes stops
starting new repeats). Targets are printed beside the ratios (trace_report.py); missing one is reported, and is
an error only with --strict. --quick (ctest label bench-smoke) runs one short repeat of everything and checks
only that it all runs. Exit 77 (skip) in --quick mode when not root or not built.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree (bench/ and tests/e2e/)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_env  # noqa: E402
import trace_report  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = 77
MODES = trace_report.MODES  # ("native", "preload", "ptrace-all", "ptrace")
FULL_SIZES = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 131072]
QUICK_SIZES = [100, 131072]
PORTS = {"native": 5301, "preload": 5302, "ptrace-all": 5303, "ptrace": 5304}
STATS_RE = re.compile(r"uvpn-trace: stops=(\d+)")
DD_RE = re.compile(r"copied, ([0-9.eE+-]+) s")


def log(msg):
    print(f"[trace-bench] {msg}", file=sys.stderr, flush=True)


class TraceEnv(bench_env.TestbedEnv):
    """The kernel-vs-overlay testbed (bench_env.TestbedEnv), with programs started in one of four modes instead of
    two: native runs argv plainly in the node's namespace, the others under `uvpn run --mode MODE`."""

    def wrap_mode(self, role, argv, mode):
        host = self.HOSTS[role]
        if mode == "native":
            return list(argv)
        if mode == trace_report.FLOOR:  # a one-instruction allow-all seccomp filter, no tracer, no overlay
            return [os.path.join(os.environ["UVPN_BUILD_DIR"], "bin", "uvpn-bench-tracework"), "floor", "--"] + list(argv)
        h, ov = self.h, self.ov
        return [h.uvpn_bin(), "run", "--mode", mode, "--routes", ov.routes, "--site", ov.site_of(host),
                "--vip", ov.vip_of(host), "--shim", h.shim_lib(), "--quiet", "--"] + list(argv)

    def server_ip_mode(self, mode):
        return self.server_ip(mode != "native")

    def spawn_mode(self, role, argv, mode, label):
        p = self.ov.run(self.HOSTS[role], self.wrap_mode(role, argv, mode), overlay=False, label=label)
        self._procs.append(p)
        return p

    def run_mode(self, role, argv, mode, timeout):
        """Runs to completion; returns (rc, stdout, stderr, wall seconds); rc None on timeout."""
        env = {"UVPN_TRACE_STATS": "1"} if mode.startswith("ptrace") else None
        t0 = time.monotonic()
        p = self.ov.run(self.HOSTS[role], self.wrap_mode(role, argv, mode), overlay=False, env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            self.ov.stop(p, timeout=3)
            out, err = p.communicate()
            rc = None
        return rc, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - t0


class Bench:
    def __init__(self, env, args, tools):
        self.env, self.a, self.tools = env, args, tools
        self.servers = {}
        self.failures = []
        self.raw = []
        self.loadavg_start = os.getloadavg()
        self.loadavg_end = None
        self.input_path = os.path.join(args.out_dir, "fasta-input.dat")

    # --- servers ---------------------------------------------------------------------------------------------
    def start_server(self, mode):
        label = f"server-iperf-{mode}"
        p = self.env.spawn_mode("server", ["iperf3", "-s", "-p", str(PORTS[mode])], mode, label)
        if not self.env.wait_listening(PORTS[mode], p, timeout=20):
            raise bench_env.EnvError(f"iperf3 server ({mode}) did not start listening; see {label}.log in the "
                                     f"harness log dir")
        self.servers[mode] = p

    def restart_server(self, mode):
        p = self.servers.pop(mode, None)
        if p is not None:
            self.env.stop(p)
        try:
            self.start_server(mode)
        except bench_env.EnvError as e:
            log(f"restart failed: {e}")

    # --- one run ---------------------------------------------------------------------------------------------
    def record(self, what, mode, rc, out, err, wall, problem, value, stops):
        rec = {"what": what, "mode": mode, "rc": rc, "wall_s": round(wall, 3), "value": value, "stops": stops}
        if problem:
            msg = f"{what} [{mode}] failed: {problem}; stderr: {err.strip()[-400:]}"
            log(msg)
            self.failures.append(msg)
            rec["error"] = msg
        self.raw.append(rec)

    def throughput(self, mode, size):
        a = self.a
        argv = ["iperf3", "-c", self.env.server_ip_mode(mode), "-p", str(PORTS[mode]), "-l", str(size),
                "-t", str(a.seconds), "-O", str(a.omit), "-J", "--connect-timeout", "5000"]
        rc, out, err, wall = self.env.run_mode("client", argv, mode, timeout=a.seconds + a.omit + 30)
        value, problem = None, None
        try:
            j = json.loads(out) if out.strip() else None
        except json.JSONDecodeError:
            j = None
        if rc is None:
            problem = "timed out"
        elif j is None:
            problem = f"no JSON output (rc {rc})"
        elif j.get("error") or rc != 0:
            problem = f"rc {rc}: {j.get('error')}"
        else:
            try:
                value = float(j["end"]["sum_received"]["bits_per_second"])
            except (KeyError, TypeError, ValueError):
                problem = "no end.sum_received in iperf3 output"
        stops = parse_stops(err)
        self.record(f"throughput -l {size}", mode, rc, out, err, wall, problem, value, stops)
        if problem:
            self.restart_server(mode)  # a half-finished test can leave iperf3 -s busy
        return value, stops

    def workload_argv(self, work):
        a = self.a
        if work == "compute":
            return [self.tools["work"], "compute", "--iterations", str(a.compute_iters), "--max-seconds", "90"]
        if work == "fasta":
            return [self.tools["work"], "fasta", "--input", self.input_path, "--chunk", "100",
                    "--max-seconds", "90"]
        if work == "opens":
            return [self.tools["work"], "opens", "--input", self.input_path, "--count", str(a.open_count),
                    "--max-seconds", "90"]
        return ["dd", "if=/dev/zero", "of=/dev/null", "bs=100", f"count={a.dd_count}"]

    def execution(self, mode, work):
        rc, out, err, wall = self.env.run_mode("client", self.workload_argv(work), mode, timeout=120)
        value, problem = None, None
        if rc is None:
            problem = "timed out"
        elif rc != 0:
            problem = f"rc {rc}: {out.strip()[-200:]}"
        elif work == "dd":
            m = DD_RE.search(err)
            value = float(m.group(1)) if m else None
            problem = None if m else "no 'copied, N s' line from dd"
        else:
            try:
                j = json.loads(out.strip().splitlines()[-1])
                if not j.get("ok") or not j.get("complete"):
                    problem = f"incomplete or failed: {out.strip()[-200:]}"
                else:
                    value = float(j["seconds"])
            except (IndexError, json.JSONDecodeError, KeyError, TypeError, ValueError):
                problem = f"no JSON output: {out.strip()[-200:]}"
        stops = parse_stops(err)
        self.record(f"exec {work}", mode, rc, out, err, wall, problem, value, stops)
        return value, wall if rc == 0 else None, stops

    # --- the whole benchmark ---------------------------------------------------------------------------------
    def prepare(self):
        if "exec" in self.a.only:
            rc, out, err, _ = self.env.run_mode("client", [self.tools["work"], "gen", "--output", self.input_path,
                                                           "--bytes", str(self.a.fasta_bytes)], "native", 60)
            if rc != 0:
                raise bench_env.EnvError(f"cannot write the FASTA input: {out} {err}")
        if "throughput" in self.a.only:
            for mode in self.a.modes:
                self.start_server(mode)
            for mode in self.a.modes:  # one short run per mode first: a broken path fails fast and clearly
                argv = ["iperf3", "-c", self.env.server_ip_mode(mode), "-p", str(PORTS[mode]), "-t", "1", "-J",
                        "--connect-timeout", "5000"]
                rc, out, err, _ = self.env.run_mode("client", argv, mode, timeout=30)
                if rc != 0:
                    raise bench_env.EnvError(f"{mode} path does not work (rc {rc}): {out.strip()[-300:]} "
                                             f"{err.strip()[-400:]}")
                log(f"{mode} path ok")

    def run(self):
        a = self.a
        self.prepare()
        tput = {s: trace_report.Row("throughput", s, "Mbit/s") for s in a.sizes} if "throughput" in a.only else {}
        execs = {w: trace_report.Row("exec", w, "s") for w in a.works} if "exec" in a.only else {}
        deadline = time.monotonic() + a.max_minutes * 60
        reps = max(a.repeats if tput else 0, a.exec_repeats if execs else 0)
        for rep in range(reps):
            k = rep % len(a.modes)
            order = a.modes[k:] + a.modes[:k]
            log(f"repeat {rep + 1}/{reps} (order: {', '.join(order)}), load average {os.getloadavg()[0]:.2f}")
            # Execution first: the small-program timings suffer most right after a bulk transfer.
            if rep < a.exec_repeats:
                for work, row in execs.items():
                    for mode in order + [trace_report.FLOOR]:
                        v, wall, stops = self.execution(mode, work)
                        row.add(mode, v, stops, wall)
            if rep < a.repeats:
                for size, row in tput.items():
                    for mode in order:
                        time.sleep(a.settle)
                        v, stops = self.throughput(mode, size)
                        row.add(mode, v, stops)
            if time.monotonic() > deadline:
                log(f"--max-minutes {a.max_minutes} reached; stopping after {rep + 1} repeats")
                break
        self.loadavg_end = os.getloadavg()
        try:
            os.unlink(self.input_path)
        except OSError:
            pass
        return list(tput.values()), list(execs.values())


def parse_stops(err):
    m = STATS_RE.search(err)
    return int(m.group(1)) if m else None


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"))
    ap.add_argument("--out-dir", default=os.path.join(REPO, "build", "bench-out", "trace"))
    ap.add_argument("--quick", action="store_true", help="short smoke run, no thresholds (ctest bench-smoke)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--repeats", type=int, help="throughput runs per size and mode (default 3, quick 1)")
    ap.add_argument("--exec-repeats", type=int, help="runs per workload and mode (default 5, quick 1)")
    ap.add_argument("--seconds", type=int, help="iperf3 -t (default 2, quick 1)")
    ap.add_argument("--sizes", help="comma-separated iperf3 -l sizes (default 100..1000 step 100, 131072)")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ",".join(MODES))
    ap.add_argument("--only", default="throughput,exec", help="comma-separated subset of throughput,exec")
    ap.add_argument("--works", default="fasta,compute,dd,opens",
                    help="comma-separated subset of fasta,compute,dd,opens")
    ap.add_argument("--settle", type=float, default=0.2, help="pause in seconds before each iperf3 run")
    ap.add_argument("--max-minutes", type=float, default=30, help="stop starting new repeats after this")
    ap.add_argument("--router-log-level", default="warn", choices=["debug", "info", "warn", "error"])
    a = ap.parse_args(argv)
    a.repeats = max(1, min(a.repeats or (1 if a.quick else 3), 9))
    a.exec_repeats = max(1, min(a.exec_repeats or (1 if a.quick else 5), 9))
    a.seconds = max(1, min(a.seconds or (1 if a.quick else 2), 60))
    a.omit = 0 if a.quick else 1
    a.sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else (QUICK_SIZES if a.quick else FULL_SIZES)
    a.modes = [m for m in a.modes.split(",") if m]
    if "native" not in a.modes or not set(a.modes) <= set(MODES):
        ap.error("--modes: a subset of " + ",".join(MODES) + " that includes native")
    a.only = set(a.only.split(","))
    if not a.only or not a.only <= {"throughput", "exec"}:
        ap.error("--only takes a comma-separated subset of throughput,exec")
    a.works = [w for w in a.works.split(",") if w]
    if not a.works or not set(a.works) <= {"fasta", "compute", "dd", "opens"}:
        ap.error("--works takes a comma-separated subset of fasta,compute,dd,opens")
    # Sized so a native run takes a few tenths of a second and a ptrace-all run stays well under a minute.
    a.fasta_bytes = 1 << 20 if a.quick else 5 << 20
    a.compute_iters = 5_000_000 if a.quick else 80_000_000
    a.open_count = 2_000 if a.quick else 20_000
    a.dd_count = 10_000 if a.quick else 100_000
    a.build_dir = os.path.abspath(a.build_dir)
    a.out_dir = os.path.abspath(a.out_dir)
    return a


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt()


def main(argv):
    a = parse_args(argv)
    tools = {"work": os.path.join(a.build_dir, "bin", "uvpn-bench-tracework")}
    needed = [tools["work"], os.path.join(a.build_dir, "bin", "uvpn"),
              os.path.join(a.build_dir, "lib", "libuvpn_shim.so")]
    missing = [p for p in needed if not os.path.exists(p)]
    if missing:
        log(f"missing {', '.join(missing)}: build first (ninja -C {a.build_dir} uvpn uvpn_shim "
            f"uvpn-bench-tracework)")
        return SKIP if a.quick else 1
    if os.geteuid() != 0:
        log("needs root (network namespaces): sudo /usr/bin/python3 bench/trace_bench.py ...")
        return SKIP if a.quick else 1
    os.makedirs(a.out_dir, exist_ok=True)
    env = TraceEnv(REPO, a.build_dir, log_level=a.router_log_level)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # ctest timeout or kill: unwind so cleanup runs
    bench = Bench(env, a, tools)
    started = time.time()
    try:
        log(f"setting up: {env.description}")
        env.setup()
        tput, execs = bench.run()
    except bench_env.EnvError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        env.cleanup()
    return trace_report.report(a, env, bench, tput, execs, time.time() - started)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
