"""`rnnvoice soak`: hundreds of streams ending every way a stream can, against a server on loopback; what is left."""

import argparse
import json
import sys
from pathlib import Path

from rnnvoice.clients.errors import UsageError

HELP = "hundreds of streams cut, resumed, cancelled, silent, slow, oversized: leaks, lost chunks, memory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.clients.connection import add_connection_arguments
    from rnnvoice.clients.qa.soak import SoakPlan

    plan = SoakPlan()
    p.add_argument("recording", help="a real recording (any format soundfile reads), sent by every stream")
    p.add_argument("--server", help="host:port of a running server on loopback (default: start one)")
    add_connection_arguments(p)  # for --server
    p.add_argument("--metrics", help="that server's metrics URL (needed with --server: sessions and memory)")
    p.add_argument("--streams", type=int, default=plan.streams, help="streams in all")
    p.add_argument("--concurrency", type=int, default=plan.concurrency, help="streams open at once")
    p.add_argument("--speed", type=float, default=plan.speed, help="audio sent at this many times real time")
    p.add_argument(
        "--cut-every-s", type=float, default=plan.cut_every_s, help="the proxies cut every connection this often"
    )
    p.add_argument(
        "--silent-s", type=float, default=plan.silent_s, help="a silent peer is cancelled by the soak after this long"
    )
    p.add_argument("--resume-window-s", type=float, default=3.0, help="the resume window of the server it starts")
    p.add_argument("--workers", type=int, default=1, help="worker processes of the server it starts (serve --workers)")
    p.add_argument(
        "--idle-timeout-s",
        type=float,
        default=3.0,
        help="the idle timeout of the server it starts: below --silent-s, silent peers are its to end",
    )
    p.add_argument("--seed", type=int, default=plan.seed, help="which streams end which way")
    p.add_argument("--json", type=Path, default=Path("reports/robustness/soak.json"), help="where to write the report")


def run(args) -> int:
    from rnnvoice.clients.qa import libraries_missing

    if why := libraries_missing():  # its refusals are the fuzzer's, which draws with hypothesis
        raise UsageError(why)

    from tqdm import tqdm

    from rnnvoice.clients.client import read_audio
    from rnnvoice.clients.connection import connection_from_args
    from rnnvoice.clients.qa.server_under_test import server_under_test
    from rnnvoice.clients.qa.soak import Soak, SoakPlan

    if args.server and not args.metrics:
        raise SystemExit("--server needs --metrics: leaked sessions are read from the server's active-streams gauge")
    plan = SoakPlan(
        streams=args.streams,
        concurrency=args.concurrency,
        speed=args.speed,
        cut_every_s=args.cut_every_s,
        silent_s=args.silent_s,
        seed=args.seed,
    )
    bar = tqdm(total=args.streams, desc="soak", unit="stream")

    def progress(report) -> None:
        bar.update(report.streams - bar.n)
        bar.set_postfix(resumes=report.resumes, failed=report.failed)

    with server_under_test(
        args.server,
        args.metrics,
        "--resume-window-s",
        str(args.resume_window_s),
        "--idle-timeout-s",
        str(args.idle_timeout_s),
        "--workers",
        str(args.workers),
        connection=connection_from_args(args),
    ) as sut:
        report = Soak(sut, read_audio(args.recording), plan, progress).run()
    bar.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report.as_dict() | {"plan": plan.__dict__}, indent=2) + "\n")
    growth = "unknown" if report.rss_growth_bytes is None else f"{report.rss_growth_bytes / 1e6:.1f} MB"
    print(
        f"{report.streams} streams in {report.seconds:.0f} s, {report.resumes} resumes over {report.cuts} cuts: "
        f"{report.leaked_sessions:g} leaked sessions, {report.lost_chunks} chunks lost, {report.duplicated_chunks} "
        f"doubled, {report.mismatched_results} streams with other results, {report.failed} failed; "
        f"server memory grew {growth}"
    )
    for failure in report.failures + report.mismatches:
        print(f"  {failure}", file=sys.stderr)
    bad = report.leaked_sessions or report.lost_chunks or report.duplicated_chunks or report.mismatched_results
    return 1 if bad or report.failed else 0
