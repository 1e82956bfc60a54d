"""`rnnvoice lm`: the assistant domain's files, made offline and shipped beside the weights: from the sentence
generator, the beam search's word n-grams (ARPA), lexicon and decoder settings; and the built-in commands as a
context in Rhino's YAML."""

import argparse
from pathlib import Path

HELP = (
    "build the beam search's language model, lexicon and settings (models/weights/transcription_*) and the "
    "assistant's built-in context (models/weights/assistant_context.yml)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.models.weights import WEIGHTS

    p.add_argument("--out", type=Path, default=WEIGHTS, help="folder to write the four files into")
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
    from rnnvoice.models.nlu.assistant_context import ASSISTANT_CONTEXT_FILE, assistant_context_yaml

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
    (args.out / ASSISTANT_CONTEXT_FILE).write_text(assistant_context_yaml())
    print(f"{args.out / ASSISTANT_CONTEXT_FILE}: the built-in commands as a context")
    return 0
