"""`rnnvoice calibrate`: a keyword model's detection thresholds, tuned on held-out voices and saved in its file."""

import argparse
from pathlib import Path

HELP = "tune a keyword model's detection thresholds on held-out voices"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="a keyword checkpoint; its threshold is rewritten in place")
    p.add_argument("--corpus", type=Path, required=True, help="a corpus from `rnnvoice data`")
    p.add_argument("--source", default="tts", help="whose held-out speakers make the validation stream "
                   "(tts, speech_commands, fsdd); never tune on the speakers you report on")


def run(args) -> int:
    from rnnvoice.models.data.augment import NoiseBank
    from rnnvoice.models.data.corpus import read_manifest
    from rnnvoice.models.evaluation.keywords import calibrate_thresholds
    from rnnvoice.models.nets.checkpoint import load_model, save_model

    model = load_model(args.model)
    validation = [c for c in read_manifest(args.corpus) if c.split == "heldout" and c.source == args.source]
    noise = NoiseBank(sorted((args.corpus / "noise").glob("*.wav")))
    thresholds, trials = calibrate_thresholds(model, validation, noise)
    by_threshold = {t["threshold"]: t for t in trials}
    for k, threshold in thresholds.items():
        chosen = by_threshold[threshold]["keywords"][k]
        print(f"  {k:<10} threshold {threshold:.2f}: {chosen['hits']} hits, "
              f"{chosen['false_accepts_per_hour']:.1f} false accepts per hour")
    save_model(model, args.model, **{**model.metadata, "detector_thresholds": thresholds, "calibration": trials})
    print(f"wrote {args.model}")
    return 0
