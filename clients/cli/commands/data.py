"""`rnnvoice data`: a training corpus of synthetic and real speech and noise, whole speakers held out."""

import argparse
from pathlib import Path

from rnnvoice.models.types import MODEL_TASKS, Task

HELP = "build a training corpus: synthetic and real speech, noise"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--task", choices=[t.value for t in MODEL_TASKS], default=Task.KEYWORDS.value, help="the corpus of which task"
    )
    p.add_argument("--out", type=Path, help="corpus folder to write (needed unless --list-voices)")
    p.add_argument("--list-voices", action="store_true", help="list the text-to-speech voices installed and exit")
    p.add_argument(
        "--speech-commands",
        type=Path,
        action="append",
        default=[],
        help="a folder in Speech Commands layout (one subfolder per label); repeatable (default: none)",
    )
    p.add_argument(
        "--fsdd",
        type=Path,
        action="append",
        default=[],
        help="a folder of FSDD recordings ({digit}_{speaker}_{n}.wav); repeatable (default: none)",
    )
    p.add_argument(
        "--noise", type=Path, help="a folder of background noise WAVs (Speech Commands' noise; default: none)"
    )
    p.add_argument("--keyword-takes", type=int, default=150, help="synthetic takes of each keyword")
    p.add_argument("--unknown-takes", type=int, default=12, help="synthetic takes of each non-keyword word")
    p.add_argument("--phrase-takes", type=int, default=12, help="synthetic takes of each non-keyword phrase")
    p.add_argument("--sentences", type=int, default=8000, help="transcription: synthetic commands to speak")
    p.add_argument(
        "--digit-strings",
        type=int,
        default=2000,
        help="transcription: real FSDD digit strings to join (and half as many of Speech Commands' digits)",
    )
    p.add_argument("--voices", default="", help="transcription: comma-separated voice names to speak in (default all)")
    p.add_argument(
        "--heldout-fraction",
        type=float,
        default=0.25,
        help="share of each real source's speakers held out of training, whole speakers (the "
        "same ones for both tasks); transcription holds out a tenth of the synthetic voices",
    )
    p.add_argument(
        "--calls",
        type=Path,
        help="WUW Corpus II. Keywords: its training calls' talk joins the corpus as other speech; transcription: "
        "its training calls' sentences join train/, the others are held out by call (default: none)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument("--workers", type=int, default=2, help="synthesis processes")


def run(args) -> int:
    from collections import Counter

    from rnnvoice.models.audio.speech_synthesis import available_voices
    from rnnvoice.models.data.corpus import build_corpus
    from rnnvoice.models.data.transcription_corpus import build_transcription_corpus

    if args.list_voices:
        print("\n".join(v.name for v in available_voices()))
        return 0
    if args.out is None:
        raise SystemExit("--out is required")
    if args.task == Task.TRANSCRIPTION:
        if len(args.fsdd) > 1:
            raise SystemExit("--task transcription takes one --fsdd folder")
        written = build_transcription_corpus(
            args.out,
            args.fsdd[0] if args.fsdd else None,
            args.noise,
            args.sentences,
            args.digit_strings,
            heldout_fraction=0.1,
            voice_names=[v for v in args.voices.split(",") if v] or None,
            seed=args.seed,
            workers=args.workers,
            speech_commands=args.speech_commands,
            speech_commands_heldout=args.heldout_fraction,
            calls=args.calls,
        )
        for part, n in written.items():
            print(f"{part:>24}: {n:6d} recordings, {args.out / part / 'transcripts.tsv'}")
        return 0

    real = {f"speech_commands{i or ''}": path for i, path in enumerate(args.speech_commands)}
    real |= {f"fsdd{i or ''}": path for i, path in enumerate(args.fsdd)}
    clips = build_corpus(
        args.out,
        real,
        args.noise,
        args.keyword_takes,
        args.unknown_takes,
        args.phrase_takes,
        args.heldout_fraction,
        args.seed,
        args.workers,
        args.calls,
    )
    for (source, split), n in sorted(Counter((c.source, c.split) for c in clips).items()):
        speakers = len({c.speaker for c in clips if c.source == source and c.split == split})
        print(f"{source:>16} {split:>8}: {n:6d} clips, {speakers:4d} speakers")
    print(f"wrote {args.out / 'manifest.jsonl'}")
    return 0
