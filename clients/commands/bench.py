"""`rnnvoice bench`: GRU against LSTM under the same load, on a server of its own or a running one."""

import argparse
import contextlib
import json
from pathlib import Path

HELP = "GRU against LSTM under load: latency, real-time factor, memory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recording", help="a real recording (any format soundfile reads), streamed by every stream")
    p.add_argument("--server", help="host:port of a running server (default: start one on the shipped models)")
    p.add_argument("--metrics", help="that server's metrics URL, e.g. http://host:9100/metrics")
    p.add_argument("--cells", default="gru,lstm", help="comma-separated cells, run one after the other")
    p.add_argument("--streams", type=int, default=16, help="concurrent streams per cell")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="audio per request")
    p.add_argument("--fast", action="store_true", help="send as fast as the server takes it, not at the audio's pace")
    p.add_argument("--loops", type=int, default=3, help="times each stream plays the recording")
    p.add_argument("--json", type=Path, default=Path("reports/tmp/bench.json"), help="where to write the report")
    p.add_argument("--plot", type=Path, help="also draw the report as a PNG bar chart here")


def run(args) -> int:
    from rnnvoice.clients.bench import bench, table
    from rnnvoice.clients.load import cells_argument
    from rnnvoice.clients.local_server import local_server

    cells = cells_argument(args.cells)
    with contextlib.ExitStack() as stack:
        if args.server:
            target, metrics_url = args.server, args.metrics
        else:
            server = stack.enter_context(local_server())
            target, metrics_url = server.target, server.metrics_url
        report = bench(target, metrics_url, Path(args.recording), cells, args.streams, args.chunk_ms / 1000,
                       not args.fast, args.loops)
    pace = "as fast as possible" if args.fast else "in real time"
    print(f"{args.streams} concurrent streams per cell, {report['audio_s'] * args.loops:.1f} s of audio each, "
          f"{args.chunk_ms:g} ms chunks, sent {pace}")
    print(table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.json}")
    if args.plot:
        from rnnvoice.models.evaluation.plots import plot_bench

        plot_bench(report, args.plot)
        print(f"wrote {args.plot}")
    return 1 if any(c["failed_streams"] for c in report["cells"].values()) else 0
