"""Training streams mixed and featurised once, then drawn from a file by every run of the same data settings.

The speech embedding costs 17-30 ms of CPU per second of audio: for a small head it is nearly all of a training
step. So a run over the embedding can train on a fixed set of streams, made once by its own mixer (the clips of the
training speakers only, each stream with its draws of speed, level, noise, reverberation and telephone band fixed)
and shared by runs that differ in cell, size or optimiser.

Shapes: N streams, S steps, D feature dim.
"""

import logging
import math
import random
from pathlib import Path

import torch
from tqdm import tqdm

from rnnvoice.models.data.mixing import StreamMixer

log = logging.getLogger(__name__)

__all__ = ["CACHE_BATCH", "StreamCache", "open_stream_cache"]

# Streams mixed and featurised at a time while building: the embedding's fastest batch of windows is reached.
CACHE_BATCH = 16


class StreamCache:
    """Batches drawn at random from streams made in advance: a StreamMixer's `batch` and `rng`, over a file."""

    def __init__(self, tensors: tuple[torch.Tensor, ...], seed: int = 0):
        self.tensors = tensors
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def batch(self, size: int, augment: bool = True) -> tuple[torch.Tensor, ...]:
        """Features (B, S, D) as float and the targets, of `size` streams drawn with replacement."""
        rows = torch.tensor([self.rng.randrange(len(self)) for _ in range(size)])
        x, *targets = (t[rows] for t in self.tensors)
        return (x.float(), *targets)


def build_stream_cache(mixer: StreamMixer, streams: int, path: Path, settings: dict) -> None:
    """Mixes and featurises `streams` streams with `mixer` and saves them at `path`, with the settings that made
    them; the features in half precision (a 10 s stream of embeddings: 24 kB)."""
    batches = tqdm(range(math.ceil(streams / CACHE_BATCH)), desc="caching streams", unit="batch")
    parts = [mixer.batch(CACHE_BATCH, augment=False) for _ in batches]
    x, *targets = (torch.cat(column)[:streams] for column in zip(*parts))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a run started meanwhile never reads half a file.
    partial = path.with_suffix(".partial")
    torch.save({"settings": settings, "tensors": (x.half(), *targets)}, partial)
    partial.replace(path)


def open_stream_cache(mixer: StreamMixer, streams: int, path: Path, settings: dict, seed: int) -> StreamCache:
    """The cache at `path`, built first if missing; one made with other settings is refused."""
    settings = {**settings, "streams": streams}
    if not path.exists():
        log.info("building a cache of %d streams at %s", streams, path)
        build_stream_cache(mixer, streams, path, settings)
    saved = torch.load(path, weights_only=True)
    if saved["settings"] != settings:
        raise SystemExit(f"{path} holds streams of other settings ({saved['settings']}); delete it or name another")
    return StreamCache(tuple(saved["tensors"]), seed)
