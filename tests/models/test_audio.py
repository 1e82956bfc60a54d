"""Decoding, mixdown and the streaming resampler against torchaudio's whole-signal resampling."""

import numpy as np
import pytest
import torch
import torchaudio

from rnnvoice.models.audio.pcm import SUPPORTED_RATES, AudioFormatError, StreamingResampler, decode


@pytest.mark.parametrize("rate", SUPPORTED_RATES)
def test_streaming_resampler_matches_torchaudio_and_ignores_chunking(rate):
    rng = np.random.default_rng(rate)
    x = torch.from_numpy(rng.standard_normal(rate * 2).astype(np.float32) * 0.3)
    whole = torchaudio.functional.resample(x, rate, 16000)
    resampler = StreamingResampler(rate, 16000)
    pieces, start = [], 0
    while start < len(x):
        n = int(rng.choice([1, 3, 160, 1001, 7000]))
        pieces.append(resampler.accept(x[start : start + n]))
        start += n
    pieces.append(resampler.finish())
    streamed = torch.cat(pieces)
    assert len(streamed) == len(whole) == 32000
    assert torch.allclose(streamed, whole, atol=1e-4)


def test_decode_mixes_down_interleaved_pcm():
    left, right = np.full(4, 16384, np.int16), np.full(4, -16384, np.int16)
    interleaved = np.stack([left, right], axis=1).astype("<i2").tobytes()
    mono = decode(interleaved, "pcm_s16le", 2)
    assert mono.shape == (4,) and torch.all(mono == 0)
    assert torch.allclose(decode(left.astype("<i2").tobytes(), "pcm_s16le", 1), torch.full((4,), 0.5))


def test_decode_rejects_partial_frames_and_non_finite_floats():
    with pytest.raises(AudioFormatError, match="whole number"):
        decode(b"\x00\x01\x02", "pcm_s16le", 1)
    with pytest.raises(AudioFormatError, match="whole number"):
        decode(np.zeros(3, "<i2").tobytes(), "pcm_s16le", 2)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(AudioFormatError, match="NaN or infinite"):
            decode(np.array([0.1, bad], "<f4").tobytes(), "float32le", 1)
