"""The plot of bench/compare: events/s, CPU-seconds and peak RSS of both sides per workload, from
its JSON. Run by bench/compare with the venv of bench/requirements-plot.txt:
    python bench/compare_plot.py bench/results/latest.json bench/results/latest.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(run, path):
    ws = [w for w in run["workloads"] if w.get("ratio")]
    if not ws:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    names = [w["workload"] for w in ws]
    xs = range(len(ws))
    for ax, key, title in zip(axes, ("events_per_s", "cpu_s", "peak_rss_mb"),
                              ("events/s (higher is better)", "CPU-seconds", "peak RSS MB")):
        ax.bar([x - 0.2 for x in xs], [w["shiftlog"][key] for w in ws], 0.4, label="shiftlog")
        ax.bar([x + 0.2 for x in xs], [w["debezium"][key] for w in ws], 0.4, label="Debezium")
        ax.set_xticks(list(xs), names, rotation=20, fontsize=8)
        ax.set_title(title)
        if key != "events_per_s":
            ax.set_yscale("log")     # shiftlog's bars would not show beside Debezium's
        for x, w in zip(xs, ws):
            a, b = w["shiftlog"][key], w["debezium"][key]
            label = ("n/a" if not b else "~0" if not a else f"{a / b:.1f}x" if a >= b
                     else f"1/{b / a:.0f}")
            ax.annotate(label, (x, max(a, b)), ha="center", va="bottom", fontsize=8)
    axes[0].legend()
    fig.suptitle(f"shiftlog vs Debezium {run['versions']['debezium']}, "
                 f"{ws[0]['events']} changes, {run['machine']['cores']} cores, load average "
                 f"{run['machine']['loadavg_start'][0]} at the start ({run['date']})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True

if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        made = plot(json.load(f), sys.argv[2])
    print(f"written: {sys.argv[2]}" if made else "no plot: no workload finished on both sides")
