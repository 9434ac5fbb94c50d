#!/usr/bin/python3
"""Kernel-routed baseline against the uvpn overlay, in one run on the namespace testbed.

    sudo /usr/bin/python3 bench/overlay_bench.py --build-dir build/release [--out-dir DIR] [--quick]
    /usr/bin/python3 bench/overlay_bench.py --loopback-selftest --build-dir build/release   # no root

Theory of operation: bench_env.TestbedEnv brings up two sites with kernel routes, so one client node (s1-n1) can
reach one server node (s2-n1) both ways: kernel-routed through the forwarding heads (real IPs, plain programs),
and through the overlay (the same programs under `uvpn run`, the server addressed by its virtual IP). The server
side of every measurement is started once per mode and stays up (iperf3 -s, uvpn-bench-rtt server,
uvpn-bench-connrate server). Then, for each repeat, each measurement runs once kernel-routed and once through the
overlay, back to back, alternating which goes first, so slow drift of a noisy machine hits both columns alike; the
report takes the median of the repeats. Measurements:
  - throughput: iperf3 -c -l SIZE -t T -O 1 -J, end.sum_received.bits_per_second, for each send size;
  - rtt: uvpn-bench-rtt client (1-byte echo over one TCP_NODELAY connection), mean and p99;
  - connrate: uvpn-bench-connrate client (connect, 1-byte echo, close, back to back), connections/s.
Output: a table on stdout, and in the output directory results.csv, summary.txt, raw.json (every sample) and
overlay_bench.png. Every run has a timeout; a failed run is recorded as missing, logged with its stderr, and makes
the exit status 1. Targets (ratios) are printed beside each row; missing one is reported, not an error, unless
--strict. --quick (ctest label bench-smoke) runs short and few sizes and checks only that everything runs. Exit 77
(skip) in --quick mode when not root or when the uvpn binary is not built.
"""

import argparse
import json
import math
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree (bench/ and tests/e2e/)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_env  # noqa: E402
import bench_report  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = 77
FULL_SIZES = [100, 200, 500, 1000, 8192, 131072]
QUICK_SIZES = [1000, 131072]
# Server ports per mode; kernel and overlay servers run side by side on the server node.
PORTS = {"iperf": {"kernel": 5201, "overlay": 5202},
         "rtt": {"kernel": 19001, "overlay": 19002},
         "connrate": {"kernel": 19003, "overlay": 19004}}
