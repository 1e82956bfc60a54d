"""Keyword decisions from per-step posteriors: smoothing, thresholds, refractory period, timing."""

from dataclasses import dataclass, replace

import numpy as np
import torch

from rnnvoice.models.nets.keyword_spotter import pooled_logits

DEFAULT_SENSITIVITY = 0.5


@dataclass(frozen=True)
class DetectorConfig:
    # Moving average over this many steps before thresholds apply.
    smooth_steps: int = 4
    # Instead, when above 0: the detector is fed class logits and scores the softmax of each class's largest
    # logit over the last this many seconds (`pooled_logits`), for models trained so (ModelConfig.pool_s).
    pool_s: float = 0.0
    # Smoothed posterior a keyword must reach at sensitivity 0.5: more likely than every other class together.
    threshold: float = 0.5
    # After a detection no keyword fires for this long, and the same keyword only once
    # its score has fallen below half its threshold: one spoken word, one detection.
    refractory_s: float = 0.3
    # Speech activity: a run of speech ends after this much non-speech.
    speech_hangover_s: float = 0.15
    # A detection's start is at most this long before its end (words in running speech).
    max_word_s: float = 1.2


@dataclass(frozen=True)
class Detection:
    keyword: str
    score: float
    start_s: float
    end_s: float
    detected_s: float  # when the detector decided: the end of the step whose score crossed the threshold


def within_audio(detections: list[Detection], audio_s: float) -> list[Detection]:
    """Detections with their times cut to the audio the client sent (not the stream's silent tail)."""
    return [replace(d, start_s=min(d.start_s, audio_s), end_s=min(d.end_s, audio_s)) for d in detections]


def threshold_for(sensitivity: float, default: float) -> float:
    """Sensitivity 0..1 to a threshold: 0.5 is the tuned default, 1 fires most readily."""
    if not 0.0 <= sensitivity <= 1.0:
        raise ValueError(f"sensitivity {sensitivity} is outside 0 to 1")
    if sensitivity <= 0.5:
        threshold = 1.0 - (1.0 - default) * sensitivity / 0.5
    else:
        threshold = default * (1.0 - sensitivity) / 0.5
    return float(np.clip(threshold, 0.05, 0.99))


class KeywordDetector:
    """Stateful decisions for one stream, fed posteriors step by step in any chunking.

    posteriors: (S, C) class probabilities; speech: (S,) speech probabilities; step s ends
    at (s + 1) * step_s on the stream's clock. Every class is smoothed; only the reported
    keywords (K of them) can fire.
    """

    def __init__(self, labels: tuple[str, ...], thresholds: dict[str, float], step_s: float, config: DetectorConfig):
        self.config = config
        self.step_s = step_s
        self.keywords = list(thresholds)
        self.columns = np.array([labels.index(k) for k in self.keywords], dtype=int)
        self.thresholds = np.array([thresholds[k] for k in self.keywords])
        self.pool_steps = round(config.pool_s / step_s)
        # Earlier steps a window reaches back to: pooled, -inf before the stream had any; averaged, none at first.
        self.history = np.full((max(0, self.pool_steps - 1), len(labels)), -np.inf)
        self.steps = 0
        self.armed = np.ones(len(self.keywords), dtype=bool)
        self.quiet_until = 0
        self.refractory_steps = round(config.refractory_s / step_s)
        self.hangover_steps = max(1, round(config.speech_hangover_s / step_s))
        self.speech_onset = 0
        self.last_speech = -(10**9)

    def smooth(self, posteriors: np.ndarray) -> np.ndarray:
        """(S, C) -> (S, C): moving average of each class posterior, or pooled scores of logits (pool_s)."""
        if self.pool_steps:
            logits = np.concatenate([self.history, posteriors])
            self.history = logits[len(logits) - self.pool_steps + 1 :]
            return pooled_logits(torch.from_numpy(logits), self.pool_steps).softmax(-1).numpy()
        w = self.config.smooth_steps
        scores = np.concatenate([self.history, posteriors])
        self.history = scores[-(w - 1) :] if w > 1 else scores[:0]
        sums = np.cumsum(np.concatenate([np.zeros((1, scores.shape[1])), scores]), axis=0)
        first = len(scores) - len(posteriors)
        ends = np.arange(first, len(scores)) + 1
        # History holds up to w - 1 earlier steps, so early in the stream fewer are averaged.
        starts = np.maximum(ends - w, 0)
        counts = (ends - starts)[:, None]
        return (sums[ends] - sums[starts]) / counts

    def accept(self, posteriors: np.ndarray, speech: np.ndarray) -> tuple[np.ndarray, list[Detection]]:
        """Returns the smoothed posteriors (S, C) and the detections these steps made."""
        smoothed = self.smooth(posteriors)
        detections = []
        for i, scores in enumerate(smoothed[:, self.columns]):
            step = self.steps + i
            self._track_speech(step, speech[i] > 0.5)
            self.armed |= scores < self.thresholds / 2
            above = (scores >= self.thresholds) & self.armed
            if step < self.quiet_until or not above.any():
                continue
            k = int(np.argmax(np.where(above, scores, -1.0)))
            detections.append(self._detection(step, k, float(scores[k])))
            self.armed[k] = False
            self.quiet_until = step + self.refractory_steps
        self.steps += len(smoothed)
        return smoothed, detections

    def _track_speech(self, step: int, is_speech: bool) -> None:
        if not is_speech:
            return
        if step - self.last_speech > self.hangover_steps:
            self.speech_onset = step
        self.last_speech = step

    def _detection(self, step: int, k: int, score: float) -> Detection:
        # The word ends where speech last was; if speech stopped long ago, at this step.
        recent = step - self.last_speech <= 2 * self.hangover_steps + self.config.smooth_steps
        end_step = self.last_speech if recent else step
        start_step = self.speech_onset if recent else step - round(0.5 / self.step_s)
        end_s = (end_step + 1) * self.step_s
        start_s = max(start_step * self.step_s, end_s - self.config.max_word_s, 0.0)
        return Detection(
            self.keywords[k], score, round(start_s, 3), round(end_s, 3), round((step + 1) * self.step_s, 3)
        )
