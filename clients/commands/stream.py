"""`rnnvoice stream`: streams a recording to a server and prints each result as it arrives."""

import argparse
import json
import sys

from rnnvoice.models.types import Cell, Task

HELP = "stream a recording to a server and print results"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.clients.connection import add_connection_arguments

    p.add_argument("file", help="a recording: any rate, channels, PCM or float WAV (anything soundfile reads)")
    p.add_argument("--task", choices=[t.value for t in Task], default=Task.KEYWORDS.value, help="what to ask for")
    p.add_argument("--cell", choices=[c.value for c in Cell], default=Cell.GRU.value, help="which model runs it")
    p.add_argument("--server", default="localhost:50051", help="host:port of the server")
    add_connection_arguments(p)
    p.add_argument("--chunk-ms", type=float, default=100.0, help="audio per request")
    p.add_argument("--realtime", action="store_true", help="send at the pace of the audio, as a live source would")
    p.add_argument("--keywords", default="", help="comma-separated keywords to report (default all)")
    p.add_argument("--sensitivity", type=float,
                   help="0 to 1 for every reported keyword, or the wake word with --task assistant (default 0.5)")
    p.add_argument("--interim", action="store_true",
                   help="also print partial transcripts, or each chunk's keyword scores for --task keywords")
    p.add_argument("--hint", action="append", default=[], help="a phrase the recogniser should favour; repeatable")
    p.add_argument("--endpoint-s", type=float, help="trailing silence that ends an utterance (default 0.35)")
    p.add_argument("--decoder", choices=("beam", "greedy"), default="beam", help="transcription: the CTC decoder")
    p.add_argument("--json", action="store_true", help="print one JSON object a line")


def run(args) -> int:
    import grpc

    from rnnvoice.clients.client import CELLS, TASKS, VoiceClient, describe, read_audio, result_dict
    from rnnvoice.clients.connection import connection_from_args
    from rnnvoice.clients.errors import UsageError
    from rnnvoice.models.vocabulary import WAKE_WORD

    audio = read_audio(args.file)
    keywords = [k for k in args.keywords.split(",") if k]
    if args.sensitivity is not None and args.task == Task.TRANSCRIPTION:
        raise UsageError("--sensitivity is for --task keywords and assistant (the wake word)")
    with VoiceClient(args.server, connection=connection_from_args(args)) as client:
        try:
            sensitivities = None
            if args.sensitivity is not None:
                if args.task == Task.ASSISTANT:
                    keywords = [WAKE_WORD]  # the one keyword assistant mode listens for
                elif not keywords:
                    models = client.list_models()
                    keywords = next(list(m.keywords) for m in models
                                    if m.cell == CELLS[args.cell] and m.task == TASKS[Task.KEYWORDS])
                sensitivities = {k: args.sensitivity for k in keywords}
            responses = client.stream_audio(
                audio, args.cell, args.chunk_ms / 1000, args.realtime, task=args.task, keywords=keywords,
                sensitivities=sensitivities, interim_scores=args.interim and args.task == Task.KEYWORDS,
                interim_results=args.interim, phrase_hints=args.hint, endpoint_silence_s=args.endpoint_s,
                decoder=args.decoder)
            for response in responses:
                result = result_dict(response)
                print(json.dumps(result) if args.json else describe(result), flush=True)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    return 0