MODES = ("kernel", "overlay")


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, env, args, tools):
        self.env, self.args, self.tools = env, args, tools
        self.servers = {}  # (tool, mode) -> Popen
        self.failures = []
        self.raw = []
        self.logdir = args.out_dir
        self.loadavg_start = os.getloadavg()
        self.loadavg_end = None

    # --- servers -------------------------------------------------------------------------------------------
    def server_argv(self, tool, mode):
        port = PORTS[tool][mode]
        if tool == "iperf":
            return ["iperf3", "-s", "-p", str(port)]
        return [self.tools[tool], "server", "--listen", f"0.0.0.0:{port}", "--max-seconds", "3600"]

    def start_server(self, tool, mode):
        overlay = mode == "overlay"
        logf = os.path.join(self.logdir, f"server-{tool}-{mode}.log")
        p = self.env.spawn("server", self.server_argv(tool, mode), overlay, logf)
        if not self.env.wait_listening(PORTS[tool][mode], p, timeout=15):
            raise bench_env.EnvError(f"{tool} server ({mode}) did not start listening; see {logf}")
        self.servers[(tool, mode)] = p

    def restart_server(self, tool, mode):
        p = self.servers.pop((tool, mode), None)
        if p is not None:
            self.env.stop(p)
        try:
            self.start_server(tool, mode)
        except bench_env.EnvError as e:
            log(f"restart failed: {e}")

    # --- one run of one measurement ------------------------------------------------------------------------
    def client(self, what, mode, argv, timeout):
        overlay = mode == "overlay"
        t0 = time.monotonic()
        rc, out, err = self.env.run("client", argv, overlay, timeout)
        rec = {"what": what, "mode": mode, "rc": rc, "seconds": round(time.monotonic() - t0, 3)}
        parsed = None
        try:
            parsed = json.loads(out) if out.strip() else None
        except json.JSONDecodeError:
            pass
        problem = None
        if rc is None:
            problem = f"timed out after {timeout}s"
        elif parsed is None:
            problem = f"no JSON output (rc {rc})"
        elif parsed.get("error") or parsed.get("ok") is False or rc != 0:
            problem = f"rc {rc}: {parsed.get('error')}"
        if problem:
            msg = f"{what} [{mode}] failed: {problem}; stderr: {err.strip()[-400:]}"
            log(msg)
            self.failures.append(msg)
            rec["error"] = msg
            parsed = None
        self.raw.append((rec, parsed))
        return parsed

    def throughput(self, mode, size):
        ip, port = self.env.server_ip(mode == "overlay"), PORTS["iperf"][mode]
        a = self.args
        argv = ["iperf3", "-c", ip, "-p", str(port), "-l", str(size), "-t", str(a.seconds), "-O", str(a.omit),
                "-J", "--connect-timeout", "5000"]
        j = self.client(f"throughput -l {size}", mode, argv, timeout=a.seconds + a.omit + 25)
        if j is None:
            self.restart_server("iperf", mode)  # a half-finished test can leave iperf3 -s busy
            return None
        try:
            bps = float(j["end"]["sum_received"]["bits_per_second"])
        except (KeyError, TypeError, ValueError):
            self.failures.append(f"throughput -l {size} [{mode}]: no end.sum_received in iperf3 output")
            return None
        self.raw[-1] = (self.raw[-1][0], {"bits_per_second": bps})  # keep raw.json small
        return bps

    def rtt(self, mode):
        ip, port = self.env.server_ip(mode == "overlay"), PORTS["rtt"][mode]
        a = self.args
        argv = [self.tools["rtt"], "client", "--connect", f"{ip}:{port}", "--count", str(a.rtt_count),
                "--warmup", str(max(10, a.rtt_count // 20)), "--max-seconds", "20"]
        return self.client("rtt", mode, argv, timeout=40)

    def connrate(self, mode):
        ip, port = self.env.server_ip(mode == "overlay"), PORTS["connrate"][mode]
        a = self.args
        argv = [self.tools["connrate"], "client", "--connect", f"{ip}:{port}", "--count", str(a.conn_count),
                "--max-seconds", str(a.conn_seconds), "--max-errors", "10"]
        return self.client("connrate", mode, argv, timeout=a.conn_seconds + 40)

    # --- the whole benchmark -------------------------------------------------------------------------------
    def check_paths(self):
        """One short round trip per mode first, so a broken path fails fast with one clear message."""
        for mode in MODES:
            ip, port = self.env.server_ip(mode == "overlay"), PORTS["rtt"][mode]
            rc, out, err = self.env.run("client", [self.tools["rtt"], "client", "--connect", f"{ip}:{port}",
                                                   "--count", "20", "--warmup", "5", "--max-seconds", "10"],
                                        mode == "overlay", timeout=30)
            if rc != 0:
                raise bench_env.EnvError(f"{mode} path to {ip}:{port} does not work: {out.strip()} "
                                         f"{err.strip()[-400:]}")
            log(f"{mode} path ok: {out.strip()}")

    def run(self):
        for tool in PORTS:
            for mode in MODES:
                self.start_server(tool, mode)
        self.check_paths()
        only = self.args.only
        rtt_rows = [bench_report.Row("rtt", m, 1, "us") for m in ("mean_us", "p50_us", "p99_us")]
        conn = bench_report.Row("connrate", "conns_per_s", 1, "conn/s")
        tput = [bench_report.Row("throughput", "bits_per_second", s, "Mbit/s") for s in self.args.sizes]
        # Latency and connection rate first in each repeat: right after a bulk transfer the machine is still
        # settling (softirqs, page cache), and small-message numbers suffer from that more than bulk ones.
        plan = []
        if "rtt" in only:
            plan.append(("rtt", rtt_rows))
        if "connrate" in only:
            plan.append(("connrate", [conn]))
        if "throughput" in only:
            plan += [("throughput", [row]) for row in tput]
        deadline = time.monotonic() + self.args.max_minutes * 60
        for rep in range(self.args.repeats):
            order = MODES if rep % 2 == 0 else tuple(reversed(MODES))
            log(f"repeat {rep + 1}/{self.args.repeats} (order: {' then '.join(order)}), "
                f"load average {os.getloadavg()[0]:.2f}")
            for kind, rows in plan:
                for mode in order:
                    time.sleep(self.args.settle)
                    if kind == "throughput":
                        v = self.throughput(mode, rows[0].size)
                        rows[0].add(mode, float("nan") if v is None else v)
                    elif kind == "rtt":
                        j = self.rtt(mode)
                        for row in rows:
                            row.add(mode, j[row.metric] if j else float("nan"))
                    else:
                        j = self.connrate(mode)
                        rows[0].add(mode, j["conns_per_s"] if j else float("nan"))
            if time.monotonic() > deadline:
                log(f"--max-minutes {self.args.max_minutes} reached; stopping after {rep + 1} repeats")
                break
        self.loadavg_end = os.getloadavg()
        return [row for kind, rows in sorted(plan, key=lambda p: p[0] != "throughput") for row in rows]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"))
    ap.add_argument("--out-dir", default=os.path.join(REPO, "build", "bench-out"))
    ap.add_argument("--quick", action="store_true", help="short smoke run, no thresholds (ctest bench-smoke)")
    ap.add_argument("--router-args", default="",
                    help="extra `uvpn router` flags, e.g. '--insecure-plaintext' for the unsealed data path")
    ap.add_argument("--loopback-selftest", action="store_true",
                    help="run both columns on loopback without root (checks tools and report only)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--repeats", type=int, help="runs of each measurement per mode (default 3, quick 1)")
    ap.add_argument("--seconds", type=int, help="iperf3 -t (default 3, quick 1)")
    ap.add_argument("--sizes", help="comma-separated iperf3 -l sizes")
    ap.add_argument("--only", default="throughput,rtt,connrate",
                    help="comma-separated subset of throughput,rtt,connrate")
    ap.add_argument("--settle", type=float, default=0.3, help="pause in seconds before each run")
    ap.add_argument("--max-minutes", type=float, default=20, help="stop starting new repeats after this")
    ap.add_argument("--router-log-level", default="warn", choices=["debug", "info", "warn", "error"])
    a = ap.parse_args(argv)
    quick = a.quick or a.loopback_selftest
    a.repeats = max(1, min(a.repeats or (1 if quick else 3), 9))
    a.seconds = max(1, min(a.seconds or (1 if quick else 3), 60))
    a.omit = 0 if quick else 1
    a.sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else (QUICK_SIZES if quick else FULL_SIZES)
    a.rtt_count = 300 if quick else 5000
    a.conn_count = 300 if quick else 20000
    a.conn_seconds = 1 if quick else 2
    a.only = set(a.only.split(","))
    if not a.only or not a.only <= {"throughput", "rtt", "connrate"}:
        ap.error("--only takes a comma-separated subset of throughput,rtt,connrate")
    a.build_dir = os.path.abspath(a.build_dir)
    a.out_dir = os.path.abspath(a.out_dir)
    return a


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt()


def main(argv):
    a = parse_args(argv)
    tools = {"rtt": os.path.join(a.build_dir, "bin", "uvpn-bench-rtt"),
             "connrate": os.path.join(a.build_dir, "bin", "uvpn-bench-connrate")}
    for path in tools.values():
        if not os.access(path, os.X_OK):
            log(f"missing {path}: build it first (ninja -C {a.build_dir} uvpn-bench-rtt uvpn-bench-connrate)")
            return 1
    if a.loopback_selftest:
        env = bench_env.LoopbackEnv()
    else:
        if os.geteuid() != 0:
            log("needs root (network namespaces): sudo /usr/bin/python3 bench/overlay_bench.py ...")
            return SKIP if a.quick else 1
        if not os.access(os.path.join(a.build_dir, "bin", "uvpn"), os.X_OK):
            log(f"missing {a.build_dir}/bin/uvpn")
            return SKIP if a.quick else 1
        env = bench_env.TestbedEnv(REPO, a.build_dir, log_level=a.router_log_level,
                                   router_args=a.router_args.split() if a.router_args else None)
    os.makedirs(a.out_dir, exist_ok=True)
    # SIGTERM (ctest timeout, kill) unwinds like Ctrl-C so cleanup runs.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    bench = Bench(env, a, tools)
    started = time.time()
    try:
        log(f"setting up: {env.description}")
        env.setup()
        rows = bench.run()
    except bench_env.EnvError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        env.cleanup()
    return report(a, env, bench, rows, time.time() - started)


def report(a, env, bench, rows, elapsed):
    title = (f"uvpn overlay vs kernel routing ({'quick, ' if a.quick else ''}median of {a.repeats}, "
             f"iperf3 -t {a.seconds})")
    judged = not a.quick and not a.loopback_selftest
    load = (f"load average (1 min) {bench.loadavg_start[0]:.2f} at start, "
            f"{(bench.loadavg_end or os.getloadavg())[0]:.2f} at end, {os.cpu_count()} CPUs")
    print(f"\n{title}\n{env.description}\n{load}\n")
    bench_report.print_table(rows, sys.stdout, check=judged)
    csv_path = os.path.join(a.out_dir, "results.csv")
    bench_report.write_csv(rows, csv_path)
    with open(os.path.join(a.out_dir, "summary.txt"), "w") as f:
        print(f"{title}\n{env.description}\n{load}\n", file=f)
        bench_report.print_table(rows, f, check=judged)
        for msg in bench.failures:
            print(f"FAILED: {msg}", file=f)
    with open(os.path.join(a.out_dir, "raw.json"), "w") as f:
        args = {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(a).items()}
        json.dump({"args": args, "loadavg_start": bench.loadavg_start, "loadavg_end": bench.loadavg_end,
                   "runs": bench.raw}, f, indent=1)
    png = os.path.join(a.out_dir, "overlay_bench.png")
    err = bench_report.write_plot(rows, png, title)
    print(f"\nCSV: {csv_path}\nplot: {png if err is None else 'not written: ' + err}\n"
          f"took {elapsed:.0f} s")
    status = 0
    if bench.failures:
        print(f"{len(bench.failures)} run(s) failed (see above / summary.txt)")
        status = 1
    if any(math.isnan(r.kernel) or math.isnan(r.overlay) for r in rows):
        status = 1
    missed = [r for r in rows if r.meets() is False]
    if missed and judged:
        print("targets missed: " + ", ".join(f"{r.kind} {r.size}" for r in missed))
        if a.strict:
            status = 1
    if err is not None and not a.quick:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
