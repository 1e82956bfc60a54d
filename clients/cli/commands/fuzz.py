"""`rnnvoice fuzz`: drawn calls, valid and not, against a server on loopback; crashes, hangs and wrong statuses."""

import argparse
import inspect
import json
import sys
from pathlib import Path

from rnnvoice.clients.errors import UsageError

HELP = "hypothesis-drawn calls against a server on loopback: crashes, hangs, wrong statuses, memory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.clients.connection import add_connection_arguments
    from rnnvoice.clients.qa.fuzz import fuzz

    defaults = {name: parameter.default for name, parameter in inspect.signature(fuzz).parameters.items()}
    p.add_argument("--server", help="host:port of a running server on loopback (default: start one)")
    add_connection_arguments(p)  # for --server
    p.add_argument(
        "--metrics",
        help="that server's metrics URL, for its memory (e.g. http://127.0.0.1:9100/metrics; "
        "default: none, and a server it starts is measured in /proc)",
    )
    p.add_argument("--inputs", type=int, default=defaults["inputs"], help="calls to draw and run")
    p.add_argument("--max-seconds", type=float, default=defaults["max_seconds"], help="stop drawing after this long")
    p.add_argument(
        "--deadline-s", type=float, default=defaults["deadline_s"], help="a call that takes longer is a hang"
    )
    p.add_argument("--seed", type=int, help="hypothesis's seed, to draw the same calls again (default: a new one)")
    p.add_argument("--json", type=Path, default=Path("reports/robustness/fuzz.json"), help="where to write the report")


def run(args) -> int:
    from rnnvoice.clients.qa import libraries_missing

    if why := libraries_missing():
        raise UsageError(why)

    from tqdm import tqdm

    from rnnvoice.clients.connection import connection_from_args
    from rnnvoice.clients.qa.fuzz import fuzz
    from rnnvoice.clients.qa.server_under_test import server_under_test

    bar = tqdm(total=args.inputs, desc="fuzz", unit="call")

    def progress(report) -> None:
        bar.update(report.inputs - bar.n)
        bar.set_postfix(crashes=report.crashes, hangs=report.hangs, wrong=report.wrong_status)

    # Its own server keeps a lost resumable stream briefly: drawn bytes can open and drop many.
    with server_under_test(
        args.server, args.metrics, "--resume-window-s", "2", connection=connection_from_args(args)
    ) as sut:
        report = fuzz(sut, args.inputs, args.max_seconds, args.deadline_s, args.seed, progress)
    bar.close()
    out = report.as_dict() | {"server": args.server or "started by rnnvoice fuzz"}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"{report.inputs} inputs in {report.seconds:.0f} s: {report.crashes} crashes, {report.hangs} hangs, "
        f"{report.wrong_status} wrong statuses; server memory grew {_mb(report.rss_growth_bytes)}"
    )
    for example in report.wrong[:10]:
        print(
            f"  {example['problem']}: {example['method']} ({example['input']}, must {example['verdict']}) got "
            f"{example['code']}: {example['details'][:120]}",
            file=sys.stderr,
        )
    return 1 if report.crashes or report.hangs or report.wrong_status else 0


def _mb(n: int | None) -> str:
    return "(unknown: no metrics)" if n is None else f"{n / 1e6:.1f} MB"
