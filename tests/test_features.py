"""Incremental log-mel features equal the whole-signal features, whatever the chunking."""

import numpy as np
import pytest
import torch

from rnnvoice.models.audio.features import NORMALIZATIONS, FeatureConfig, StreamingFeatures, features


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_streaming_features_equal_whole_signal_features(normalization):
    config = FeatureConfig(normalization=normalization)
    rng = np.random.default_rng(0)
    # Digital silence, then noise that grows louder: every normaliser's state moves.
    x = torch.from_numpy(rng.standard_normal(16000 * 3).astype(np.float32) * np.linspace(0.001, 0.3, 16000 * 3,
                                                                                          dtype=np.float32))
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
    from rnnvoice.models.evaluation.keywords import at_level
    from tests.conftest import FIXTURES

    wave = load_clip(FIXTURES / "seven_lucas.wav")
    config = FeatureConfig(normalization=normalization)
    near, far = features(at_level(wave, -10.0), config), features(at_level(wave, -30.0), config)
    assert (near - far).abs().max() < 0.15
    raw = FeatureConfig(normalization="none")
    assert (features(at_level(wave, -10.0), raw) - features(at_level(wave, -30.0), raw)).abs().mean() > 1.0


def test_digital_silence_leaves_the_running_mean_alone():
    """Zero padding before a recording barely shifts its normalised features: only the two frames that straddle
    the padding's end count towards the mean (counted, the padding's 30 frames would shift it by about 4)."""
    config = FeatureConfig()
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal(16000).astype(np.float32) * 0.01)
    padded = features(torch.cat([torch.zeros(4800), x]), config)
    assert (padded[-20:] - features(x, config)[-20:]).abs().mean() < 0.15


def test_peak_level_rises_at_once_and_falls_slowly():
    """After a loud burst the peak follower holds the level down by the burst's loudness, releasing at
    `peak_release_db_s`: a tone 40 dB quieter reads, 1.4 s after the burst, 40 - 14 dB below itself heard alone."""
    config = FeatureConfig(normalization="peak", peak_release_db_s=10.0)
    t = torch.arange(16000) / 16000
    tone = 0.005 * torch.sin(2 * torch.pi * 440 * t)
    burst = torch.cat([100 * tone[:1600], torch.zeros(6400) + 1e-5 * torch.randn(6400)])
    alone, after = features(tone, config), features(torch.cat([burst, tone]), config)
    drop_db = 10 / np.log(10) * float(alone[-5:].amax() - after[-5:].amax())
    assert abs(drop_db - (40 - 10 * 1.4)) < 1.0
