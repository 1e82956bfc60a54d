"""Chunk boundaries never change a result: random chunkings against the whole recording at once."""

import dataclasses
import functools

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnvoice.models.nets.checkpoint import load_model
from rnnvoice.models.streaming.keyword_stream import keyword_stream
from rnnvoice.models.streaming.transcription_stream import transcription_stream
from rnnvoice.models.weights import shipped_models
from tests.conftest import fixture_clip

RATES = (8000, 44100)
TRANSCRIBED = ("lights_awb.wav", "five_lucas.wav", "three_lucas.wav", "time_awb.wav")
# From single samples to several seconds, in any mixture.
chunk_sizes = st.lists(
    st.one_of(st.integers(1, 40), st.integers(41, 4000), st.integers(4001, 150000)), min_size=1, max_size=30
)
property_test = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def models():
    return {key: load_model(path) for key, path in shipped_models().items()}


def spoken(names: list[str], rate: int) -> torch.Tensor:
    """Real recordings joined with pauses, at `rate`."""
    pause = np.zeros(int(0.5 * rate), np.float32)
    parts = [pause]
    for name in names:
        parts += [fixture_clip(name, rate), pause]
    return torch.from_numpy(np.concatenate(parts))


def feed(stream, audio: torch.Tensor, sizes: list[int]) -> list:
    """Every output of a stream fed in chunks of the given sizes, in turn, then finished."""
    outputs, start, i = [], 0, 0
    while start < len(audio):
        n = sizes[i % len(sizes)]
        outputs.append(stream.accept(audio[start : start + n]))
        start, i = start + n, i + 1
    return outputs + [stream.finish()]


def detections_and_scores(model, rate: int, audio: torch.Tensor, sizes: list[int]):
    outputs = feed(keyword_stream(model, rate), audio, sizes)
    smoothed = np.concatenate([o.smoothed for o in outputs if o.smoothed is not None])
    return [d for o in outputs for d in o.detections], smoothed


def transcripts(model, rate: int, audio: torch.Tensor, sizes: list[int]):
    stream = transcription_stream(model, rate, decoder="beam", hints=["turn on the kitchen lights"])
    return [r for o in feed(stream, audio, sizes) for r in o.transcripts]


@functools.cache
def timeline(model, rate: int) -> list[tuple[float, str]]:
    """When each result of a 10 ms feed of TRANSCRIBED was decided, and its text ("" for a final): the same for
    every chunking, so worked out once."""
    results = transcripts(model, rate, spoken(TRANSCRIBED, rate), [rate // 100])
    return [(r.decided_s, "" if r.is_final else r.text) for r in results]


@pytest.mark.slow
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@property_test
@given(sizes=chunk_sizes)
def test_random_chunking_gives_the_same_detections_and_scores(models, cell, rate, sizes):
    model = models["keywords", cell]
    audio = spoken(["seven_lucas.wav", "yes_sc.wav", "stop_sc.wav"], rate)
    whole_detections, whole_scores = detections_and_scores(model, rate, audio, [len(audio)])
    detections, scores = detections_and_scores(model, rate, audio, sizes)
    assert len(whole_detections) >= 2  # there is something to keep the same
    assert scores.shape == whole_scores.shape
    np.testing.assert_allclose(scores, whole_scores, atol=1e-5)
    assert [(d.keyword, d.start_s, d.end_s) for d in detections] == [
        (d.keyword, d.start_s, d.end_s) for d in whole_detections
    ]
    np.testing.assert_allclose([d.score for d in detections], [d.score for d in whole_detections], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@property_test
@given(sizes=chunk_sizes)
def test_random_chunking_gives_the_same_transcripts(models, cell, rate, sizes):
    model = models["transcription", cell]
    audio = spoken(TRANSCRIBED, rate)
    whole = transcripts(model, rate, audio, [len(audio)])
    chunked = transcripts(model, rate, audio, sizes)
    finals = [r for r in chunked if r.is_final]
    whole_finals = [r for r in whole if r.is_final]
    assert len(finals) == len(whole_finals) >= 2
    for r, w in zip(finals, whole_finals):
        # Everything the same but the confidence, which is rounded to 1e-4 from scores equal to 1e-5.
        assert dataclasses.replace(r, confidence=0.0) == dataclasses.replace(w, confidence=0.0)
        assert r.confidence == pytest.approx(w.confidence, abs=2e-4)
    # A partial result is what a step-by-step decoding had read by the same moment of audio.
    # (A chunk that holds a whole utterance may carry its final and no partial, so partials are
    # required of the 10 ms feed only.)
    decided = timeline(model, rate)
    assert any(text for _, text in decided)
    partials = [r for r in chunked if not r.is_final]
    for r in partials:
        expected = [text for when, text in decided if when <= r.decided_s]
        assert expected and r.text == expected[-1]
