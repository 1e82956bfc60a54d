"""The task, keyword and transcription options that `rnnvoice stream` and `rnnvoice mic` share, and the stream
options they make."""

import argparse
from pathlib import Path

from rnnvoice.clients.errors import UsageError
from rnnvoice.models.types import Cell, Decoder, Task
from rnnvoice.models.vocabulary import WAKE_WORD


def task_name(name: str) -> str:
    """`asr`, the old name of the transcription task, is still accepted."""
    return Task.TRANSCRIPTION.value if name == "asr" else name


def phrase(text: str) -> tuple[str, float | None]:
    """`PHRASE` or `PHRASE=SENSITIVITY`."""
    name, _, value = text.rpartition("=")
    try:
        return (name, float(value)) if name else (text, None)
    except ValueError:
        return text, None


def add_stream_options(p: argparse.ArgumentParser, live: bool) -> None:
    """live: for a microphone, whose interim results are partial transcripts only (never keyword scores)."""
    from rnnvoice.clients.client import DECODERS
    from rnnvoice.clients.connection import DEFAULT_SERVER, add_connection_arguments

    p.add_argument(
        "--task", type=task_name, choices=[t.value for t in Task], default=Task.KEYWORDS.value, help="what to ask for"
    )
    p.add_argument("--cell", choices=[c.value for c in Cell], default=Cell.GRU.value, help="which model runs it")
    p.add_argument("--server", default=DEFAULT_SERVER, help="host:port of the server")
    add_connection_arguments(p)
    keywords = p.add_argument_group("keywords")
    keywords.add_argument(
        "--keywords",
        default="",
        help="comma-separated trained keywords to report (default: all of them, or none when --phrase is given)",
    )
    keywords.add_argument(
        "--phrase",
        type=phrase,
        action="append",
        default=[],
        metavar="PHRASE[=SENSITIVITY]",
        help='a keyword chosen at run time, spelled in words ("jarvis", "lights on=0.7"), '
        "spotted on the speech embedding; repeatable (default: none)",
    )
    keywords.add_argument(
        "--sensitivity",
        type=float,
        help="0 to 1 for every reported keyword and phrase without its own (default: the server's)",
    )
    transcription = p.add_argument_group("transcription")
    transcription.add_argument(
        "--interim",
        action=argparse.BooleanOptionalAction,
        default=live,
        help="partial transcripts" + ("" if live else ", or each chunk's keyword scores for --task keywords"),
    )
    transcription.add_argument(
        "--hint", action="append", default=[], help="a phrase the recogniser should favour; repeatable (default: none)"
    )
    transcription.add_argument(
        "--endpoint-s", type=float, help="trailing silence that ends an utterance (default: the server's)"
    )
    transcription.add_argument(
        "--initial-silence-s",
        type=float,
        help="silence before any speech that starts an utterance afresh, with no result (default: the server's)",
    )
    transcription.add_argument(
        "--max-utterance-s", type=float, help="an utterance this long ends with a final result (default: no limit)"
    )
    transcription.add_argument("--decoder", choices=list(DECODERS), default=Decoder.BEAM, help="the CTC decoder")
    transcription.add_argument(
        "--alternatives", type=int, default=0, help="final results carry up to this many alternatives (at most 10)"
    )
    assistant = p.add_argument_group("assistant")
    assistant.add_argument(
        "--context", default="", help="read commands within this context the server loaded (default: its intents)"
    )
    assistant.add_argument(
        "--context-file",
        type=Path,
        help="read commands within this context, Picovoice Rhino's YAML, sent with the stream (default: none)",
    )
    activity = p.add_argument_group("voice activity")
    activity.add_argument("--voice-events", action="store_true", help="print speech begin and end events")
    activity.add_argument(
        "--voice-timeout-s", type=float, help="end the stream after this long without speech (default: never)"
    )


def stream_options(args, client, live: bool) -> dict:
    """The keyword arguments of `stream_config` for the parsed options; asks the server for its keywords when a
    sensitivity is to apply to all of them."""
    from rnnvoice.clients.client import CELLS, TASKS

    keywords = [k for k in args.keywords.split(",") if k]
    default = args.sensitivity
    if default is not None and args.task == Task.TRANSCRIPTION:
        raise UsageError("--sensitivity is for --task keywords and assistant (the wake word)")
    phrases = {text: given if given is not None else default for text, given in args.phrase}
    if (args.context or args.context_file) and args.task != Task.ASSISTANT:
        raise UsageError("--context and --context-file are for --task assistant")
    sensitivities = None
    if default is not None and args.task != Task.TRANSCRIPTION and (keywords or not phrases):
        if not keywords and args.task == Task.ASSISTANT:
            keywords = [WAKE_WORD]
        elif not keywords:
            keywords = next(
                list(m.keywords)
                for m in client.list_models()
                if m.cell == CELLS[args.cell] and m.task == TASKS[Task.KEYWORDS]
            )
        sensitivities = {k: default for k in keywords}
    return dict(
        task=args.task,
        keywords=keywords,
        sensitivities=sensitivities,
        phrases=phrases,
        interim_scores=args.interim and args.task == Task.KEYWORDS and not live,
        interim_results=args.interim,
        phrase_hints=args.hint,
        endpoint_silence_s=args.endpoint_s,
        initial_silence_s=args.initial_silence_s,
        max_utterance_s=args.max_utterance_s,
        decoder=args.decoder,
        max_alternatives=args.alternatives,
        voice_activity_events=args.voice_events,
        voice_activity_timeout_s=args.voice_timeout_s,
        context=args.context,
        context_yaml=args.context_file.read_text() if args.context_file else "",
    )
