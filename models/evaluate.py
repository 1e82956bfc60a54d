"""Accuracy of the keyword models on labelled clips, through the streaming code path."""

import numpy as np
import torch

from rnnvoice.models.corpus import Clip, load_clip
from rnnvoice.models.keyword_model import KeywordSpotter
from rnnvoice.models.keyword_stream import KeywordStream
from rnnvoice.models.vocabulary import SILENCE

# Below this peak posterior for every speech class, a clip is silence.
SPEECH_FLOOR = 0.3


def clip_label(smoothed: np.ndarray, labels: tuple[str, ...]) -> str:
    """A clip's class from its smoothed posteriors (S, C): the speech class with the highest peak."""
    if len(smoothed) == 0:
        return SILENCE
    peaks = smoothed.max(axis=0)
    peaks[labels.index(SILENCE)] = -1.0
    best = int(np.argmax(peaks))
    return labels[best] if peaks[best] >= SPEECH_FLOOR else SILENCE


def run_stream(model: KeywordSpotter, wave: torch.Tensor, rate: int):
    """Streams a whole recording; returns (detections, smoothed posteriors (S, C))."""
    stream = KeywordStream(model, rate)
    outputs = [stream.accept(wave), stream.finish()]
    smoothed = [o.smoothed for o in outputs if o.smoothed is not None]
    detections = [d for o in outputs for d in o.detections]
    return detections, np.concatenate(smoothed) if smoothed else np.zeros((0, len(model.config.labels)))


def classify_clips(model: KeywordSpotter, clips: list[Clip]) -> list[str]:
    """Each clip streamed on its own from a fresh state, classified by `clip_label`."""
    labels = model.config.labels
    rate = model.config.features.sample_rate
    return [clip_label(run_stream(model, load_clip(c.path, rate), rate)[1], labels) for c in clips]
