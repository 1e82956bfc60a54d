"""`rnnvoice compare`: every pair of GRU and LSTM reports of `rnnvoice eval`, as one Markdown table."""

import argparse
from pathlib import Path

HELP = "GRU beside LSTM: every pair of eval reports as one table"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", type=Path, nargs="?", default=Path("reports"),
                   help="folder of `rnnvoice eval --json` reports named gru_*.json and lstm_*.json")


def run(args) -> int:
    from rnnvoice.models.evaluation.compare import compare

    print("\n".join(compare(args.reports)))
    return 0
