"""`rnnvoice bench`: sustained real-time streams per task and cell, batched and not, on its servers or
a running one."""

import argparse
import contextlib
import json
import math
from pathlib import Path

HELP = "how many real-time streams GRU and LSTM sustain: latency, server CPU and memory, batching's gain"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.clients.connection import add_connection_arguments
    from rnnvoice.clients.qa.bench import Ramp
    from rnnvoice.models.types import MODEL_TASKS, Cell

    ramp = Ramp()
    p.add_argument("recording", help="a real recording (any format soundfile reads), looped by every stream")
    p.add_argument("--server", help="host:port of a running server (default: start one on the shipped models)")
    p.add_argument(
        "--metrics",
        help="that server's metrics URL, e.g. http://host:9100/metrics, or https:// for a "
        "server with TLS, trusted as --tls-ca says (needed with --server; default: none)",
    )
    add_connection_arguments(p)  # for --server
    p.add_argument("--cells", default=",".join(Cell), help="comma-separated cells")
    p.add_argument("--tasks", default=",".join(MODEL_TASKS), help="comma-separated tasks")
    p.add_argument("--start-streams", type=int, default=ramp.start, help="streams at the first level of the ramp")
    p.add_argument(
        "--growth", type=float, default=ramp.growth, help="each level has this many times the streams before it"
    )
    p.add_argument("--max-streams", type=int, default=ramp.max_streams, help="the ramp stops here at the latest")
    p.add_argument(
        "--resolution",
        type=float,
        default=ramp.resolution,
        help="after the first level that misses, levels between it and the last kept narrow the gap to "
        "this share of the streams kept",
    )
    p.add_argument(
        "--level-s", type=float, default=ramp.level_s, help="audio each stream plays per level, in real time"
    )
    p.add_argument("--chunk-ms", type=float, default=ramp.chunk_s * 1000, help="audio per request")
    p.add_argument(
        "--p99-ms",
        type=float,
        default=ramp.p99_limit_ms,
        help="a level is sustained while p99 latency stays within this",
    )
    p.add_argument("--no-compare", action="store_true", help="skip the per-stream (--no-batching) server's ramp")
    p.add_argument(
        "--overhead-streams",
        default="keywords=250,transcription=100",
        help="TASK=STREAMS,...: at these levels, each task's server CPU beside the transport floor's (a server that "
        "only answers as many chunks, clients/qa/transport_floor.py) and the engine alone's; empty: skip it",
    )
    p.add_argument(
        "--idle-streams",
        default="50,150,250",
        help="comma-separated numbers of streams held open and idle (each after 1 s of audio), the server's memory "
        "read at each: its bytes per open stream, away from any backlog; empty: skip it",
    )
    p.add_argument(
        "--workers",
        default="1,2",
        help="comma-separated worker counts (serve --workers) whose keyword streams of the first cell are ramped "
        "too, to compare with one worker; empty: skip it",
    )
    p.add_argument(
        "--connections", type=int, default=ramp.connections, help="connections the load's streams are dealt to"
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="TASK:CELL=PATH",
        help="bench these weights instead of the shipped ones, as serve --model takes them; repeatable "
        "(default: the shipped models)",
    )
    p.add_argument("--step-batch", type=int, default=256, help="streams in the cell step timed against plain matmuls")
    p.add_argument("--json", type=Path, default=Path("reports/tmp/bench.json"), help="where to write the report")
    p.add_argument(
        "--plot", type=Path, help="also draw latency and memory against streams as a PNG here (default: no plot)"
    )


