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
