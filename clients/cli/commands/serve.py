"""`rnnvoice serve`: flags and environment into ServerSettings, then the server."""

import argparse
import dataclasses
import os
import sys
from pathlib import Path

HELP = "run the gRPC server on the shipped models"

# Every setting given as a flag --FIELD and an environment variable RNNVOICE_FIELD: (ServerSettings field, help);
# its type and default are the field's own.
LISTEN = (
    ("host", "address to listen on; [::] or 0.0.0.0 for every interface"),
    ("port", "port"),
)
LIMITS = (
    ("max_streams", "streams open at once; more are refused with RESOURCE_EXHAUSTED"),
    ("retry_after_s", "seconds a refusal for capacity tells the client to wait"),
    (
        "auth_failures_per_window",
        "calls from one address refused for want of a valid token after which its calls get RESOURCE_EXHAUSTED "
        "until the window ends; 0: never",
    ),
    ("auth_failure_window_s", "seconds of that window, from the address's first refusal"),
    ("idle_timeout_s", "seconds without audio that end a stream with DEADLINE_EXCEEDED"),
    ("max_stream_s", "longest a stream may last, in seconds"),
    ("keepalive_s", "seconds of quiet before the server pings a connection"),
    ("keepalive_timeout_s", "seconds a ping has to be answered"),
    ("realtime_factor", "how much faster than real time a stream may send its audio"),
    ("burst_s", "seconds of audio a stream may send at once before its pace is held"),
    ("max_chunk_s", "longest audio chunk, in seconds"),
    ("max_recording_s", "longest Recognize recording, in seconds"),
    ("max_stream_message_bytes", "largest StreamAudio request"),
    ("max_recognize_bytes", "largest Recognize request"),
    (
        "resume_window_s",
        "seconds a resumable stream whose call was lost is kept for a resume (at most --idle-timeout-s)",
    ),
)
ENGINE = (
    ("inference_threads", "threads running model steps; streams queue for them"),
    ("batch_wait_ms", "longest wait for more streams to join a batched step"),
    ("max_batch", "most streams in one batched step"),
    ("intra_op_threads", "threads inside one torch operation"),
    ("device", "cpu, or cuda"),
    (
        "workers",
        "server processes sharing the port, each with its own scheduler; above 1 a supervisor runs them, the "
        "limits hold for them all",
    ),
)
METRICS = (
    ("metrics_port", "serve Prometheus metrics at http(s)://METRICS_HOST:PORT/metrics; 0 serves none"),
    ("metrics_host", "address of the metrics endpoint; HTTPS with the server's TLS files"),
)
SETTINGS = LISTEN + LIMITS + ENGINE + METRICS


def add_arguments(p: argparse.ArgumentParser) -> None:
    import typing

    from rnnvoice.service.settings import ServerSettings

    env = os.environ.get
    defaults = ServerSettings(models={})
    types = typing.get_type_hints(ServerSettings)

    def add_settings(table: tuple[tuple[str, str], ...]) -> None:
        for name, text in table:
            variable = f"RNNVOICE_{name.upper()}"
            p.add_argument(
                f"--{name.replace('_', '-')}",
                type=types[name],
                default=env(variable, getattr(defaults, name)),
                help=f"{text} ({variable})",
            )

    add_settings(LISTEN)
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="TASK:CELL=PATH",
        help="serve these weights instead of the shipped ones, e.g. keywords:gru=runs/kws_gru.pt; repeatable "
        "(default: the shipped models)",
    )
    p.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="a context in Picovoice Rhino's YAML that assistant streams may name (AssistantConfig.context), "
        "compiled at start-up; repeatable (default: none)",
    )
    p.add_argument(
        "--tls-cert",
        type=Path,
        default=env("RNNVOICE_TLS_CERT"),
        help="the server's certificate chain, PEM: serve TLS; the TLS files are read again on SIGHUP "
        "(RNNVOICE_TLS_CERT; default: plaintext)",
    )
    p.add_argument(
        "--tls-key",
        type=Path,
        default=env("RNNVOICE_TLS_KEY"),
        help="its private key, PEM (RNNVOICE_TLS_KEY; needed with --tls-cert)",
    )
    p.add_argument(
        "--tls-client-ca",
        type=Path,
        default=env("RNNVOICE_TLS_CLIENT_CA"),
        help="require client certificates signed by this CA, PEM: mutual TLS (RNNVOICE_TLS_CLIENT_CA; "
        "default: no client certificates)",
    )
    p.add_argument(
        "--tokens",
        type=Path,
        default=env("RNNVOICE_TOKENS_FILE"),
        help="bearer tokens, a line each: NAME TOKEN [TASKS [MAX_STREAMS]], read again on SIGHUP "
        "(RNNVOICE_TOKENS_FILE; RNNVOICE_TOKENS may hold the same lines, separated by ;, fixed until a restart) "
        "(default: none, every caller may do everything)",
    )
    add_settings(LIMITS)
    batching = env("RNNVOICE_BATCHING")
    p.add_argument(
        "--no-batching",
        action="store_true",
        default=not defaults.batching if batching is None else batching == "0",
        help="run each stream's steps on its own instead of batching across streams (RNNVOICE_BATCHING=0)",
    )
    add_settings(ENGINE)
    p.add_argument(
        "--grace", type=float, default=defaults.grace_s, help="seconds open streams get to finish on shutdown"
    )
    add_settings(METRICS)


def parse_models(specs: list[str]) -> dict[tuple[str, str], Path]:
    from rnnvoice.models.types import MODEL_TASKS, Cell

    models = {}
    for spec in specs:
        key, sep, path = spec.partition("=")
        task, _, cell = key.partition(":")
        if not sep or task not in MODEL_TASKS or cell.lower() not in set(Cell) or not path:
            raise SystemExit(
                f"--model {spec!r}: expected TASK:CELL=PATH with TASK one of {', '.join(MODEL_TASKS)} "
                f"and CELL one of {', '.join(Cell)}, e.g. keywords:gru=model.pt"
            )
        models[task, cell.lower()] = Path(path)
    return models


def parse_contexts(specs: list[str]) -> dict[str, Path]:
    contexts = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--context {spec!r}: expected NAME=FILE, e.g. kitchen=contexts/kitchen.yml")
        contexts[name] = Path(path)
    return contexts


def run(args) -> int:
    import asyncio

    from rnnvoice.service.auth import parse_tokens
    from rnnvoice.service.errors import StartupError
    from rnnvoice.service.settings import ServerSettings
    from rnnvoice.service.workers import supervise

    try:
        environment = os.environ.get("RNNVOICE_TOKENS")
        settings = ServerSettings(
            **{name: getattr(args, name) for name, _ in SETTINGS},
            batching=not args.no_batching,
            grace_s=args.grace,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_client_ca=args.tls_client_ca,
            tokens=parse_tokens(environment, "RNNVOICE_TOKENS") if environment else (),
            tokens_file=args.tokens,
            contexts=parse_contexts(args.context),
        )
        if args.model:
            settings = dataclasses.replace(settings, models=parse_models(args.model))
        if settings.workers == 1:
            from rnnvoice.service.server import serve

            asyncio.run(serve(settings))
        else:
            asyncio.run(supervise(settings))
    except StartupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
