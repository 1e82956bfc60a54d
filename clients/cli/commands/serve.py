"""`rnnvoice serve`: flags and environment into ServerSettings, then the server."""

import argparse
import dataclasses
import os
import sys
from pathlib import Path

HELP = "run the gRPC server on the shipped models"

# Every limit: (ServerSettings field, type, help); the flag is --FIELD, the environment variable RNNVOICE_FIELD, the
# default the setting's own.
LIMITS = (
    ("max_streams", int, "streams open at once; more are refused with RESOURCE_EXHAUSTED"),
    ("retry_after_s", float, "seconds a refusal for capacity tells the client to wait"),
    ("idle_timeout_s", float, "seconds without audio that end a stream with DEADLINE_EXCEEDED"),
    ("max_stream_s", float, "longest a stream may last, in seconds"),
    ("keepalive_s", float, "seconds of quiet before the server pings a connection"),
    ("keepalive_timeout_s", float, "seconds a ping has to be answered"),
    ("realtime_factor", float, "how much faster than real time a stream may send its audio"),
    ("burst_s", float, "seconds of audio a stream may send at once before its pace is held"),
    ("max_chunk_s", float, "longest audio chunk, in seconds"),
    ("max_recording_s", float, "longest Recognize recording, in seconds"),
    ("max_stream_message_bytes", int, "largest StreamAudio request"),
    ("max_recognize_bytes", int, "largest Recognize request"),
    ("resume_window_s", float, "seconds a resumable stream whose call was lost is kept for a resume (at most "
                               "--idle-timeout-s)"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.service.settings import ServerSettings

    env = os.environ.get
    defaults = ServerSettings(models={})
    p.add_argument("--host", default=env("RNNVOICE_HOST", defaults.host),
                   help="address to listen on; [::] or 0.0.0.0 for every interface (RNNVOICE_HOST)")
    p.add_argument("--port", type=int, default=int(env("RNNVOICE_PORT", "50051")), help="port (RNNVOICE_PORT)")
    p.add_argument("--model", action="append", default=[], metavar="TASK:CELL=PATH",
                   help="serve these weights instead of the shipped ones, e.g. keywords:gru=runs/kws_gru.pt; repeatable "
                   "(default: the shipped models)")
    p.add_argument("--tls-cert", type=Path, default=env("RNNVOICE_TLS_CERT"),
                   help="the server's certificate chain, PEM: serve TLS (RNNVOICE_TLS_CERT; default: plaintext)")
    p.add_argument("--tls-key", type=Path, default=env("RNNVOICE_TLS_KEY"),
                   help="its private key, PEM (RNNVOICE_TLS_KEY; needed with --tls-cert)")
    p.add_argument("--tls-client-ca", type=Path, default=env("RNNVOICE_TLS_CLIENT_CA"),
                   help="require client certificates signed by this CA, PEM: mutual TLS (RNNVOICE_TLS_CLIENT_CA; "
                        "default: no client certificates)")
    p.add_argument("--tokens", type=Path, default=env("RNNVOICE_TOKENS_FILE"),
                   help="bearer tokens, a line each: NAME TOKEN [TASKS [MAX_STREAMS]] (RNNVOICE_TOKENS_FILE; "
                        "RNNVOICE_TOKENS may hold the same lines, separated by ;) (default: none, every caller may "
                        "do everything)")
    for name, kind, text in LIMITS:
        variable = f"RNNVOICE_{name.upper()}"
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=kind(env(variable, getattr(defaults, name))),
                       help=f"{text} ({variable})")
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
                   help="serve Prometheus metrics at http(s)://METRICS_HOST:PORT/metrics; 0 serves none "
                        "(RNNVOICE_METRICS_PORT)")
    p.add_argument("--metrics-host", default=env("RNNVOICE_METRICS_HOST", defaults.metrics_host),
                   help="address of the metrics endpoint; HTTPS with the server's TLS files (RNNVOICE_METRICS_HOST)")


def parse_models(specs: list[str]) -> dict[tuple[str, str], Path]:
    from rnnvoice.models.types import MODEL_TASKS, Cell

    models = {}
    for spec in specs:
        key, sep, path = spec.partition("=")
        task, _, cell = key.partition(":")
        if not sep or task not in MODEL_TASKS or cell.lower() not in set(Cell) or not path:
            raise SystemExit(f"--model {spec!r}: expected TASK:CELL=PATH with TASK one of {', '.join(MODEL_TASKS)} "
                             f"and CELL one of {', '.join(Cell)}, e.g. keywords:gru=model.pt")
        models[task, cell.lower()] = Path(path)
    return models


def run(args) -> int:
    import asyncio

    from rnnvoice.service.auth import load_tokens
    from rnnvoice.service.errors import StartupError
    from rnnvoice.service.server import serve
    from rnnvoice.service.settings import ServerSettings

    try:
        tokens = load_tokens(args.tokens, os.environ.get("RNNVOICE_TOKENS"))
        limits = {name: getattr(args, name) for name, *_ in LIMITS}
        settings = ServerSettings(host=args.host, port=args.port, inference_threads=args.inference_threads,
                                  grace_s=args.grace, metrics_port=args.metrics_port, metrics_host=args.metrics_host,
                                  batching=not args.no_batching, batch_wait_ms=args.batch_wait_ms,
                                  max_batch=args.max_batch, intra_op_threads=args.intra_op_threads, device=args.device,
                                  tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca,
                                  tokens=tokens, **limits)
        if args.model:
            settings = dataclasses.replace(settings, models=parse_models(args.model))
        asyncio.run(serve(settings))
    except StartupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
