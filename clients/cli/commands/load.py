"""`rnnvoice load`: many concurrent streams of one recording; latency as the client sees it."""

import argparse
import sys

HELP = "many concurrent streams of a recording: latency as the client sees it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.clients.connection import DEFAULT_SERVER, add_connection_arguments
    from rnnvoice.models.types import Cell

    p.add_argument("recording", help="a real recording (any format soundfile reads), streamed by every stream")
    p.add_argument("--server", default=DEFAULT_SERVER, help="host:port of the server or load balancer")
    add_connection_arguments(p)
    p.add_argument("--cells", default=",".join(Cell), help="comma-separated cells, run one after the other")
    p.add_argument("--streams", type=int, default=8, help="concurrent streams per cell")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="audio per request")
    p.add_argument("--fast", action="store_true", help="send as fast as the server takes it, not at the audio's pace")
    p.add_argument("--loops", type=int, default=1, help="times each stream plays the recording")


def run(args) -> int:
    from rnnvoice.clients.client import read_audio
    from rnnvoice.clients.connection import connection_from_args
    from rnnvoice.clients.load import cells_argument, run_load

    audio = read_audio(args.recording)
    connection = connection_from_args(args)
    failed = False
    for cell in cells_argument(args.cells):
        load = run_load(
            args.server, audio, cell, args.streams, args.chunk_ms / 1000, not args.fast, args.loops, connection
        )
        print(
            f"{cell}: {load.streams} streams, {len(load.latencies_s)} chunks in {load.wall_s:.1f} s, latency "
            f"median {load.latency_ms(50):.1f} ms, p90 {load.latency_ms(90):.1f} ms, p99 {load.latency_ms(99):.1f} ms, "
            f"real-time factor {load.real_time_factor:.4f}, {len(load.errors)} failed streams"
        )
        for error in sorted(set(load.errors)):
            print(f"  {error}", file=sys.stderr)
        failed |= bool(load.errors)
    return 1 if failed else 0
