"""`KeywordDetector.accept` for many streams at once: the same decisions, taken as array operations over streams.

A batched engine step hands every keyword stream's new posteriors over together; stepping each detector in
NumPy on its own costs more than the model. Here the state of each detector is gathered into arrays, the steps
are walked once for all streams (S steps, not B x S), and the state is written back: each detector ends as its
own `accept` would have left it, with the same detections and smoothed posteriors (see tests/models/test_detector.py).

Shapes: B detectors, S steps (the most any of them got), C classes, K reported keywords.
"""

import numpy as np

from rnnvoice.models.streaming.keyword_detector import Detection, KeywordDetector

__all__ = ["accept_together"]


def accept_together(
    detectors: list[KeywordDetector], posteriors: list[np.ndarray], speech: list[np.ndarray]
) -> list[tuple[np.ndarray, list[Detection]]]:
    """Each detector's `accept(posteriors[b], speech[b])`: (S_b, C) and (S_b,), S_b >= 1."""
    groups: dict[tuple, list[int]] = {}
    for b, d in enumerate(detectors):
        # Streams decide together when their decisions have the same shape and timing constants.
        key = (len(d.thresholds), d.history.shape[1], d.refractory_steps, d.hangover_steps)
        groups.setdefault(key, []).append(b)
    results: list = [None] * len(detectors)
    for members in groups.values():
        outs = _decide([detectors[b] for b in members], [posteriors[b] for b in members], [speech[b] for b in members])
        for b, out in zip(members, outs):
            results[b] = out
    return results


def _smooth(detectors: list[KeywordDetector], posteriors: list[np.ndarray], steps: int) -> np.ndarray:
    """Every detector's `smooth`, padded to (B, S, C); the moving averages in one go where they share a window."""
    windows = {d.config.smooth_steps for d in detectors}
    if len(windows) > 1 or any(d.pool_steps for d in detectors):  # another smoothing: each detector its own
        out = np.zeros((len(detectors), steps, detectors[0].history.shape[1]))
        for b, (d, p) in enumerate(zip(detectors, posteriors)):
            out[b, : len(p)] = d.smooth(p)
        return out
    w = windows.pop()
    # History zero-padded at the front to w - 1 steps: leading zeros add nothing to the running sums, so every
    # window sums exactly what `smooth` sums; the count says how many steps a young stream really has.
    scores = np.zeros((len(detectors), w - 1 + steps, detectors[0].history.shape[1]))
    for b, (d, p) in enumerate(zip(detectors, posteriors)):
        scores[b, w - 1 - len(d.history) : w - 1] = d.history
        scores[b, w - 1 : w - 1 + len(p)] = p
    sums = np.cumsum(np.concatenate([np.zeros_like(scores[:, :1]), scores], axis=1), axis=1)
    seen = np.array([d.steps for d in detectors])[:, None] + np.arange(1, steps + 1)
    counts = np.minimum(seen, w)[:, :, None]
    smoothed = (sums[:, w : w + steps] - sums[:, :steps]) / counts
    for b, (d, p) in enumerate(zip(detectors, posteriors)):
        kept = min(len(d.history) + len(p), w - 1)
        d.history = scores[b, w - 1 + len(p) - kept : w - 1 + len(p)].copy()
    return smoothed


def _decide(
    detectors: list[KeywordDetector], posteriors: list[np.ndarray], speech: list[np.ndarray]
) -> list[tuple[np.ndarray, list[Detection]]]:
    lengths = np.array([len(p) for p in posteriors])
    steps = int(lengths.max())
    smoothed = _smooth(detectors, posteriors, steps)
    first = detectors[0]
    columns = np.stack([d.columns for d in detectors])
    thresholds = np.stack([d.thresholds for d in detectors])
    scores = np.take_along_axis(smoothed, columns[:, None, :], axis=2)  # (B, S, K)
    is_speech = np.zeros((len(detectors), steps), dtype=bool)
    for b, s in enumerate(speech):
        is_speech[b, : len(s)] = s > 0.5
    armed = np.stack([d.armed for d in detectors])
    step = np.array([d.steps for d in detectors])
    quiet_until = np.array([d.quiet_until for d in detectors])
    speech_onset = np.array([d.speech_onset for d in detectors])
    last_speech = np.array([d.last_speech for d in detectors])
    detections: list[list[Detection]] = [[] for _ in detectors]
    for i in range(steps):
        live = i < lengths
        heard = is_speech[:, i] & live
        speech_onset = np.where(heard & (step - last_speech > first.hangover_steps), step, speech_onset)
        last_speech = np.where(heard, step, last_speech)
        row = scores[:, i]
        armed |= (row < thresholds / 2) & live[:, None]
        above = (row >= thresholds) & armed & live[:, None]
        for b in np.flatnonzero(above.any(axis=1) & (step >= quiet_until)):
            d, k = detectors[b], int(np.argmax(np.where(above[b], row[b], -1.0)))
            d.speech_onset, d.last_speech = int(speech_onset[b]), int(last_speech[b])  # as `accept` has them here
            detections[b].append(d._detection(int(step[b]), k, float(row[b, k])))
            armed[b, k] = False
            quiet_until[b] = step[b] + first.refractory_steps
        step = step + live
    for b, d in enumerate(detectors):
        d.armed, d.steps, d.quiet_until = armed[b], int(step[b]), int(quiet_until[b])
        d.speech_onset, d.last_speech = int(speech_onset[b]), int(last_speech[b])
    return [(smoothed[b, : lengths[b]], detections[b]) for b in range(len(detectors))]
