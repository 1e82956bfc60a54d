"""`rnnvoice check-models`: every shipped model and beam search file loaded as the server loads them (the image build
runs it)."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

HELP = "load every shipped model and beam search file as the server does; exit 1 naming each that is missing or corrupt"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.models.weights import WEIGHTS

    p.add_argument("--weights", type=Path, default=WEIGHTS, help="folder of the models and the beam search's files")


def checks(folder: Path) -> list[tuple[Path, Callable[[Path], str]]]:
    """(file, a function that loads it as the server does and says what it holds), in the order the server loads."""
    from rnnvoice.models.decoding.ctc import (
        DECODER_FILE,
        LEXICON_FILE,
        LM_FILE,
        BeamSearch,
        DecoderConfig,
        read_lexicon,
    )
    from rnnvoice.models.nets.speech_embedding import EMBEDDING_FILE, SpeechEmbedding
    from rnnvoice.models.streaming.phrase_spotter import BACKGROUND_FILE, SpeechBackground
    from rnnvoice.models.weights import model_files
    from rnnvoice.service.registry import load_served_model

    def model(task: str, cell: str):
        def load(path: Path) -> str:
            c = load_served_model(path, task, cell).config
            return f"{task} {cell.upper()} model: {len(c.labels)} labels, {c.num_layers} x {c.hidden_size} units"

        return load

    def embedding(path: Path) -> str:
        source = SpeechEmbedding.load(path).metadata["source"]
        return f"speech embedding: {source['package']}=={source['version']}, SHA-256 as converted"

    def background(path: Path) -> str:
        return f"other speech for phrases: {SpeechBackground.load(path).metadata['steps']:,} embedding steps"

    return [
        *((path, model(task, cell)) for (task, cell), path in model_files(folder).items()),
        (folder / EMBEDDING_FILE, embedding),
        (folder / BACKGROUND_FILE, background),
        (folder / DECODER_FILE, lambda path: f"beam search settings: beam {DecoderConfig.load(path).beam_size}"),
        (folder / LEXICON_FILE, lambda path: f"lexicon: {len(read_lexicon(path))} words"),
        # Last: KenLM reads it with the lexicon's words, and the beam search with the settings.
        (folder / LM_FILE, lambda path: f"language model: read by KenLM over {len(BeamSearch(folder).words)} words"),
    ]


def run(args) -> int:
    """0 when every file loads; 1 otherwise, each failure named on stderr."""
    failures = []
    print(f"{'file':<28} {'bytes':>10}  {'status':<6}  what")
    for path, load in checks(args.weights):
        try:
            if not path.exists():
                raise FileNotFoundError("missing")
            status, what = "ok", load(path)
        except Exception as e:  # a report of every file, whatever broke it
            status, what = "FAILED", f"{type(e).__name__}: {' '.join(str(e).split())}"  # on one line
            failures.append(f"{path}: {what}")
        size = f"{path.stat().st_size:,}" if path.exists() else "-"
        print(f"{path.name:<28} {size:>10}  {status:<6}  {what}")
    for failure in failures:
        print(f"check-models: {failure}", file=sys.stderr)
    return 1 if failures else 0
