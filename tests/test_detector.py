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
    p, speech = posteriors(300, [(50, 54, "yes", 0.9), (55, 56, "yes", 0.65), (57, 62, "yes", 0.9),
                                 (150, 160, "yes", 0.9), (230, 240, "no", 0.8)])
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


def test_chunking_does_not_change_decisions():
    p, speech = posteriors(300, [(50, 60, "yes", 0.9), (150, 160, "no", 0.7)])
    whole_scores, whole = detector().accept(p, speech)
    chunked, scores, found = detector(), [], []
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
