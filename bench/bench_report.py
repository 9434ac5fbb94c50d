"""Report of the kernel-vs-overlay benchmark: rows, targets, table, CSV and PNG plot.

Theory of operation: the driver (overlay_bench.py) collects, for every measurement, the list of kernel samples and
the list of overlay samples (one per repeat). A Row keeps both lists and reports their medians and the ratio
overlay/kernel. For throughput and connection rate higher is better, so a target is a lower bound on the ratio;
for latency lower is better, so a target is an upper bound. Rows without a target are shown for context. Nothing
here runs a process; matplotlib is imported lazily (Agg backend), so the table and CSV work without it.
"""

import csv
import math
import statistics

# (kind, metric, size) -> (op, bound): op ">=" or "<=" applied to the ratio overlay/kernel.
TARGETS = {
    ("throughput", "bits_per_second", 100): (">=", 0.9),
    ("throughput", "bits_per_second", 1000): (">=", 1.0),
    ("throughput", "bits_per_second", 131072): (">=", 0.5),
    ("rtt", "mean_us", 1): ("<=", 2.5),
    ("connrate", "conns_per_s", 1): (">=", 0.3),
}

CSV_FIELDS = ["kind", "metric", "size", "kernel", "overlay", "ratio", "target", "meets",
              "kernel_samples", "overlay_samples"]


def median(values):
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(vals) if vals else float("nan")


class Row:
    def __init__(self, kind, metric, size, unit):
        self.kind, self.metric, self.size, self.unit = kind, metric, size, unit
        self.samples = {"kernel": [], "overlay": []}

    def add(self, mode, value):
        self.samples[mode].append(value)

    @property
    def kernel(self):
        return median(self.samples["kernel"])

    @property
    def overlay(self):
        return median(self.samples["overlay"])

    @property
    def ratio(self):
        k, o = self.kernel, self.overlay
        if math.isnan(k) or math.isnan(o) or k == 0:
            return float("nan")
        return o / k

    @property
    def target(self):
        return TARGETS.get((self.kind, self.metric, self.size))

    def target_text(self):
        t = self.target
        return f"{t[0]} {t[1]:g}" if t else ""

    def meets(self):
        """True/False against the target, None without a target or without data."""
        t, r = self.target, self.ratio
        if t is None or math.isnan(r):
            return None
        return r >= t[1] if t[0] == ">=" else r <= t[1]


def fmt_value(row, v):
    if math.isnan(v):
        return "n/a"
    if row.unit == "Mbit/s":
        return f"{v / 1e6:.1f}"
    if row.unit == "conn/s":
        return f"{v:.0f}"
    return f"{v:.1f}"


def print_table(rows, out, check=True):
    """check=False leaves the result column empty (quick runs judge nothing)."""
    header = f"{'kind':<11} {'metric':<16} {'size':>7} {'kernel':>10} {'overlay':>10} {'unit':<7} " \
             f"{'ratio':>6}  {'target':<7} result"
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in rows:
        m = r.meets() if check else None
        verdict = "" if m is None else ("ok" if m else "MISSED")
        ratio = "n/a" if math.isnan(r.ratio) else f"{r.ratio:.2f}"
        print(f"{r.kind:<11} {r.metric:<16} {r.size:>7} {fmt_value(r, r.kernel):>10} "
              f"{fmt_value(r, r.overlay):>10} {r.unit:<7} {ratio:>6}  {r.target_text():<7} {verdict}", file=out)


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in rows:
            m = r.meets()
            w.writerow({
                "kind": r.kind, "metric": r.metric, "size": r.size,
                "kernel": f"{r.kernel:.6g}", "overlay": f"{r.overlay:.6g}", "ratio": f"{r.ratio:.4f}",
                "target": r.target_text(), "meets": "" if m is None else ("yes" if m else "no"),
                "kernel_samples": " ".join(f"{v:.6g}" for v in r.samples["kernel"]),
                "overlay_samples": " ".join(f"{v:.6g}" for v in r.samples["overlay"]),
            })


def write_plot(rows, path, title):
    """PNG with three panels: throughput by send size, RTT (mean, p99), connection rate. Returns an error string
    or None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # the pyenv python3 has no matplotlib; /usr/bin/python3 does
        return f"matplotlib not available ({e}); run with /usr/bin/python3"
    colors = {"kernel": "#4c72b0", "overlay": "#dd8452"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [2.2, 1, 0.8]})

    tput = [r for r in rows if r.kind == "throughput"]
    ax = axes[0]
    if tput:
        xs = list(range(len(tput)))
        w = 0.38
        for off, mode in ((-w / 2, "kernel"), (w / 2, "overlay")):
            ys = [getattr(r, mode) / 1e6 for r in tput]
            ax.bar([x + off for x in xs], ys, w, label=mode, color=colors[mode])
        for x, r in zip(xs, tput):
            top = max(v for v in (r.kernel / 1e6, r.overlay / 1e6, 0) if not math.isnan(v))
            label = "n/a" if math.isnan(r.ratio) else f"{r.ratio:.2f}x"
            if r.target:
                label += f"\n({r.target_text()})"
            ax.annotate(label, (x, top), ha="center", va="bottom", fontsize=8,
                        color=("red" if r.meets() is False else "black"))
        ax.set_xticks(xs)
        ax.set_xticklabels([str(r.size) for r in tput])
        ax.set_xlabel("iperf3 -l (bytes per write)")
        ax.set_ylabel("Mbit/s (median, log scale)")
        ax.set_title("TCP throughput")
        vals = [v / 1e6 for r in tput for v in (r.kernel, r.overlay) if not math.isnan(v) and v > 0]
        if vals:
            ax.set_yscale("log")
            ax.set_ylim(min(vals) / 2, max(vals) * 6)
        ax.legend(loc="upper left")

    ax = axes[1]
    lat = [r for r in rows if r.kind == "rtt"]
    if lat:
        xs = list(range(len(lat)))
        w = 0.38
        for off, mode in ((-w / 2, "kernel"), (w / 2, "overlay")):
            ax.bar([x + off for x in xs], [getattr(r, mode) for r in lat], w, label=mode, color=colors[mode])
        for x, r in zip(xs, lat):
            top = max(v for v in (r.kernel, r.overlay, 0) if not math.isnan(v))
            label = "n/a" if math.isnan(r.ratio) else f"{r.ratio:.2f}x"
            if r.target:
                label += f"\n({r.target_text()})"
            ax.annotate(label, (x, top), ha="center", va="bottom", fontsize=8,
                        color=("red" if r.meets() is False else "black"))
        ax.set_xticks(xs)
        ax.set_xticklabels([r.metric.replace("_us", "") for r in lat])
        ax.set_ylabel("microseconds (median of runs)")
        ax.set_title("1-byte round trip")
        ax.margins(y=0.2)

    ax = axes[2]
    cr = [r for r in rows if r.kind == "connrate"]
    if cr:
        r = cr[0]
        ax.bar([0, 1], [r.kernel, r.overlay], 0.6, color=[colors["kernel"], colors["overlay"]])
        label = "n/a" if math.isnan(r.ratio) else f"{r.ratio:.2f}x"
        if r.target:
            label += f" ({r.target_text()})"
        ax.set_title(f"connect+echo+close\n{label}", color=("red" if r.meets() is False else "black"))
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["kernel", "overlay"])
        ax.set_ylabel("connections/s")

    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
