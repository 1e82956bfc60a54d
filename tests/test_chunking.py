"""Chunk boundaries never change a result: random chunkings against the whole recording at once."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnvoice.models.recurrent import load_model
from rnnvoice.models.keyword_stream import KeywordStream
from rnnvoice.models.transcription_stream import TranscriptionStream
from rnnvoice.models.weights import shipped_models
from tests.conftest import fixture_clip

RATES = (8000, 44100)


@pytest.fixture(scope="module")
def models():
    return {cell: load_model(path) for (task, cell), path in shipped_models().items() if task == "keywords"}


def spoken_words(rate: int) -> torch.Tensor:
    """Real keywords joined with pauses, about five seconds at `rate`."""
    pause = np.zeros(int(0.4 * rate), np.float32)
    parts = [pause]
    for name in ("seven_lucas.wav", "yes_sc.wav", "stop_sc.wav"):
        parts += [fixture_clip(name, rate), pause]
    return torch.from_numpy(np.concatenate(parts))


def run(model, rate: int, audio: torch.Tensor, sizes: list[int]):
    stream = KeywordStream(model, rate)
    outputs, start, i = [], 0, 0
    while start < len(audio):
        n = sizes[i % len(sizes)]
        outputs.append(stream.accept(audio[start : start + n]))
        start, i = start + n, i + 1
    outputs.append(stream.finish())
    smoothed = np.concatenate([o.smoothed for o in outputs if o.smoothed is not None])
    return [d for o in outputs for d in o.detections], smoothed


# From single samples to several seconds, in any mixture.
chunk_sizes = st.lists(st.one_of(st.integers(1, 40), st.integers(41, 4000), st.integers(4001, 150000)),
                       min_size=1, max_size=30)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=chunk_sizes)
def test_random_chunking_gives_the_same_detections_and_scores(models, cell, rate, sizes):
    model = models[cell]
    audio = spoken_words(rate)
    whole_detections, whole_scores = run(model, rate, audio, [len(audio)])
    detections, scores = run(model, rate, audio, sizes)
    assert len(whole_detections) >= 2  # there is something to keep the same
    assert scores.shape == whole_scores.shape
    np.testing.assert_allclose(scores, whole_scores, atol=1e-5)
    assert [(d.keyword, d.start_s, d.end_s) for d in detections] == \
        [(d.keyword, d.start_s, d.end_s) for d in whole_detections]
    np.testing.assert_allclose([d.score for d in detections], [d.score for d in whole_detections], atol=1e-5)


def transcribe(model, audio: torch.Tensor, sizes: list[int], rate: int):
    stream = TranscriptionStream(model, rate, decoder="beam", hints=["turn on the kitchen lights"])
    results, start, i = [], 0, 0
    while start < len(audio):
        n = sizes[i % len(sizes)]
        results += stream.accept(audio[start : start + n]).results
        start, i = start + n, i + 1
    return results + stream.finish().results


def spoken_commands(rate: int) -> torch.Tensor:
    pause = np.zeros(int(0.6 * rate), np.float32)
    parts = [pause]
    for name in ("lights_awb.wav", "five_lucas.wav", "three_lucas.wav", "time_awb.wav"):
        parts += [fixture_clip(name, rate), pause]
    return torch.from_numpy(np.concatenate(parts))


@pytest.fixture(scope="module")
def recognizers():
    return {cell: load_model(path) for (task, cell), path in shipped_models().items() if task == "transcription"}


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=chunk_sizes)
def test_random_chunking_gives_the_same_transcripts(recognizers, cell, rate, sizes):
    model = recognizers[cell]
    audio = spoken_commands(rate)
    whole = transcribe(model, audio, [len(audio)], rate)
    chunked = transcribe(model, audio, sizes, rate)
    finals = [r for r in chunked if r.is_final]
    assert [r for r in whole if r.is_final] == finals and len(finals) >= 2
    # A partial result is what a step-by-step decoding had read by the same moment of audio.
    timeline, text = [], ""
    for r in transcribe(model, audio, [max(1, rate // 100)], rate):
        text = "" if r.is_final else r.text
        timeline.append((r.decided_s, text))
    partials = [r for r in chunked if not r.is_final]
    assert partials
    for r in partials:
        expected = [t for when, t in timeline if when <= r.decided_s]
        assert expected and r.text == expected[-1]
