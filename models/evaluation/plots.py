"""PNG plots for reports: confusion matrices, training curves, benchmark bars."""

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: list[list[int]], labels: tuple[str, ...], title: str, path: Path) -> None:
    plt = _pyplot()
    m = np.array(confusion, dtype=float)
    rows = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * len(labels), 1 + 0.45 * len(labels)))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("spoken")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if rows[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training(histories: dict[str, list[dict]], metric: str, path: Path) -> None:
    """Loss and a held-out metric against training steps, one line per model."""
    plt = _pyplot()
    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, history in histories.items():
        steps = [h["step"] for h in history]
        losses = np.convolve([h["loss"] for h in history], np.ones(25) / 25, mode="valid")
        loss_ax.plot(steps[len(steps) - len(losses):], losses, label=name)
        points = [(h["step"], h[metric]) for h in history if metric in h]
        metric_ax.plot(*zip(*points), marker="o", label=name)
    loss_ax.set(xlabel="step", ylabel="training loss (moving average)")
    metric_ax.set(xlabel="step", ylabel=metric.replace("_", " "))
    for ax in (loss_ax, metric_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_bench(report: dict, path: Path) -> None:
    """`rnnvoice bench`'s report: latency quantiles seen by client and server, real-time factor, state, per cell."""
    plt = _pyplot()
    cells = list(report["cells"])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), gridspec_kw={"width_ratios": [3, 1, 1]})
    quantiles = ("p50", "p90", "p99")
    series = [(cell, side) for cell in cells for side in ("client", "server")
              if f"{side}_latency_p50_ms" in report["cells"][cell]]
    width = 0.8 / len(series)
    for i, (cell, side) in enumerate(series):
        values = [report["cells"][cell][f"{side}_latency_{q}_ms"] for q in quantiles]
        axes[0].bar(np.arange(len(quantiles)) + i * width, values, width, label=f"{cell.upper()} {side}",
                    alpha=1.0 if side == "client" else 0.55, color=f"C{cells.index(cell)}")
    axes[0].set_xticks(np.arange(len(quantiles)) + width * (len(series) - 1) / 2, quantiles)
    axes[0].set_ylabel("ms from chunk to result")
    axes[0].set_title(f"latency, {report['streams']} streams per cell")
    axes[0].legend(fontsize=8)
    for ax, key, title in ((axes[1], "real_time_factor", "real-time factor"),
                           (axes[2], "state_bytes", "state per stream (bytes)")):
        values = [report["cells"][c].get(key, 0) for c in cells]
        ax.bar([c.upper() for c in cells], values, color=[f"C{i}" for i in range(len(cells))])
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_dashboard(panels: list, title: str, path: Path) -> None:
    """The Grafana dashboard's panels (clients.dashboard.Panel, with their series) on its two-column grid."""
    import datetime

    import matplotlib.dates as mdates

    plt = _pyplot()
    rows = sorted({p.row for p in panels})
    fig, axes = plt.subplots(len(rows), 2, figsize=(13, 2.9 * len(rows)), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for panel in panels:
        ax = axes[rows.index(panel.row), panel.column]
        ax.set_visible(True)
        values = [v for series in panel.series for v in series.values if v > 0]
        factor, unit = {"s": (1000, "ms"), "percentunit": (100, "%")}.get(panel.unit, (1, ""))
        if panel.unit == "bytes":  # process memory in MiB; parameters beside per-stream state on a log scale
            factor, unit = (2**-20, "MiB") if values and min(values) > 2**20 else (1, "bytes")
            if values and max(values) > 100 * min(values):
                ax.set_yscale("log")
        for series in panel.series:
            times = [datetime.datetime.fromtimestamp(t) for t in series.times]
            ax.plot(times, [v * factor for v in series.values], label=series.label, linewidth=1.2)
        ax.set_title(panel.title, fontsize=10)
        ax.set_ylabel(unit)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.tick_params(labelsize=7)
        if panel.series:
            ax.legend(fontsize=6, ncol=3 if len(panel.series) > 6 else 1, loc="upper left")
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="gray")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(path, dpi=90)
    plt.close(fig)
