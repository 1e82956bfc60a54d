"""`rnnvoice serve`: flags and environment into ServerSettings, then the server."""

import argparse
import dataclasses
import os
from pathlib import Path

HELP = "run the gRPC server on the shipped models"


def add_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("--host", default=env("RNNVOICE_HOST", "[::]"), help="address to listen on (RNNVOICE_HOST)")
    p.add_argument("--port", type=int, default=int(env("RNNVOICE_PORT", "50051")), help="port (RNNVOICE_PORT)")
    p.add_argument("--model", action="append", default=[], metavar="TASK:CELL=PATH",
                   help="serve these weights instead of the shipped ones, e.g. keywords:gru=runs/kws_gru.pt")
    p.add_argument("--max-streams", type=int, default=int(env("RNNVOICE_MAX_STREAMS", "256")),
                   help="streams open at once; more are refused (RNNVOICE_MAX_STREAMS)")
    p.add_argument("--resume-window-s", type=float, default=float(env("RNNVOICE_RESUME_WINDOW_S", "30")),
                   help="how long a resumable stream whose call was lost is kept for a resume (RNNVOICE_RESUME_WINDOW_S)")
    p.add_argument("--inference-threads", type=int, default=int(env("RNNVOICE_INFERENCE_THREADS", "2")),
                   help="threads running model steps; streams queue for them (RNNVOICE_INFERENCE_THREADS)")
    p.add_argument("--no-batching", action="store_true", default=env("RNNVOICE_BATCHING", "1") == "0",
                   help="run each stream's steps on its own instead of batching across streams (RNNVOICE_BATCHING=0)")
    p.add_argument("--batch-wait-ms", type=float, default=float(env("RNNVOICE_BATCH_WAIT_MS", "2")),
                   help="longest wait for more streams to join a batched step (RNNVOICE_BATCH_WAIT_MS)")
    p.add_argument("--max-batch", type=int, default=int(env("RNNVOICE_MAX_BATCH", "512")),
                   help="most streams in one batched step (RNNVOICE_MAX_BATCH)")
    p.add_argument("--intra-op-threads", type=int, default=int(env("RNNVOICE_INTRA_OP_THREADS", "1")),
                   help="threads inside one torch operation (RNNVOICE_INTRA_OP_THREADS)")
    p.add_argument("--device", default=env("RNNVOICE_DEVICE", "cpu"), help="cpu, or cuda (RNNVOICE_DEVICE)")
    p.add_argument("--grace", type=float, default=10.0, help="seconds open streams get to finish on shutdown")
    p.add_argument("--metrics-port", type=int, default=int(env("RNNVOICE_METRICS_PORT", "0")),
                   help="serve Prometheus metrics at http://HOST:PORT/metrics; 0 serves none (RNNVOICE_METRICS_PORT)")


def parse_models(specs: list[str]) -> dict[tuple[str, str], Path]:
    models = {}
    for spec in specs:
        key, sep, path = spec.partition("=")
        task, _, cell = key.partition(":")
        if not sep or not task or not cell:
            raise SystemExit(f"--model {spec!r}: expected TASK:CELL=PATH, e.g. keywords:gru=model.pt")
        models[task, cell.lower()] = Path(path)
    return models


def run(args) -> int:
    import asyncio

    from rnnvoice.service.server import serve
    from rnnvoice.service.settings import ServerSettings

    settings = ServerSettings(host=args.host, port=args.port, max_streams=args.max_streams,
                              inference_threads=args.inference_threads, grace_s=args.grace,
                              metrics_port=args.metrics_port, resume_window_s=args.resume_window_s, batching=not args.no_batching,
                              batch_wait_ms=args.batch_wait_ms, max_batch=args.max_batch,
                              intra_op_threads=args.intra_op_threads, device=args.device)
    if args.model:
        settings = dataclasses.replace(settings, models=parse_models(args.model))
    asyncio.run(serve(settings))
    return 0
