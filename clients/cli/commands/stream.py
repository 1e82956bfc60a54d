"""`rnnvoice stream`: streams a recording to a server and prints each result as it arrives."""

import argparse
import json
import sys

from rnnvoice.clients.cli.options import add_stream_options

HELP = "stream a recording to a server and print results"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", help="a recording: any rate, channels, PCM, float, mu-law or A-law WAV (anything soundfile reads)"
    )
    add_stream_options(p, live=False)
    p.add_argument("--chunk-ms", type=float, default=100.0, help="audio per request")
    p.add_argument("--realtime", action="store_true", help="send at the pace of the audio, as a live source would")
    p.add_argument("--json", action="store_true", help="print one JSON object a line")


def run(args) -> int:
    import grpc

    from rnnvoice.clients.cli.options import stream_options
    from rnnvoice.clients.client import VoiceClient, describe, read_audio, result_dict
    from rnnvoice.clients.connection import connection_from_args

    audio = read_audio(args.file)
    with VoiceClient(args.server, connection=connection_from_args(args)) as client:
        try:
            options = stream_options(args, client, live=False)
            for response in client.stream_audio(audio, args.cell, args.chunk_ms / 1000, args.realtime, **options):
                result = result_dict(response)
                print(json.dumps(result) if args.json else describe(result), flush=True)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    return 0
