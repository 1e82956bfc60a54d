"""The front end's steps of labelled clips, computed once and replayed into any model of that front end.

A clip is scored as a stream of its own (models/evaluation/keywords.py): its audio in one chunk, then the end of
the stream. What the front end makes of those two depends on the front end alone, not on the model reading it. So
every evaluation of a training run, and every run of a study, computes them once (for the speech embedding,
nearly all of a clip's cost) and hands them on to the model and its decisions as the stream would have.

Shapes: S steps, D feature dim.
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from rnnvoice.models.audio.features import FeatureConfig
from rnnvoice.models.data.augment import rms
from rnnvoice.models.data.corpus import Clip, load_clip
from rnnvoice.models.data.mixing import speech_extent
from rnnvoice.models.streaming.frontend import FrontEnd
from rnnvoice.models.vocabulary import SILENCE

__all__ = ["ClipSteps", "at_level", "clip_steps", "clip_wave"]


@dataclass(frozen=True)
class ClipSteps:
    chunk: torch.Tensor  # (S1, D): the steps the clip's audio completed
    end: torch.Tensor  # (S2, D): the steps the end of the stream completed (its silent tail)
    audio_s: float  # the audio the client sent


def at_level(wave: torch.Tensor, level_dbfs: float | None) -> torch.Tensor:
    """The recording with its speech at this RMS level (dBFS), as a nearer or farther microphone would have it;
    None leaves it as recorded."""
    if level_dbfs is None:
        return wave
    onset, offset = speech_extent(wave)
    return wave * (10 ** (level_dbfs / 20) / rms(wave[onset:offset]))


def clip_wave(clip: Clip, rate: int, level_dbfs: float | None) -> torch.Tensor:
    """A clip's audio at `rate`, its speech at the level (background-noise clips have no speech to set a level
    by: they stay as recorded)."""
    return at_level(load_clip(clip.path, rate), None if clip.label == SILENCE else level_dbfs)


def _steps(config: FeatureConfig, clip: Clip, level_dbfs: float | None) -> ClipSteps:
    front = FrontEnd(config, config.sample_rate)
    chunk = front.accept(clip_wave(clip, config.sample_rate, level_dbfs))
    return ClipSteps(chunk, front.accept(None), front.audio_s)


def clip_steps(
    config: FeatureConfig,
    clips: list[Clip],
    level_dbfs: float | None = None,
    cache: Path | None = None,
    progress: bool = False,
) -> list[ClipSteps]:
    """Each clip's front-end steps, from a file in `cache` named by the front end, the clips and the level when
    one is there (written there otherwise)."""
    key = json.dumps([asdict(config), [c.path for c in clips], level_dbfs], sort_keys=True, default=str)
    path = None if cache is None else Path(cache) / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.pt"
    if path is not None and path.exists():
        saved = torch.load(path, weights_only=True)
        return [ClipSteps(chunk, end, audio_s) for chunk, end, audio_s in saved]
    steps = [_steps(config, c, level_dbfs) for c in tqdm(clips, desc="front end", unit="clip", disable=not progress)]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: another run never reads half a file.
        partial = path.with_suffix(f".{os.getpid()}.partial")
        torch.save([(s.chunk, s.end, s.audio_s) for s in steps], partial)
        partial.replace(path)
    return steps
