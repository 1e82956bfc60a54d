"""`rnnvoice stream`: streams a recording to a server and prints each result as it arrives."""

import argparse
import json
import sys

import grpc

from rnnvoice.clients.client import CELLS, TASKS, VoiceClient, read_audio, result_dict


def stream_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a recording: any rate, channels, PCM or float WAV (anything soundfile reads)")
    p.add_argument("--task", choices=("keywords", "transcription", "assistant"), default="keywords")
    p.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    p.add_argument("--server", default="localhost:50051", help="host:port of the server")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="audio per request")
    p.add_argument("--realtime", action="store_true", help="send at the pace of the audio, as a live source would")
    p.add_argument("--keywords", default="", help="comma-separated keywords to report (default all)")
    p.add_argument("--sensitivity", type=float, help="0 to 1 for every reported keyword (default 0.5)")
    p.add_argument("--interim", action="store_true",
                   help="also print partial transcripts, or each chunk's keyword scores for --task keywords")
    p.add_argument("--hint", action="append", default=[], help="a phrase the recogniser should favour; repeatable")
    p.add_argument("--endpoint-s", type=float, help="trailing silence that ends an utterance (default 0.35)")
    p.add_argument("--decoder", choices=("beam", "greedy"), default="beam")
    p.add_argument("--json", action="store_true", help="print one JSON object a line")


def describe(result: dict) -> str:
    if result["type"] in ("partial", "final"):
        return f"{result['start_s']:8.2f} - {result['end_s']:6.2f} s  {result['type']:<10} {result['text']}"
    if result["type"] == "intent":
        slots = ", ".join(f"{k}={v}" for k, v in result["slots"].items())
        return f"{result['start_s']:8.2f} - {result['end_s']:6.2f} s  intent     {result['intent']}({slots})  \"{result['text']}\""
    if result["type"] == "keyword":
        return f"{result['start_s']:8.2f} - {result['end_s']:6.2f} s  {result['keyword']:<10} score {result['score']:.2f}"
    if result["type"] == "scores":
        best = max(result["scores"].items(), key=lambda kv: kv[1], default=("-", 0.0))
        return f"{result['time_s']:8.2f} s   top {best[0]} {best[1]:.2f}"
    return (f"{result['audio_s']:.2f} s of audio in {result['chunks']} chunks, {result['frames']} frames, "
            f"{result['compute_s'] * 1000:.0f} ms compute, {result['detections']} detections, {result['finals']} finals")


def stream_command(args) -> int:
    audio = read_audio(args.file)
    keywords = [k for k in args.keywords.split(",") if k]
    with VoiceClient(args.server) as client:
        try:
            sensitivities = None
            if args.sensitivity is not None:
                if not keywords:
                    models = client.list_models()
                    keywords = next(list(m.keywords) for m in models
                                    if m.cell == CELLS[args.cell] and m.task == TASKS["keywords"])
                sensitivities = {k: args.sensitivity for k in keywords}
            responses = client.stream_audio(
                audio, args.cell, args.chunk_ms / 1000, args.realtime, task=args.task, keywords=keywords,
                sensitivities=sensitivities, interim_scores=args.interim and args.task == "keywords",
                interim_results=args.interim, phrase_hints=args.hint, endpoint_silence_s=args.endpoint_s,
                decoder=args.decoder)
            for response in responses:
                result = result_dict(response)
                print(json.dumps(result) if args.json else describe(result), flush=True)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    return 0
