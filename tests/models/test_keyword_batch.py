"""Keyword detectors stepped together (`accept_together`) decide exactly as each stepped alone (`accept`): the same
detections, smoothed posteriors and state, whatever the streams' chunks, thresholds and detector settings."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnvoice.models.streaming.keyword_batch import accept_together
from rnnvoice.models.streaming.keyword_detector import DetectorConfig, KeywordDetector

LABELS = ("_silence_", "_unknown_", "yes", "no", "up")
STEP_S = 0.03

configs = st.builds(
    DetectorConfig,
    smooth_steps=st.integers(1, 5),
    refractory_s=st.sampled_from([0.0, 0.09, 0.3]),
    speech_hangover_s=st.sampled_from([0.03, 0.15]),
    pool_s=st.sampled_from([0.0, 0.0, 0.09]),
)
detectors = st.tuples(configs, st.dictionaries(st.sampled_from(LABELS[2:]), st.floats(0.2, 0.9), min_size=1))
# A stream: its detector, a seed for its posteriors, and at each tick the steps it sends (0: none).
streams = st.lists(
    st.tuples(detectors, st.integers(0, 2**16), st.lists(st.integers(0, 6), min_size=1, max_size=30)),
    min_size=1,
    max_size=5,
)


def posteriors(seed: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Mostly silence, with words: a label's posterior rising and falling over a few steps, speech before it."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(len(LABELS)) * 0.3, steps)
    for start in rng.integers(0, max(1, steps), size=steps // 8):
        word = slice(start, start + int(rng.integers(2, 8)))
        p[word] *= 0.1
        p[word, rng.integers(2, len(LABELS))] += 0.9
    speech = (rng.random(steps) < 0.4).astype(float)
    return p, speech


def state(d: KeywordDetector) -> tuple:
    return (d.history.tolist(), d.steps, d.armed.tolist(), d.quiet_until, d.speech_onset, d.last_speech)


@settings(max_examples=150, deadline=None)
@given(streams)
def test_detectors_stepped_together_decide_as_each_alone(plans):
    def make(config, thresholds):
        return KeywordDetector(LABELS, thresholds, STEP_S, config)

    alone = [make(*d) for d, _, _ in plans]
    together = [make(*d) for d, _, _ in plans]
    signals = [posteriors(seed, sum(ticks)) for _, seed, ticks in plans]
    sent = [0] * len(plans)
    for tick in range(max(len(ticks) for _, _, ticks in plans)):
        chunks = []  # (stream, its posteriors and speech this tick)
        for b, (_, _, ticks) in enumerate(plans):
            n = ticks[tick] if tick < len(ticks) else 0
            if n:
                p, speech = signals[b]
                chunks.append((b, p[sent[b] : sent[b] + n], speech[sent[b] : sent[b] + n]))
                sent[b] += n
        if not chunks:
            continue
        outs = accept_together(
            [together[b] for b, _, _ in chunks], [p for _, p, _ in chunks], [s for _, _, s in chunks]
        )
        for (b, p, speech), (smoothed, detections) in zip(chunks, outs):
            want_smoothed, want = alone[b].accept(p, speech)
            assert detections == want
            np.testing.assert_array_equal(smoothed, want_smoothed)
            assert state(together[b]) == state(alone[b])


def test_a_word_fires_once_in_the_stream_that_says_it_and_nowhere_else():
    config = DetectorConfig()
    quiet, word = np.tile([[1.0, 0, 0, 0, 0]], (40, 1)), np.tile([[1.0, 0, 0, 0, 0]], (40, 1))
    word[10:20] = [0, 0.1, 0.9, 0, 0]
    speech = np.zeros(40)
    speech[5:10] = 1.0
    ds = [KeywordDetector(LABELS, {"yes": 0.6, "no": 0.6}, STEP_S, config) for _ in range(3)]
    outs = accept_together(ds, [quiet, word, quiet], [speech] * 3)
    assert [len(d) for _, d in outs] == [0, 1, 0]
    detection = outs[1][1][0]
    assert (detection.keyword, detection.start_s, detection.end_s) == ("yes", 0.15, 0.3)
