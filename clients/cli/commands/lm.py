"""`rnnvoice lm`: the recogniser's beam search files, made offline from the sentence generator and shipped
beside the weights: the domain's word n-grams (ARPA), the lexicon and the decoder settings."""

import argparse
from pathlib import Path

HELP = "build the beam search's language model, lexicon and settings (models/weights/transcription_*)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.models.weights import WEIGHTS

    p.add_argument("--out", type=Path, default=WEIGHTS, help="folder to write the three files into")
    p.add_argument("--sentences", type=int, default=60000, help="generated commands to count n-grams over")
    p.add_argument("--order", type=int, default=4, help="longest n-gram")
    p.add_argument("--seed", type=int, default=0, help="seed of the sentence generator")


def run(args) -> int:
    import dataclasses
    import json
    import random

    from rnnvoice.models.data.sentences import generate_command
    from rnnvoice.models.decoding.ctc import DECODER_FILE, LEXICON_FILE, LM_FILE, DecoderConfig, write_lexicon
    from rnnvoice.models.decoding.witten_bell import WittenBellNgrams

    rng = random.Random(args.seed)
    ngrams = WittenBellNgrams((generate_command(rng)[0] for _ in range(args.sentences)), args.order)
    args.out.mkdir(parents=True, exist_ok=True)
    counts = ngrams.write_arpa(args.out / LM_FILE)
    write_lexicon(sorted(ngrams.vocabulary), args.out / LEXICON_FILE)
    settings = dataclasses.asdict(DecoderConfig()) | {
        "language_model": {
            "file": LM_FILE,
            "smoothing": "Witten-Bell, interpolated, written as backoff weights",
            "order": args.order,
            "sentences": args.sentences,
            "seed": args.seed,
            "ngrams": counts,
        }
    }
    (args.out / DECODER_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    print(f"{args.out / LM_FILE}: {', '.join(f'{n}-grams {c:,}' for n, c in counts.items())}")
    print(f"{args.out / LEXICON_FILE}: {len(ngrams.vocabulary)} words")
    print(f"{args.out / DECODER_FILE}: {json.dumps(dataclasses.asdict(DecoderConfig()))}")
    return 0