def run(args) -> int:
    import asyncio

    import torch
    from tqdm import tqdm

    from rnnvoice.clients.cli.commands.serve import parse_models
    from rnnvoice.clients.client import read_audio
    from rnnvoice.clients.connection import Connection, connection_from_args
    from rnnvoice.clients.load import cells_argument
    from rnnvoice.clients.qa.bench import (
        Ramp,
        answer_share,
        cell_step_matmul_fraction,
        engine_cpu,
        idle_memory,
        measure_level,
        memory_slope,
        overhead,
        ramp_up,
        table,
        workers_table,
    )
    from rnnvoice.clients.qa.local_server import local_server
    from rnnvoice.models.nets.checkpoint import load_model
    from rnnvoice.models.types import Task
    from rnnvoice.models.weights import shipped_models
    from rnnvoice.service.registry import ModelRegistry

    if args.server and not args.metrics:
        raise SystemExit("--server needs --metrics: server CPU and memory come from the server's own metrics")
    cells, tasks = cells_argument(args.cells), [t for t in args.tasks.split(",") if t]
    models = parse_models(args.model) or shipped_models()
    overhead_streams = _counts(args.overhead_streams, "--overhead-streams")
    workers = [int(n) for n in args.workers.split(",") if n] if not args.server else []
    idle_streams = tuple(int(n) for n in args.idle_streams.split(",") if n)
    # The servers' stream limit: above every level any part of the bench opens.
    most_streams = max([args.max_streams, *idle_streams, *overhead_streams.values()]) + 16
    ramp = Ramp(
        args.start_streams,
        args.growth,
        args.max_streams,
        args.level_s,
        args.chunk_ms / 1000,
        args.p99_ms,
        args.resolution,
        args.connections,
    )
    audio = read_audio(args.recording)
    model_flags = [f for spec in args.model for f in ("--model", spec)]
    modes = ["batched"] if args.server or args.no_compare else ["batched", "per_stream"]
    results = {mode: {task: {} for task in tasks} for mode in modes}
    server_levels = {}  # (task, cell) -> the batched server's level of overhead_streams[task] streams
    progress = tqdm(desc="bench", unit="level")

    def shown(run: str):
        def update(level):
            progress.update()
            progress.set_postfix(run=run, streams=level["streams"], p99_ms=f"{level['p99_chunk_latency_ms']:.1f}")

        return update

    def measure(server, task: str, cell: str, streams: int, run: str, connection=Connection()) -> dict:
        level = asyncio.run(
            measure_level(server.target, server.metrics_url, audio, task, cell, streams, ramp, connection)
        )
        shown(run)(level)
        return level

    for mode in modes:
        with contextlib.ExitStack() as stack:
            if args.server:
                connection = connection_from_args(args)
                server = _Running(args.server, args.metrics)
            else:
                connection = Connection()
                flags = ["--max-streams", str(most_streams), *model_flags]
                server = stack.enter_context(local_server(*flags, *(["--no-batching"] if mode == "per_stream" else [])))
            for task in tasks:
                for cell in cells:
                    results[mode][task][cell] = asyncio.run(
                        ramp_up(
                            server.target,
                            server.metrics_url,
                            audio,
                            task,
                            cell,
                            ramp,
                            shown(f"{task} {cell} {mode}"),
                            connection,
                        )
                    )
                    if mode == "batched" and idle_streams and not args.server:
                        idle = asyncio.run(
                            idle_memory(server.target, server.metrics_url, audio, task, cell, idle_streams)
                        )
                        progress.update()
                        results[mode][task][cell] |= {
                            "idle_memory_levels": idle["levels"],
                            "idle_bytes_per_stream": idle["bytes_per_stream"],
                        }
                    if mode == "batched" and task in overhead_streams and not args.server:
                        server_levels[task, cell] = measure(
                            server, task, cell, overhead_streams[task], f"{task} {cell} overhead", connection
                        )
    # The transport floor at the same levels, answering as many of the chunks as the server did.
    floor_levels = {}
    for (task, cell), level in server_levels.items():
        share = ["--answer-share", f"{answer_share(level):.6f}"]
        with local_server(*share, program=("rnnvoice.clients.qa.transport_floor",)) as floor:
            floor_levels[task, cell] = measure(floor, task, cell, level["streams"], f"{task} {cell} floor")
    # More workers, each count ramped on the first cell's keyword streams; one worker's is the batched ramp's.
    by_workers = {}
    if workers and Task.KEYWORDS in tasks:
        cell = cells[0]
        for count in workers:
            if count == 1:
                by_workers[count] = results["batched"][Task.KEYWORDS][cell]
                continue
            flags = ["--max-streams", str(most_streams), "--workers", str(count), *model_flags]
            with local_server(*flags) as server:
                by_workers[count] = asyncio.run(
                    ramp_up(
                        server.target,
                        server.metrics_url,
                        audio,
                        Task.KEYWORDS,
                        cell,
                        ramp,
                        shown(f"keywords {cell} {count} workers"),
                    )
                )
    progress.close()
    report = results["batched"]
    torch.set_num_threads(1)  # as the server runs: one thread per operation
    registry = ModelRegistry(models)
    for task in tasks:
        for cell in cells:
            entry = report[task][cell]
            if "per_stream" in results:
                alone = results["per_stream"][task][cell]
                entry["per_stream_max_streams"] = alone["max_realtime_streams"]
                entry["per_stream_levels"] = alone["levels"]
                entry["batched_speedup"] = (
                    entry["max_realtime_streams"] / alone["max_realtime_streams"]
                    if alone["max_realtime_streams"]
                    else math.inf
                )
            entry["cell_step_matmul_fraction"] = cell_step_matmul_fraction(
                load_model(models[task, cell]), args.step_batch
            )
            if (task, cell) in floor_levels:
                level = server_levels[task, cell]
                engine_ms = engine_cpu(registry, audio, task, cell, level["streams"], ramp.chunk_s, args.level_s)
                entry.update(overhead(level, floor_levels[task, cell], engine_ms))
    workers_report = {}
    if by_workers:
        sustained = {count: r["max_realtime_streams"] for count, r in by_workers.items()}
        one, most = sustained.get(1), max(sustained)
        workers_report = {
            "task": Task.KEYWORDS,
            "cell": cells[0],
            "levels": {count: r["levels"] for count, r in by_workers.items()},
            "max_realtime_streams": sustained,
            "cpu_ms_per_audio_s": {count: r["cpu_ms_per_audio_s"] for count, r in by_workers.items()},
            "streams_ratio": sustained[most] / one if one and most != 1 else math.nan,
        }
    print(
        f"real-time streams of {audio.seconds:.1f} s of audio looped, {args.chunk_ms:g} ms chunks over "
        f"{ramp.connections} connections, {args.level_s:g} s a level, sustained while p99 chunk latency <= "
        f"{args.p99_ms:g} ms"
    )
    print(table(report))
    if workers_report:
        print(workers_table(workers_report))
    document = {
        "recording": str(args.recording),
        "models": {f"{task}:{cell}": str(path) for (task, cell), path in models.items()},
        "ramp": vars(ramp),
        **report.get(Task.KEYWORDS, {}),
        **{task: report[task] for task in tasks if task != Task.KEYWORDS},
        # Today's fields of the floor and the keyword engine, from the overhead levels.
        "transport_floor": {
            "levels": list(floor_levels.values()),
            "marginal_bytes_per_stream": memory_slope(list(floor_levels.values())),
        },
        "keyword_engine_alone": {
            cell: [{"streams": e["overhead_streams"], "cpu_ms_per_audio_s": e["engine_alone_cpu_ms_per_audio_s"]}]
            for cell, e in report.get(Task.KEYWORDS, {}).items()
            if "engine_alone_cpu_ms_per_audio_s" in e
        },
        "workers": workers_report,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=1, default=str))
    print(f"wrote {args.json}")
    if args.plot:
        from rnnvoice.models.evaluation.plots import plot_bench, plots_missing

        if why := plots_missing():
            print(why)
        else:
            plot_bench(report, args.plot)
            print(f"wrote {args.plot}")
    failed = any(
        lv["failed_streams"] and lv["streams"] <= entry["max_realtime_streams"]
        for entry in [*(e for task in report.values() for e in task.values()), *by_workers.values()]
        for lv in entry["levels"]
    )
    return 1 if failed else 0


class _Running:
    """A server given with --server and --metrics, as local_server's are named."""

    def __init__(self, target: str, metrics_url: str):
        self.target, self.metrics_url = target, metrics_url


def _counts(text: str, flag: str) -> dict[str, int]:
    """TASK=N,... -> {task: N}."""
    from rnnvoice.models.types import MODEL_TASKS

    counts = {}
    for item in (i for i in text.split(",") if i):
        task, _, n = item.partition("=")
        if task not in MODEL_TASKS or not n.isdigit() or int(n) < 1:
            raise SystemExit(f"{flag} {text!r}: expected TASK=STREAMS,... with TASK one of {', '.join(MODEL_TASKS)}")
        counts[task] = int(n)
    return counts
