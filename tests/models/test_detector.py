"""Keyword decisions on synthetic posteriors: one word gives one detection, at the right time."""

import numpy as np
import pytest

from rnnvoice.models.streaming.keyword_detector import DetectorConfig, KeywordDetector, threshold_for

LABELS = ("_silence_", "_unknown_", "yes", "no")
STEP_S = 0.03


def posteriors(steps: int, bumps: list[tuple[int, int, str, float]]):
    """Silence everywhere, with (first, last, label, height) bumps; speech where a bump is."""
    p = np.zeros((steps, len(LABELS)))
    p[:, 0] = 1.0
    speech = np.zeros(steps)
    for first, last, label, height in bumps:
        p[first : last + 1] = 0.0
        p[first : last + 1, LABELS.index(label)] = height
        p[first : last + 1, 1] = 1.0 - height
        speech[max(0, first - 12) : first + 1] = 1.0  # the label starts as the word's speech ends
    return p, speech


def detector(**config) -> KeywordDetector:
    return KeywordDetector(LABELS, {"yes": 0.6, "no": 0.6}, STEP_S, DetectorConfig(**config))


def test_one_word_one_detection_with_its_times():
    p, speech = posteriors(200, [(50, 60, "yes", 0.9)])
    smoothed, found = detector().accept(p, speech)
    assert smoothed.shape == p.shape
    assert [d.keyword for d in found] == ["yes"]
    d = found[0]
    assert d.start_s == pytest.approx(38 * STEP_S, abs=STEP_S)
    assert d.end_s == pytest.approx(51 * STEP_S, abs=STEP_S)
    assert d.score >= 0.6


def test_a_wobbling_score_fires_once_and_repeated_words_fire_again():
    p, speech = posteriors(
        300,
        [
            (50, 54, "yes", 0.9),
            (55, 56, "yes", 0.65),
            (57, 62, "yes", 0.9),
            (150, 160, "yes", 0.9),
            (230, 240, "no", 0.8),
        ],
    )
    _, found = detector().accept(p, speech)
    assert [d.keyword for d in found] == ["yes", "yes", "no"]


def test_below_threshold_never_fires_and_sensitivity_lowers_the_bar():
    p, speech = posteriors(200, [(50, 60, "yes", 0.5)])
    assert detector().accept(p, speech)[1] == []
    sensitive = KeywordDetector(LABELS, {"yes": threshold_for(0.8, 0.6)}, STEP_S, DetectorConfig())
    assert [d.keyword for d in sensitive.accept(p, speech)[1]] == ["yes"]


def test_only_reported_keywords_fire():
    p, speech = posteriors(200, [(50, 60, "no", 0.9)])
    only_yes = KeywordDetector(LABELS, {"yes": 0.6}, STEP_S, DetectorConfig())
    assert only_yes.accept(p, speech)[1] == []


def as_logits(p: np.ndarray) -> np.ndarray:
    """What a model with pooled scores feeds the detector: logits, low for every class but where it hears one, and
    only weakly silence between words (its pooled silence score must not drown the keyword in the same window)."""
    logits = np.where(p > 0, 4 * p, -3.0)
    logits[:, 0] = np.where(p[:, 0] == 1.0, 0.5, -3.0)
    return logits


@pytest.mark.parametrize("config", [{}, {"pool_s": 0.6}], ids=["mean", "pooled"])
def test_chunking_does_not_change_decisions(config):
    p, speech = posteriors(300, [(50, 60, "yes", 0.9), (150, 160, "no", 0.7)])
    p = as_logits(p) if config else p
    whole_scores, whole = detector(**config).accept(p, speech)
    assert [d.keyword for d in whole] == ["yes", "no"]
    chunked, scores, found = detector(**config), [], []
    for start in range(0, 300, 7):
        s, d = chunked.accept(p[start : start + 7], speech[start : start + 7])
        scores.append(s)
        found += d
    assert found == whole
    np.testing.assert_allclose(np.concatenate(scores), whole_scores, atol=1e-9)


def test_sensitivity_maps_to_thresholds():
    assert threshold_for(0.5, 0.6) == pytest.approx(0.6)
    values = [threshold_for(s, 0.6) for s in np.linspace(0, 1, 11)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert values[0] == pytest.approx(0.99) and values[-1] == pytest.approx(0.05)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            threshold_for(bad, 0.6)


def test_pooled_scores_hold_a_short_peak_for_the_window():
    """A keyword the model is sure of for two steps, among steps where its logits are all low: a 4-step mean of
    per-step posteriors stays under the threshold, pooled scores pass it and hold it while the peak is in the window."""
    logits = np.full((200, len(LABELS)), -4.0)
    logits[:, 0] = -1.0  # silence, weakly, between words
    logits[50:52, 2] = 3.0  # "yes"
    speech = np.zeros(200)
    speech[40:52] = 1.0
    per_step = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert detector().accept(per_step, speech)[1] == []
    scores, found = detector(pool_s=0.6).accept(logits, speech)
    assert [d.keyword for d in found] == ["yes"]
    window = round(0.6 / STEP_S)
    assert (scores[50 : 51 + window, 2] > 0.6).all() and (scores[51 + window :, 2] < 0.6).all()
