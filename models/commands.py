"""Command-line front ends of the model work: `rnnvoice data`, `train` and `eval`."""

import argparse
import dataclasses
import json
from pathlib import Path

from rnnvoice.models.keyword_model import CELLS


def data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="corpus folder to write")
    p.add_argument("--speech-commands", type=Path, action="append", default=[],
                   help="a folder in Speech Commands layout (one subfolder per label); repeatable")
    p.add_argument("--fsdd", type=Path, action="append", default=[],
                   help="a folder of FSDD recordings ({digit}_{speaker}_{n}.wav); repeatable")
    p.add_argument("--noise", type=Path, help="a folder of background noise WAVs (Speech Commands' noise)")
    p.add_argument("--keyword-takes", type=int, default=150, help="synthetic takes of each keyword")
    p.add_argument("--unknown-takes", type=int, default=12, help="synthetic takes of each non-keyword word")
    p.add_argument("--phrase-takes", type=int, default=12, help="synthetic takes of each non-keyword phrase")
    p.add_argument("--heldout-fraction", type=float, default=0.25,
                   help="share of each source's speakers held out of training (whole speakers)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="synthesis processes")


def data_command(args) -> int:
    from collections import Counter

    from rnnvoice.models.corpus import build_corpus

    real = {f"speech_commands{i or ''}": path for i, path in enumerate(args.speech_commands)}
    real |= {f"fsdd{i or ''}": path for i, path in enumerate(args.fsdd)}
    clips = build_corpus(args.out, real, args.noise, args.keyword_takes, args.unknown_takes, args.phrase_takes,
                         args.heldout_fraction, args.seed, args.workers)
    for (source, split), n in sorted(Counter((c.source, c.split) for c in clips).items()):
        speakers = len({c.speaker for c in clips if c.source == source and c.split == split})
        print(f"{source:>16} {split:>8}: {n:6d} clips, {speakers:4d} speakers")
    print(f"wrote {args.out / 'manifest.jsonl'}")
    return 0


def train_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.models.train import TrainConfig

    p.add_argument("--corpus", required=True, help="folder written by `rnnvoice data`")
    p.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    p.add_argument("--cell", choices=CELLS, required=True)
    for field in dataclasses.fields(TrainConfig):
        if field.name not in ("corpus", "out", "cell"):
            p.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)


def train_command(args) -> int:
    from rnnvoice.models.train import TrainConfig, train

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    print(json.dumps(dataclasses.asdict(config)))
    print(f"wrote {train(config)}")
    return 0
