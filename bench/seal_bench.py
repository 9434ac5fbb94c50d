#!/usr/bin/python3
"""Cost of sealing (issue 5, docs/security.md): a sealed overlay against a plaintext one, in one run.

    sudo /usr/bin/python3 bench/seal_bench.py --build-dir build/release [--out-dir DIR] [--repeats N] [--smoke]

Theory of operation: two overlays of two sites (one node each) run side by side on the namespace testbed
(tests/e2e/harness.Overlay): "sealed" with the routers' defaults (Noise link handshake, AEAD records on every leg
1, docs/protocol.md section 11) and "plain" with `uvpn router --insecure-plaintext`. Both keep the routers'
other defaults (resumable relays), so the ratio isolates the cryptography. For each repeat, each measurement runs
on both overlays back to back, the order alternating, so drift of a noisy machine hits both columns alike; the
report takes the median of the repeats:
  - throughput: iperf3 -c -l SIZE on s1-n1 to iperf3 -s on s2-n1 by virtual IP (sizes 1000, 8192, 131072);
  - connection set-up: uvpn-bench-connrate (connect, 1-byte echo, close, back to back), connections/s, and
    the added set-up time per connection, 1/rate(sealed) - 1/rate(plain);
  - round trip: uvpn-bench-rtt (1-byte echo over one connection), mean.
Goal (issue 5): sealed/plain throughput >= 0.8 at 128 KiB. Output: the table on stdout and in summary.txt,
results.csv (one row per figure with its samples) and raw.json in --out-dir (default build/bench-out/seal). Exit 1
on a failed run; a missed goal is an error only with --strict. --smoke (ctest) runs everything once, briefly, and
exits 77 when not root or when uvpn is not built. Every wait is bounded.
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import harness as h  # noqa: E402

SKIP = 77
MODES = ("sealed", "plain")
PORTS = {"iperf": 5301, "connrate": 19101, "rtt": 19102}


def log(msg):
    print(f"[seal-bench] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, a):
        self.a = a
        self.ovs = {}
        self.servers = {}
        self.samples = {}  # figure -> mode -> [values]
        self.failures = []
        self.raw = []

    def up(self, mode):
        router_args = ["--insecure-plaintext"] if mode == "plain" else []
        ov = h.Overlay(sites=2, nodes=1, tag=f"seal{mode[0]}", router_args=router_args)
        self.ovs[mode] = ov.__enter__()
        log(f"overlay '{mode}' up (router args {router_args or 'default'}); logs in {ov.dir}")

    def close(self):
        for ov in self.ovs.values():
            ov.close()

    def start_servers(self, mode):
        ov, b = self.ovs[mode], self.a.build_dir
        specs = {"iperf": ["iperf3", "-s", "-p", str(PORTS["iperf"])],
                 "connrate": [os.path.join(b, "bin", "uvpn-bench-connrate"), "server", "--listen",
                              f"0.0.0.0:{PORTS['connrate']}"],
                 "rtt": [os.path.join(b, "bin", "uvpn-bench-rtt"), "server", "--listen", f"0.0.0.0:{PORTS['rtt']}"]}
        for tool, argv in specs.items():
            p = ov.run("s2-n1", argv, overlay=True, label=f"{tool}-server-{mode}")
            ov.wait_listening("s2-n1", PORTS[tool], timeout=15, proc=p)
            self.servers[(tool, mode)] = p

    def client(self, mode, figure, argv, timeout):
        ov = self.ovs[mode]
        try:
            r = ov.call("s1-n1", argv, timeout=timeout)
            out = json.loads(r.stdout)
            if r.returncode != 0:
                raise ValueError(f"rc {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}")
            return out
        except (AssertionError, ValueError, KeyError, TypeError, subprocess.SubprocessError) as e:
            msg = f"{figure} [{mode}]: {str(e)[-300:]}"
            log(f"FAILED: {msg}")
            self.failures.append(msg)
            return None

    def add(self, figure, mode, v):
        self.samples.setdefault(figure, {m: [] for m in MODES})[mode].append(v)
        self.raw.append({"figure": figure, "mode": mode, "value": v})

    def measure(self, mode):
        a, ov, b = self.a, self.ovs[mode], self.a.build_dir
        vip = ov.vip_of("s2-n1")
        for size in a.sizes:
            time.sleep(0.2)
            j = self.client(mode, f"throughput-{size}", [
                "iperf3", "-c", vip, "-p", str(PORTS["iperf"]), "-l", str(size), "-t", str(a.seconds), "-O", "1",
                "-J", "--connect-timeout", "5000"], a.seconds + 30)
            if j:
                self.add(f"throughput_{size}_mbps", mode, j["end"]["sum_received"]["bits_per_second"] / 1e6)
        j = self.client(mode, "connrate", [os.path.join(b, "bin", "uvpn-bench-connrate"), "client", "--connect",
                                           f"{vip}:{PORTS['connrate']}", "--count", str(a.conn_count),
                                           "--max-seconds", str(a.conn_seconds), "--max-errors", "10"],
                        a.conn_seconds + 40)
        if j:
            self.add("connrate_per_s", mode, float(j["conns_per_s"]))
        j = self.client(mode, "rtt", [os.path.join(b, "bin", "uvpn-bench-rtt"), "client", "--connect",
                                      f"{vip}:{PORTS['rtt']}", "--count", str(a.rtt_count), "--warmup", "50",
                                      "--max-seconds", "20"], 40)
        if j:
            self.add("rtt_mean_us", mode, float(j["mean_us"]))

    def report(self):
        rows = []
        lines = [f"{'figure':<26} {'sealed':>12} {'plain':>12} {'ratio':>8}  goal"]
        med = {}
        for fig, by in self.samples.items():
            s = statistics.median(by["sealed"]) if by["sealed"] else float("nan")
            p = statistics.median(by["plain"]) if by["plain"] else float("nan")
            med[fig] = (s, p)
            ratio = s / p if p else float("nan")
            goal = ""
            if fig == "throughput_131072_mbps":
                goal = ">= 0.8 " + ("met" if ratio >= 0.8 else "MISSED")
            lines.append(f"{fig:<26} {s:>12.1f} {p:>12.1f} {ratio:>8.3f}  {goal}")
            rows.append([fig, s, p, ratio, " ".join(f"{v:.1f}" for v in by["sealed"]),
                         " ".join(f"{v:.1f}" for v in by["plain"])])
        if "connrate_per_s" in med:
            s, p = med["connrate_per_s"]
            if s > 0 and p > 0:
                added = (1 / s - 1 / p) * 1e6
                lines.append(f"{'added set-up per conn':<26} {added:>12.1f} us (1/rate sealed - 1/rate plain)")
        text = "\n".join(lines)
        print(text)
        os.makedirs(self.a.out_dir, exist_ok=True)
        with open(os.path.join(self.a.out_dir, "summary.txt"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(self.a.out_dir, "results.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["figure", "sealed_median", "plain_median", "ratio", "sealed_samples", "plain_samples"])
            w.writerows(rows)
        with open(os.path.join(self.a.out_dir, "raw.json"), "w") as f:
            json.dump({"samples": self.raw, "failures": self.failures}, f, indent=1)
        t = med.get("throughput_131072_mbps")
        return t is not None and t[1] > 0 and t[0] / t[1] >= 0.8

    def run(self):
        for m in MODES:
            self.up(m)
            self.start_servers(m)
        for rep in range(self.a.repeats):
            order = MODES if rep % 2 == 0 else tuple(reversed(MODES))
            log(f"repeat {rep + 1}/{self.a.repeats} ({' then '.join(order)}), load {os.getloadavg()[0]:.2f}")
            for m in order:
                self.measure(m)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"))
    ap.add_argument("--out-dir", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conn-count", type=int, default=3000)
    ap.add_argument("--conn-seconds", type=int, default=5)
    ap.add_argument("--rtt-count", type=int, default=5000)
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    a.build_dir = os.path.abspath(a.build_dir)
    a.out_dir = a.out_dir or os.path.join(REPO, "build", "bench-out", "seal")
    a.sizes = [1000, 8192, 131072]
    if a.smoke:
        a.repeats, a.seconds, a.conn_count, a.conn_seconds, a.rtt_count = 1, 1, 300, 2, 300
        a.sizes = [131072]
        a.out_dir = os.path.join(a.out_dir, "smoke")
    if os.geteuid() != 0 or not os.path.exists(os.path.join(a.build_dir, "bin", "uvpn")):
        log("needs root and a built uvpn")
        return SKIP if a.smoke else 2
    os.environ.setdefault("UVPN_BUILD_DIR", a.build_dir)
    b = Bench(a)
    try:
        b.run()
    finally:
        b.close()
    met = b.report()
    if b.failures:
        return 1
    return 0 if met or not a.strict else 1


if __name__ == "__main__":
    sys.exit(main())
