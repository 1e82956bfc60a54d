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
    """`rnnvoice bench`'s ramps: chunk latency (p50, p99) and server memory against concurrent streams, per task,
    one colour per cell; dashed: the per-stream path (--no-batching)."""
    plt = _pyplot()
    tasks = list(report)
    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 3.6 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        for i, (cell, entry) in enumerate(report[task].items()):
            for levels, style, mode in ((entry["levels"], "-", "batched"),
                                        (entry.get("per_stream_levels", []), "--", "per stream")):
                if not levels:
                    continue
                streams = [lv["streams"] for lv in levels]
                row[0].plot(streams, [lv["p99_chunk_latency_ms"] for lv in levels], style, color=f"C{i}", marker="o",
                            label=f"{cell.upper()} {mode} p99")
                row[0].plot(streams, [lv["p50_chunk_latency_ms"] for lv in levels], style, color=f"C{i}", alpha=0.4,
                            label=f"{cell.upper()} {mode} p50")
                row[1].plot(streams, [lv["rss_bytes"] / 2**20 for lv in levels], style, color=f"C{i}", marker="o",
                            label=f"{cell.upper()} {mode}")
        row[0].set(xlabel="concurrent real-time streams", ylabel="ms from chunk to result", yscale="log",
                   title=f"{task}: chunk latency")
        row[1].set(xlabel="concurrent real-time streams", ylabel="server RSS (MiB)", title=f"{task}: server memory")
        for ax in row:
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
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
