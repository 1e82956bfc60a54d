"""`rnnvoice background`: the statistics of other speech that phrases chosen at run time are spotted against,
measured once and shipped beside the weights (models/weights/speech_background.pt)."""

import argparse
from pathlib import Path

HELP = "measure the speech embedding's statistics of other speech, for phrases chosen at run time"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.models.weights import WEIGHTS

    p.add_argument(
        "--speech-commands",
        type=Path,
        action="append",
        default=[],
        help="a folder in Speech Commands layout, whose training speakers' clips are measured; repeatable "
        "(default: none)",
    )
    p.add_argument("--heldout-fraction", type=float, default=0.25, help="share of speakers left out, as `data` does")
    p.add_argument("--voices-per-text", type=int, default=3, help="voices saying each everyday word and sentence")
    p.add_argument("--out", type=Path, default=WEIGHTS / "speech_background.pt", help="file to write")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")


def run(args) -> int:
    import torch

    from rnnvoice.models.data.corpus import scan_folder, split_by_speaker
    from rnnvoice.models.training.speech_background import measure_background

    torch.set_num_threads(1)
    clips = [c for folder in args.speech_commands for c in split_by_speaker(scan_folder(folder), args.heldout_fraction)]
    clips = [c for c in clips if c.split == "train"]
    background = measure_background(clips, args.voices_per_text, args.seed)
    background.save(args.out)
    print(f"{args.out}: {background.metadata['steps']:,} steps; {background.metadata}")
    return 0
