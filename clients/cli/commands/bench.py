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
        "--floor-streams",
        default="250,500",
        help="comma-separated stream counts at which to measure the transport floor, a server that only "
        "answers (clients/qa/transport_floor.py), on keyword streams; empty: skip it",
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

    from rnnvoice.clients.client import read_audio
    from rnnvoice.clients.connection import Connection, connection_from_args
    from rnnvoice.clients.load import cells_argument
    from rnnvoice.clients.qa.bench import (
        Ramp,
        cell_step_matmul_fraction,
        engine_cpu,
        floor_table,
        measure_level,
        memory_slope,
        ramp_up,
        table,
    )
    from rnnvoice.clients.qa.local_server import local_server
    from rnnvoice.models.nets.checkpoint import load_model
    from rnnvoice.models.types import Cell, Task
    from rnnvoice.models.weights import shipped_models

    if args.server and not args.metrics:
        raise SystemExit("--server needs --metrics: server CPU and memory come from the server's own metrics")
    cells, tasks = cells_argument(args.cells), [t for t in args.tasks.split(",") if t]
    ramp = Ramp(
        args.start_streams,
        args.growth,
        args.max_streams,
        args.level_s,
        args.chunk_ms / 1000,
        args.p99_ms,
        args.resolution,
    )
    audio = read_audio(args.recording)
    modes = ["batched"] if args.server or args.no_compare else ["batched", "per_stream"]
    results = {mode: {task: {} for task in tasks} for mode in modes}
    progress = tqdm(desc="bench", unit="level")
    for mode in modes:
        with contextlib.ExitStack() as stack:
            if args.server:
                target, metrics_url, connection = args.server, args.metrics, connection_from_args(args)
            else:
                connection = Connection()
                flags = ["--max-streams", str(args.max_streams + 16)] + (
                    ["--no-batching"] if mode == "per_stream" else []
                )
                server = stack.enter_context(local_server(*flags))
                target, metrics_url = server.target, server.metrics_url
            for task in tasks:
                for cell in cells:

                    def shown(level, task=task, cell=cell, mode=mode):
                        progress.update()
                        progress.set_postfix(
                            run=f"{task} {cell} {mode}",
                            streams=level["streams"],
                            p99_ms=f"{level['p99_chunk_latency_ms']:.1f}",
                        )

                    results[mode][task][cell] = asyncio.run(
                        ramp_up(target, metrics_url, audio, task, cell, ramp, shown, connection)
                    )
    floor = []
    if args.floor_streams and Task.KEYWORDS in tasks and not args.server:
        with local_server(program=("rnnvoice.clients.qa.transport_floor",)) as server:
            for streams in (int(n) for n in args.floor_streams.split(",")):
                floor.append(
                    asyncio.run(
                        measure_level(server.target, server.metrics_url, audio, Task.KEYWORDS, Cell.GRU, streams, ramp)
                    )
                )
                progress.update()
                progress.set_postfix(run="transport floor", streams=streams)
    progress.close()
    report = results["batched"]
    torch.set_num_threads(1)  # as the server runs: one thread per operation
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
            model = load_model(shipped_models()[task, cell])
            entry["cell_step_matmul_fraction"] = cell_step_matmul_fraction(model, args.step_batch)
    print(
        f"real-time streams of {audio.seconds:.1f} s of audio looped, {args.chunk_ms:g} ms chunks, "
        f"{args.level_s:g} s a level, sustained while p99 chunk latency <= {args.p99_ms:g} ms"
    )
    # The keyword engine alone at the floor's levels: the two together are the least a server could spend.
    engine = {}
    for cell in cells if floor else ():
        model = load_model(shipped_models()[Task.KEYWORDS, cell])
        engine[cell] = {
            lv["streams"]: engine_cpu(model, audio, lv["streams"], ramp.chunk_s, args.level_s) for lv in floor
        }
    print(table(report))
    if floor:
        print(floor_table(floor, engine))
    document = {
        "recording": str(args.recording),
        "ramp": vars(ramp),
        **report.get(Task.KEYWORDS, {}),
        **{task: report[task] for task in tasks if task != Task.KEYWORDS},
        "transport_floor": {"levels": floor, "marginal_bytes_per_stream": memory_slope(floor)},
        "keyword_engine_alone": {
            cell: [{"streams": n, "cpu_ms_per_audio_s": v} for n, v in by_streams.items()]
            for cell, by_streams in engine.items()
        },
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
        for task in report.values()
        for entry in task.values()
        for lv in entry["levels"]
    )
    return 1 if failed else 0
