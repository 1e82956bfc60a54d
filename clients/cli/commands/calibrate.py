"""`rnnvoice calibrate`: a keyword model's detection thresholds, tuned on its development speakers,
saved in its file."""

import argparse
from pathlib import Path

HELP = "tune a keyword model's detection thresholds on its training run's development speakers"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", type=Path, required=True, help="a keyword checkpoint; its threshold is rewritten in place"
    )
    p.add_argument("--corpus", type=Path, required=True, help="a corpus from `rnnvoice data`")
    p.add_argument(
        "--source",
        default="",
        help="only the development speakers of this source (speech_commands, "
        "fsdd; default: all real ones); they are the training run's own dev split, never held-out speakers",
    )


def run(args) -> int:
    from rnnvoice.models.data.augment import NoiseBank
    from rnnvoice.models.data.corpus import read_manifest, split_dev
    from rnnvoice.models.evaluation.keywords import calibrate_thresholds
    from rnnvoice.models.nets.checkpoint import load_model, save_model
    from rnnvoice.models.training.train import TrainConfig

    model = load_model(args.model)
    dev_fraction = model.metadata.get("train", {}).get("dev_fraction", TrainConfig.dev_fraction)
    validation = [
        c
        for c in split_dev(read_manifest(args.corpus), dev_fraction)
        if c.split == "dev" and args.source in ("", c.source)
    ]
    if not validation:
        raise SystemExit(f"{args.corpus} has no development speakers{' of ' + args.source if args.source else ''}")
    noise = NoiseBank(sorted((args.corpus / "noise").glob("*.wav")))
    thresholds, trials = calibrate_thresholds(model, validation, noise)
    by_threshold = {t["threshold"]: t for t in trials}
    for k, threshold in thresholds.items():
        chosen = by_threshold[threshold]["keywords"][k]
        print(
            f"  {k:<10} threshold {threshold:.2f}: {chosen['hits']} hits, "
            f"{chosen['false_accepts_per_hour']:.1f} false accepts per hour"
        )
    save_model(model, args.model, **{**model.metadata, "detector_thresholds": thresholds, "calibration": trials})
    print(f"wrote {args.model}")
    return 0
