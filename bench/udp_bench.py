#!/usr/bin/python3
"""UDP throughput and loss through the overlay against kernel routing, in the same run (docs/protocol.md section 9).

Theory of operation: bench_env.TestbedEnv brings up two sites with kernel routes (tests/e2e/harness.Overlay), the
client on s1-n1 and the server on s2-n1. Two iperf3 servers run side by side on the server node, one plain
(kernel-routed, addressed by real IP) and one under `uvpn run` (addressed by virtual IP). For each datagram size
(-l) each mode runs `iperf3 -u -b RATE -t SECONDS -J`, alternating modes, REPEATS times; the report is one CSV row
per (size, mode) with the median received rate, loss and datagram count, then the overlay/kernel ratios.
Every run is bounded by a timeout; the Env ends everything it started.
Usage (root): /usr/bin/python3 bench/udp_bench.py [--build-dir build/release] [--sizes 64,512,1400,8000]
              [--rate 100M] [--seconds 3] [--repeats 1] [--csv FILE]
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench_env  # noqa: E402

PORTS = {"kernel": 5401, "overlay": 5402}
MODES = ("kernel", "overlay")
SKIP = 77


def log(msg):
    print(f"[udp-bench] {msg}", file=sys.stderr, flush=True)


def run_one(env, mode, size, a):
    ip = env.server_ip(mode == "overlay")
    argv = ["iperf3", "-c", ip, "-p", str(PORTS[mode]), "-u", "-b", a.rate, "-l", str(size), "-t",
            str(a.seconds), "-J", "--connect-timeout", "5000"]
    rc, out, err = env.run("client", argv, mode == "overlay", timeout=a.seconds + 25)
    try:
        j = json.loads(out)
        s = j["end"]["sum"]
        return {"mbps": s["bits_per_second"] / 1e6, "lost_percent": float(s["lost_percent"]),
                "packets": int(s["packets"])}
    except (ValueError, KeyError, TypeError):
        log(f"-l {size} [{mode}] failed (rc {rc}): {err.strip()[-300:]} {out.strip()[-300:]}")
        return None


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"))
    ap.add_argument("--sizes", default="64,512,1400,8000")
    ap.add_argument("--rate", default="100M", help="iperf3 -b target rate")
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--csv", help="also write the CSV here")
    ap.add_argument("--router-log-level", default="warn")
    a = ap.parse_args(argv)
    a.build_dir = os.path.abspath(a.build_dir)
    if os.geteuid() != 0:
        log("needs root (network namespaces)")
        return SKIP
    if not os.access(os.path.join(a.build_dir, "bin", "uvpn"), os.X_OK):
        log(f"missing {a.build_dir}/bin/uvpn")
        return 1
    sizes = [int(x) for x in a.sizes.split(",")]
    env = bench_env.TestbedEnv(REPO, a.build_dir, log_level=a.router_log_level)
    out_dir = os.path.join(a.build_dir, "udp-bench-out")
    os.makedirs(out_dir, exist_ok=True)
    results = {}
    try:
        log(f"setting up: {env.description}")
        env.setup()
        for mode in MODES:
            p = env.spawn("server", ["iperf3", "-s", "-p", str(PORTS[mode])], mode == "overlay",
                          os.path.join(out_dir, f"server-{mode}.log"))
            if not env.wait_listening(PORTS[mode], p, timeout=15):
                log(f"iperf3 server ({mode}) did not start")
                return 1
        for size in sizes:
            for _ in range(a.repeats):
                for mode in MODES:
                    time.sleep(0.3)
                    r = run_one(env, mode, size, a)
                    if r:
                        results.setdefault((size, mode), []).append(r)
                        log(f"-l {size} [{mode}]: {r['mbps']:.1f} Mbit/s, loss {r['lost_percent']:.2f}%")
        if env.ov is not None:
            for site in ("s1", "s2"):
                log(f"router {site} udp counters: {env.ov.status_json(site).get('udp')}")
    except bench_env.EnvError as e:
        log(f"error: {e}")
        return 1
    finally:
        env.cleanup()

    lines = ["size,mode,rate_target,mbps,lost_percent,packets"]
    for size in sizes:
        for mode in MODES:
            rs = results.get((size, mode))
            if not rs:
                lines.append(f"{size},{mode},{a.rate},,,")
                continue
            lines.append(f"{size},{mode},{a.rate},{statistics.median(r['mbps'] for r in rs):.2f},"
                         f"{statistics.median(r['lost_percent'] for r in rs):.3f},"
                         f"{int(statistics.median(r['packets'] for r in rs))}")
    lines.append("")
    lines.append("size,throughput_ratio_overlay_over_kernel,loss_overlay_minus_kernel_pct")
    for size in sizes:
        k, o = results.get((size, "kernel")), results.get((size, "overlay"))
        if not k or not o:
            lines.append(f"{size},,")
            continue
        km = statistics.median(r["mbps"] for r in k)
        om = statistics.median(r["mbps"] for r in o)
        kl = statistics.median(r["lost_percent"] for r in k)
        ol = statistics.median(r["lost_percent"] for r in o)
        lines.append(f"{size},{om / km if km else 0:.3f},{ol - kl:.3f}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if a.csv:
        with open(a.csv, "w") as f:
            f.write(text)
    return 0 if all(results.get((s, m)) for s in sizes for m in MODES) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
