"""Training streams mixed and featurised once, then drawn from a file by every run of the same data settings.

The speech embedding costs 17-30 ms of CPU per second of audio: for a small head it is nearly all of a training
step. So a run over the embedding can train on a fixed set of streams, made once by its own mixer (the clips of the
training speakers only, each stream with its draws of speed, level, noise, reverberation and telephone band fixed)
and shared by runs that differ in cell, size or optimiser. The file keeps each stream's events (where each word's
speech begins and ends, and its label), not its targets: a run's own mixer makes the targets from them when it draws
a batch, so runs whose targets differ (pooled scores, label windows) share the streams too.

Shapes: N streams, S steps, D feature dim.
"""

import logging
import math
import random
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from rnnvoice.models.data.mixing import StreamMixer

log = logging.getLogger(__name__)

__all__ = ["CACHE_BATCH", "StreamCache", "open_stream_cache"]

# Streams mixed and featurised at a time while building: the embedding's fastest batch of windows is reached.
CACHE_BATCH = 16

Events = list[tuple[int, int, str]]


class StreamCache:
    """Batches drawn at random from streams made in advance: a StreamMixer's `batch` and `rng`, over a file."""

    def __init__(
        self,
        features: torch.Tensor,
        events: list[Events],
        targets: Callable[[list[Events], int], tuple[torch.Tensor, ...]],
        seed: int = 0,
    ):
        self.features, self.events, self.targets = features, events, targets
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.features)

    def batch(self, size: int, augment: bool = True) -> tuple[torch.Tensor, ...]:
        """Features (B, S, D) as float and their targets, of `size` streams drawn with replacement."""
        rows = [self.rng.randrange(len(self)) for _ in range(size)]
        x = self.features[torch.tensor(rows)].float()
        return (x, *self.targets([self.events[r] for r in rows], x.shape[1]))


def build_stream_cache(mixer: StreamMixer, streams: int, path: Path, settings: dict) -> None:
    """Mixes and featurises `streams` streams with `mixer` and saves them at `path`, with the settings that made
    them; the features in half precision (a 10 s stream of embeddings: 24 kB)."""
    batches = tqdm(range(math.ceil(streams / CACHE_BATCH)), desc="caching streams", unit="batch")
    parts = [mixer.streams(CACHE_BATCH, augment=False) for _ in batches]
    features = torch.cat([x for x, _ in parts])[:streams]
    events = [[tuple(e) for e in stream] for _, part in parts for stream in part][:streams]
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a run started meanwhile never reads half a file.
    partial = path.with_suffix(".partial")
    torch.save({"settings": settings, "features": features.half(), "events": events}, partial)
    partial.replace(path)


def open_stream_cache(mixer: StreamMixer, streams: int, path: Path, settings: dict, seed: int) -> StreamCache:
    """The cache at `path`, built first if missing; one made with other settings is refused. Batches drawn from it
    carry `mixer`'s targets."""
    settings = {**settings, "streams": streams}
    if not path.exists():
        log.info("building a cache of %d streams at %s", streams, path)
        build_stream_cache(mixer, streams, path, settings)
    saved = torch.load(path, weights_only=True)
    if saved.get("settings") != settings or "events" not in saved:
        raise SystemExit(f"{path} holds streams of other settings ({saved.get('settings')}); delete it or name another")
    events = [[(int(a), int(b), str(label)) for a, b, label in stream] for stream in saved["events"]]
    return StreamCache(saved["features"], events, mixer.batch_targets, seed)
