"""Clips scored from their front end's steps, computed once: the same labels and posteriors as each clip streamed
through the whole serving path, for both front ends; the steps kept in a cache are those computed."""

import numpy as np
import pytest
import torch

from rnnvoice.models.data.corpus import Clip, label_of
from rnnvoice.models.evaluation.clip_steps import clip_steps, clip_wave
from rnnvoice.models.evaluation.keywords import clip_label, replayed_clips, run_stream
from rnnvoice.models.nets.checkpoint import load_model
from rnnvoice.models.streaming.keyword_stream import keyword_stream
from rnnvoice.models.vocabulary import SILENCE
from rnnvoice.models.weights import WEIGHTS
from tests.conftest import FIXTURES

WORDS = ("yes", "stop", "left", "go", "up", "right")
DIGITS = ("one", "three", "five", "seven", "nine")


def _clips() -> list[Clip]:
    clips = [Clip(str(FIXTURES / f"{w}_sc.wav"), w, w, "sc", "speech_commands") for w in WORDS]
    clips += [Clip(str(FIXTURES / f"{w}_lucas.wav"), label_of(w), w, "lucas", "fsdd") for w in DIGITS]
    return clips + [Clip(str(FIXTURES / "noise_dishes.wav"), SILENCE, "", "", "noise")]


@pytest.mark.parametrize("weights", ["keywords_gru.pt", "keywords_lstm_log_mels.pt"])
@pytest.mark.parametrize("level_dbfs", [None, -45.0])
def test_clips_replayed_from_their_front_end_steps_are_scored_as_streamed(weights, level_dbfs, tmp_path):
    model = load_model(WEIGHTS / weights)
    rate, clips = model.config.features.sample_rate, _clips()
    streamed = []
    for clip in clips:
        detections, smoothed = run_stream(keyword_stream(model, rate), clip_wave(clip, rate, level_dbfs), chunk_s=10.0)
        streamed.append((clip_label(detections, smoothed, model.config.labels), smoothed.max(axis=0)))
    steps = clip_steps(model.config.features, clips, level_dbfs, cache=tmp_path)
    replayed = replayed_clips(model, steps)
    assert [label for label, _ in replayed] == [label for label, _ in streamed]
    assert {label for label, _ in streamed} - {SILENCE}  # the clips are heard as words, not all as silence
    for (_, peaks), (_, expected) in zip(replayed, streamed):
        np.testing.assert_allclose(peaks, expected, atol=1e-5)
    # The cache holds those steps, and another model of the front end reads them back.
    (kept,) = tmp_path.glob("*.pt")
    again = clip_steps(model.config.features, clips, level_dbfs, cache=tmp_path)
    assert all(torch.equal(a.chunk, b.chunk) and torch.equal(a.end, b.end) for a, b in zip(steps, again))
    assert [s.audio_s for s in again] == pytest.approx([len(clip_wave(c, rate, None)) / rate for c in clips])
    # Another level, another front end or other clips are other files.
    clip_steps(model.config.features, clips[:2], level_dbfs, cache=tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 2 and kept.exists()
