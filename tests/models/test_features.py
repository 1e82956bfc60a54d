"""Incremental log-mel features equal the whole-signal features, whatever the chunking."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnvoice.models.audio.features import (
    FeatureConfig,
    Normalization,
    StreamingFeatures,
    add_many,
    features,
    frames_of,
    log_mel_frames,
)

# The floors of the level-invariant front ends (the shipped raw log-mels have others): a far lower absolute floor,
# and one relative to each frame's loudest channel.
LEVEL_FLOORS = {"log_floor": 1e-12, "relative_floor": 1e-6}


@pytest.mark.parametrize("normalization", list(Normalization))
def test_streaming_features_equal_whole_signal_features(normalization):
    config = FeatureConfig(normalization=normalization, **LEVEL_FLOORS)
    rng = np.random.default_rng(0)
    # Digital silence, then noise that grows louder: every normaliser's state moves.
    x = torch.from_numpy(
        rng.standard_normal(16000 * 3).astype(np.float32) * np.linspace(0.001, 0.3, 16000 * 3, dtype=np.float32)
    )
    x[:2000] = 0.0
    whole = features(x, config)
    stream = StreamingFeatures(config)
    pieces, start = [], 0
    while start < len(x):
        n = int(rng.choice([1, 100, 160, 479, 4000]))
        pieces.append(stream.accept(x[start : start + n]))
        start += n
    streamed = torch.cat(pieces)
    assert streamed.shape == whole.shape == (99, config.dim)
    assert torch.allclose(streamed, whole, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    normalization=st.sampled_from(list(Normalization)),
    seed=st.integers(0, 2**16),
    plans=st.lists(
        st.lists(st.sampled_from([0, 1, 160, 479, 1600, 4000]), min_size=1, max_size=12), min_size=1, max_size=4
    ),
)
def test_streams_framed_and_normalised_together_equal_each_alone(normalization, seed, plans):
    """`frames_of` and `add_many` over several streams (each chunk size 0: the stream sends nothing that tick) give
    each stream what its own `accept` gives, and leave it in the same state."""
    config = FeatureConfig(normalization=normalization, **LEVEL_FLOORS)
    rng = np.random.default_rng(seed)
    signals = [
        torch.from_numpy(rng.standard_normal(sum(p)).astype(np.float32) * float(10.0 ** -rng.integers(0, 4)))
        for p in plans
    ]
    for x in signals:
        x[: len(x) // 4] = 0.0  # digital silence first: no level yet
    alone = [StreamingFeatures(config) for _ in plans]
    together = [StreamingFeatures(config) for _ in plans]
    sent = [0] * len(plans)
    for tick in range(max(len(p) for p in plans)):
        chunks = [
            (b, signals[b][sent[b] : sent[b] + p[tick]]) for b, p in enumerate(plans) if tick < len(p) and p[tick]
        ]
        for b, x in chunks:
            sent[b] += len(x)
        if not chunks:
            continue
        blocks = [together[b].buffer(x) for b, x in chunks]
        log_mels = log_mel_frames(frames_of(blocks, config), config)
        steps = add_many([together[b] for b, _ in chunks], log_mels, [n for _, n in blocks])
        for (b, x), got in zip(chunks, steps):
            assert torch.allclose(got, alone[b].accept(x), atol=1e-5)
            assert np.array_equal(together[b].samples, alone[b].samples)
            assert together[b].frames.shape == alone[b].frames.shape


def test_step_timing():
    config = FeatureConfig()
    assert config.step_samples == 480
    assert abs(config.step_rate - 100 / 3) < 1e-9


@pytest.mark.parametrize("normalization", ["running", "peak"])
def test_normalisation_takes_out_the_input_level(normalization):
    """The same recording with its speech at -10 and at -30 dBFS gives the same features: a gain is a constant in
    the log domain, and what an 8 kHz recording lacks above 4 kHz sits on a floor relative to each frame. (Only
    where the recording's own noise would fall below about -100 dBFS, under 16-bit audio's, does the absolute
    floor for digital silence show.)"""
    from rnnvoice.models.data.corpus import load_clip
    from rnnvoice.models.evaluation.clip_steps import at_level
    from tests.conftest import FIXTURES

    wave = load_clip(FIXTURES / "seven_lucas.wav")
    config = FeatureConfig(normalization=normalization, **LEVEL_FLOORS)
    near, far = features(at_level(wave, -10.0), config), features(at_level(wave, -30.0), config)
    assert (near - far).abs().max() < 0.15
    raw = FeatureConfig(normalization="none", **LEVEL_FLOORS)
    assert (features(at_level(wave, -10.0), raw) - features(at_level(wave, -30.0), raw)).abs().mean() > 1.0


def test_digital_silence_leaves_the_running_mean_alone():
    """Zero padding before a recording barely shifts its normalised features: only the two frames that straddle
    the padding's end count towards the mean (counted, the padding's 30 frames would shift it by about 4)."""
    config = FeatureConfig(normalization="running", **LEVEL_FLOORS)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal(16000).astype(np.float32) * 0.01)
    padded = features(torch.cat([torch.zeros(4800), x]), config)
    assert (padded[-20:] - features(x, config)[-20:]).abs().mean() < 0.15


def test_peak_level_rises_at_once_and_falls_slowly():
    """After a loud burst the peak follower holds the level down by the burst's loudness, releasing at
    `peak_release_db_s`: a tone 40 dB quieter reads, 1.4 s after the burst, 40 - 14 dB below itself heard alone."""
    config = FeatureConfig(normalization="peak", peak_release_db_s=10.0, **LEVEL_FLOORS)
    t = torch.arange(16000) / 16000
    tone = 0.005 * torch.sin(2 * torch.pi * 440 * t)
    burst = torch.cat([100 * tone[:1600], torch.zeros(6400) + 1e-5 * torch.randn(6400)])
    alone, after = features(tone, config), features(torch.cat([burst, tone]), config)
    drop_db = 10 / np.log(10) * float(alone[-5:].amax() - after[-5:].amax())
    assert abs(drop_db - (40 - 10 * 1.4)) < 1.0


def test_every_shipped_model_uses_the_default_front_end_of_its_task():
    """`FeatureConfig()` with the front end of its task's recipe (the speech embedding for keywords, log-mels for
    transcription) is each shipped model's, for the model files saved before some of its fields existed too."""
    from rnnvoice.models.nets.checkpoint import load_model
    from rnnvoice.models.training.train import TrainConfig
    from rnnvoice.models.weights import shipped_models

    models = shipped_models()
    assert models
    for (task, _), path in models.items():
        front_end = TrainConfig.for_task(task, corpus="", out="").front_end
        assert load_model(path).config.features == FeatureConfig(front_end=front_end), path
