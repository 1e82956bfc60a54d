"""`rnnvoice compare`: every pair of GRU and LSTM reports of `rnnvoice eval` as one Markdown table, and training
runs side by side as learning curves."""

import argparse
import json
from pathlib import Path

HELP = "GRU beside LSTM: every pair of eval reports as one table; learning curves of training runs"
# What a run's history measured along the way, newest name first.
CURVE_METRICS = ("dev_accuracy", "heldout_accuracy", "heldout_wer")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", type=Path, nargs="?", default=Path("reports"),
                   help="folder of `rnnvoice eval --json` reports named gru_*.json and lstm_*.json")
    p.add_argument("--training", type=Path, nargs="+", default=[],
                   help="training runs to plot instead: checkpoints (.pt) or their .history.json files (default: none)")
    p.add_argument("--plot", type=Path, help="with --training: the PNG of their loss and dev metric by step (default: no plot)")


def _history(path: Path) -> list[dict]:
    if path.suffix == ".json":
        return json.loads(path.read_text())
    from rnnvoice.models.nets.checkpoint import load_model

    return load_model(path).metadata.get("history", [])


def run(args) -> int:
    if args.training:
        from rnnvoice.models.evaluation.plots import plot_training

        if args.plot is None:
            raise SystemExit("--training needs --plot, the PNG to draw")
        histories = {path.name.removesuffix(".history.json").removesuffix(".pt"): _history(path)
                     for path in args.training}
        measured = {k for history in histories.values() for h in history for k in h}
        metric = next((m for m in CURVE_METRICS if m in measured), None)
        if metric is None:
            raise SystemExit(f"no run measured any of {', '.join(CURVE_METRICS)} while training")
        plot_training(histories, metric, args.plot)
        print(f"wrote {args.plot}")
        return 0
    from rnnvoice.models.evaluation.compare import compare

    print("\n".join(compare(args.reports)))
    return 0
