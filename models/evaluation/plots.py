"""PNG plots for reports: confusion matrices, training curves, benchmark bars, the GRU-against-LSTM study.

matplotlib comes with the `plots` extra, not the base install: commands ask `plots_missing()` before drawing, and
without it write their numbers alone and say how to get the plots."""

import importlib.util
from pathlib import Path

import numpy as np


def plots_missing() -> str | None:
    """Why no plot can be drawn here, as a line for the person at the command line; None when one can."""
    if importlib.util.find_spec("matplotlib") is None:
        return "no plots: matplotlib is not installed (pip install 'rnnvoice[plots]' for them)"
    return None


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
                ax.text(
                    j,
                    i,
                    int(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if rows[i, j] > 0.5 else "black",
                )
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
        loss_ax.plot(steps[len(steps) - len(losses) :], losses, label=name)
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
            for levels, style, mode in (
                (entry["levels"], "-", "batched"),
                (entry.get("per_stream_levels", []), "--", "per stream"),
            ):
                if not levels:
                    continue
                streams = [lv["streams"] for lv in levels]
                row[0].plot(
                    streams,
                    [lv["p99_chunk_latency_ms"] for lv in levels],
                    style,
                    color=f"C{i}",
                    marker="o",
                    label=f"{cell.upper()} {mode} p99",
                )
                row[0].plot(
                    streams,
                    [lv["p50_chunk_latency_ms"] for lv in levels],
                    style,
                    color=f"C{i}",
                    alpha=0.4,
                    label=f"{cell.upper()} {mode} p50",
                )
                row[1].plot(
                    streams,
                    [lv["rss_bytes"] / 2**20 for lv in levels],
                    style,
                    color=f"C{i}",
                    marker="o",
                    label=f"{cell.upper()} {mode}",
                )
        row[0].set(
            xlabel="concurrent real-time streams",
            ylabel="ms from chunk to result",
            yscale="log",
            title=f"{task}: chunk latency",
        )
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


# The study's figures: one colour per cell, int8 dashed with open markers.
ACCURACIES = (("sc_accuracy", "Speech Commands 12-class"), ("fsdd_accuracy", "FSDD digits"))


def _cell_style(cell: str, int8: bool) -> dict:
    colour = f"C{['gru', 'lstm'].index(cell)}"
    # int8's open markers larger, so that they ring a float point they would hide.
    return {
        "color": colour,
        "marker": "o",
        "capsize": 3,
        "linestyle": "--" if int8 else "-",
        "markersize": 9 if int8 else 6,
        "markerfacecolor": "none" if int8 else colour,
        "label": cell.upper() + (" int8" if int8 else ""),
    }


def _series(rows: list[dict], x: str, y: str, **match) -> dict:
    """Per (cell, int8): the rows that match, by x, as x, y and y's spread (the rows' `{y}_std`, or y_std)."""
    series = {}
    for cell in ("gru", "lstm"):
        for int8 in (False, True):
            chosen = sorted(
                (
                    r
                    for r in rows
                    if r["cell"] == cell
                    and r["int8"] == int8
                    and all(r[k] == v for k, v in match.items())
                    and r[y] is not None
                ),
                key=lambda r: r[x],
            )
            if chosen:
                spread = y.removesuffix("_mean") + "_std"
                series[cell, int8] = ([r[x] for r in chosen], [r[y] for r in chosen], [r[spread] for r in chosen])
    return series


def _accuracy_vs_params(plt, document: dict):
    from matplotlib import ticker

    rows = [r for r in document["rows"] if r["data_fraction"] == 1.0 and r["params"] is not None]
    if not rows:  # no checkpoints to count parameters of
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (name, title) in zip(axes, ACCURACIES):
        for (cell, int8), (x, y, err) in _series(rows, "params", f"{name}_mean").items():
            ax.errorbar(x, [100 * v for v in y], [100 * e for e in err], **_cell_style(cell, int8))
        for row in rows:  # each point's width
            if not row["int8"] and row[f"{name}_mean"] is not None:
                ax.annotate(
                    str(row["width"]),
                    (row["params"], 100 * row[f"{name}_mean"]),
                    fontsize=7,
                    xytext=(4, 4),
                    textcoords="offset points",
                )
        ax.set(xscale="log", xlabel="parameters", ylabel="accuracy on held-out speakers (%)", title=title)
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    return fig


def _cpu_vs_width(plt, document: dict):
    settings = document["settings"]
    panels = [
        ("cpu_ms_per_audio_s", "engine", "streams stepped one at a time"),
        ("batched_cpu_ms_per_audio_s", "engine", f"{settings['streams']} streams stepped together"),
    ]
    if "server_streams" in settings:  # a server of each model's own, gRPC included
        panels += [
            (
                "server_cpu_ms_per_audio_s",
                "server",
                f"{settings['server_unbatched_streams']} streams, --no-batching server",
            ),
            ("server_batched_cpu_ms_per_audio_s", "server", f"{settings['server_streams']} streams, batching server"),
        ]
    panels = [p for p in panels if any(r.get(p[0]) is not None for r in document["rows"])]
    if not panels:
        return None
    rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(11, 4 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.remove()
    for ax, (name, what, title) in zip(axes.flat, panels):
        for (cell, int8), (x, y, err) in _series(document["rows"], "width", name, data_fraction=1.0).items():
            ax.errorbar(x, y, err, **_cell_style(cell, int8))
        ax.set(xlabel="hidden width", ylabel=f"{what} CPU ms per second of audio per stream", title=title)
    return fig


def _throughput(plt, document: dict):
    if not document["throughput"]:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    widths = sorted({r["width"] for r in document["throughput"]})
    for ax, int8 in zip(axes, (False, True)):
        for i, width in enumerate(widths):
            for (cell, _), (x, y, err) in _series(
                document["throughput"], "batch", "steps_per_cpu_s", width=width, int8=int8
            ).items():
                style = _cell_style(cell, False) | {
                    "marker": "osD^v"[i % 5],
                    "label": f"{cell.upper()} {width}",
                    "alpha": 0.4 + 0.6 * (i + 1) / len(widths),
                }
                ax.errorbar(x, y, err, **style)
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="streams per step (batch)",
            title="int8" if int8 else "float32",
            ylabel="stream-steps per CPU second (bare cell)",
        )
    return fig


def _learning_curve(plt, document: dict):
    rows = [r for r in document["rows"] if not r["int8"]]
    curves = sorted({(r["cell"], r["width"]) for r in rows if r["data_fraction"] < 1.0})
    if not curves:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (name, title) in zip(axes, ACCURACIES):
        _share_panel(ax, rows, f"{name}_mean", curves, "accuracy on held-out speakers (%)", title)
    return fig


def _share_panel(ax, rows: list[dict], y: str, curves: list[tuple[str, int]], ylabel: str, title: str) -> None:
    """One panel of a learning curve: y (a share, in percent) of each (cell, width) of curves against the share of
    the real training speakers, on a log scale: a learning curve is read in doublings."""
    for cell, width in curves:
        for _, (x, ys, err) in _series(rows, "data_fraction", y, cell=cell, width=width).items():
            ax.errorbar(
                [100 * v for v in x],
                [100 * v for v in ys],
                [100 * e for e in err],
                **_cell_style(cell, False) | {"label": f"{cell.upper()} {width}"},
            )
    # The shares the curve's runs used (and the full data of the runs beside them), as ticks in percent.
    percents = sorted({100 * r["data_fraction"] for r in rows if (r["cell"], r["width"]) in curves})
    ax.set(xscale="log", xlabel="real training speakers used (%, log scale)", ylabel=ylabel, title=title)
    ax.set_xticks(percents, [f"{p:g}" for p in percents])
    ax.set_xticks([], minor=True)


def _steps_to_converge(plt, document: dict):
    rows = [r for r in document["rows"] if not r["int8"] and r.get("converged_step_mean") is not None]
    if not rows:  # runs of a fixed schedule
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    full = [r for r in rows if r["data_fraction"] == 1.0]
    for name, ax, x, chosen, xlabel in (
        ("width", axes[0], "width", full, "hidden width"),
        ("data", axes[1], "data_fraction", [r for r in rows if r["width"] in _curve_widths(rows)], "real speakers"),
    ):
        for (cell, _), (xs, ys, err) in _series(chosen, x, "converged_step_mean").items():
            scale = 100 if x == "data_fraction" else 1
            ax.errorbar([scale * v for v in xs], ys, err, **_cell_style(cell, False))
        ax.set(xlabel=xlabel + (" (%)" if name == "data" else ""), ylabel="step of the best development accuracy")
        ax.set_title("all real training speakers" if name == "width" else "at the learning curve's width")
    return fig


def _recogniser_curve(plt, document: dict):
    from rnnvoice.models.evaluation.study_recognisers import RECOGNISER_SETS

    rows = document.get("recognisers") or []
    if not any(r["data_fraction"] < 1.0 for r in rows):
        return None
    curves = sorted({(r["cell"], r["width"]) for r in rows})
    fig, axes = plt.subplots(1, len(RECOGNISER_SETS), figsize=(4 * len(RECOGNISER_SETS), 4))
    for ax, (name, (_, _, title)) in zip(axes, RECOGNISER_SETS.items()):
        _share_panel(ax, rows, f"{name}_wer_mean", curves, "word error rate on held-out speakers (%)", title)
    return fig


def _curve_widths(rows: list[dict]) -> set[int]:
    return {r["width"] for r in rows if r["data_fraction"] < 1.0}


def plot_study(document: dict, folder: Path) -> list[Path]:
    """The study's figures from its rows alone (`rnnvoice compare --study`), for each front end: accuracy against
    parameters, CPU against width, the learning curve and the steps to converge (`NAME_FRONTEND.png`); the bare
    cells' throughput against batch size, which no front end changes; and the recognisers' word error rates against
    the share of the real training speakers (`learning_curve_recognisers.png`). Each where its rows have the
    numbers. Error bars: the spread over seeds (accuracy, word errors, steps) or over repeated measurements (CPU; a
    seed does not change the cost)."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    over_seeds, over_repeats = "error bars: one standard deviation over seeds", "error bars: over repeated measurements"
    figures = [("throughput_vs_batch", _throughput, over_repeats, document, "")]
    if recognisers := document.get("recognisers"):
        names = sorted({r["front_end"].replace("_", " ") for r in recognisers})
        figures += [("learning_curve_recognisers", _recogniser_curve, over_seeds, document, ", ".join(names))]
    for front_end in dict.fromkeys(r["front_end"] for r in document["rows"]):
        rows = document | {"rows": [r for r in document["rows"] if r["front_end"] == front_end]}
        name = front_end.replace("_", " ")
        figures += [
            (f"accuracy_vs_params_{front_end}", _accuracy_vs_params, over_seeds, rows, name),
            (f"cpu_vs_width_{front_end}", _cpu_vs_width, over_repeats, rows, name),
            (f"learning_curve_{front_end}", _learning_curve, over_seeds, rows, name),
            (f"steps_to_converge_{front_end}", _steps_to_converge, over_seeds, rows, name),
        ]
    written = []
    for name, draw, caption, rows, front_end in figures:
        fig = draw(plt, rows)
        if fig is None:
            continue
        fig.suptitle(caption, fontsize=8, x=0.99, ha="right")
        if front_end:
            fig.text(0.01, 0.99, f"front end: {front_end}", fontsize=9, va="top")
        for ax in fig.axes:
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / f"{name}.png", dpi=110)
        plt.close(fig)
        written.append(folder / f"{name}.png")
    return written
