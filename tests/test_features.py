"""Incremental log-mel features equal the whole-signal features, whatever the chunking."""

import numpy as np
import torch

from rnnvoice.models.audio.features import FeatureConfig, StreamingFeatures, features


def test_streaming_features_equal_whole_signal_features():
    config = FeatureConfig()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal(16000 * 3).astype(np.float32) * 0.1)
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
