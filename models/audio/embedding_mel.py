"""The speech embedding's mel front end: 32 log-mel bands every 10 ms, as the pinned melspectrogram.tflite computes
them, frame by frame, then floored below the stream's recent peak: a stream's frames do not depend on how its
audio is cut.

The reference floors every band at 80 dB below the loudest band of its whole input, which makes its output depend
on how much audio it is given at once. Here the floor follows a causal peak of the frames' loudest band, which
rises at once and falls slowly: on whole 1 s clips it reads the clip's maximum from the loudest frame on, and a
loud noise is forgotten within seconds of a long stream.

Shapes: T samples, N frames (each n_fft samples), M = 32 mel bands.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio

from rnnvoice.models.audio.features import Block, buffer_block, frames_of, running_peak

__all__ = [
    "EmbeddingMelConfig",
    "StreamingEmbeddingMels",
    "embedding_mel_frames",
    "embedding_mels",
    "floor_below_peak",
    "mel_constants",
]


@dataclass(frozen=True)
class EmbeddingMelConfig:
    """The reference's constants, as read from its TFLite file (`rnnvoice import-embedding` checks them there), and
    our causal form of its top-dB floor.

    Each frame is n_fft samples, hop_length apart, with a periodic Hann window of win_length centred in it; its
    power spectrum goes through a Slaney-style mel filter bank (Slaney's scale and area normalisation), is clipped
    to a floor, and is taken in the scale the embedding reads: dB / 10 + offset, that is log10(power) + offset.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 32
    f_min: float = 60.0
    f_max: float = 3800.0
    # The reference reads 16-bit samples as floats: ours (in [-1, 1]) are scaled to that range first.
    sample_scale: float = 32768.0
    # Mel power is clipped to it before the log: -100 dB, which digital silence reads as.
    power_floor: float = 1e-10
    # The embedding's input scale: dB / 10 + offset.
    offset: float = 2.0
    # Every band is raised to at least this far below the peak, which falls this fast. The reference holds its
    # whole input's maximum; of releases of 5, 10, 20 and 40 dB/s, 5 came closest to it on whole 1 s clips.
    top_db: float = 80.0
    peak_release_db_s: float = 5.0

    @property
    def frame_length(self) -> int:
        """Samples each frame reads."""
        return self.n_fft

    @property
    def silence(self) -> float:
        """What digital silence reads as, in every band, where no peak raises it."""
        return math.log10(self.power_floor) + self.offset

    @property
    def release(self) -> float:
        """The peak's fall per frame, in the embedding's scale (bels)."""
        return self.peak_release_db_s / 10 * self.hop_length / self.sample_rate


@functools.cache
def mel_constants(config: EmbeddingMelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The frame window (n_fft,), sample scale folded in (a power of two: exact), and the filter bank
    (n_fft // 2 + 1, n_mels): torchaudio's Hann window and Slaney filter bank, which equal the reference's to
    float rounding (the import checks it)."""
    pad = config.n_fft - config.win_length
    window = torch.nn.functional.pad(torch.hann_window(config.win_length), (pad // 2, pad - pad // 2))
    bank = torchaudio.functional.melscale_fbanks(
        config.n_fft // 2 + 1,
        config.f_min,
        config.f_max,
        config.n_mels,
        config.sample_rate,
        norm="slaney",
        mel_scale="slaney",
    )
    return window * config.sample_scale, bank


def embedding_mel_frames(frames: torch.Tensor, config: EmbeddingMelConfig) -> torch.Tensor:
    """(N, n_fft) single frames, of any streams -> (N, n_mels): each frame's log-mels on its own, not floored
    below a peak (`floor_below_peak` does that, per stream)."""
    if not len(frames):
        return frames.new_zeros(0, config.n_mels)
    window, bank = mel_constants(config)
    spectrum = torch.fft.rfft(frames * window)
    power = spectrum.real.square() + spectrum.imag.square()
    return torch.log10((power @ bank).clamp(min=config.power_floor)) + config.offset


def floor_below_peak(
    mels: torch.Tensor,
    config: EmbeddingMelConfig,
    peak: torch.Tensor | None = None,
    lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., N, n_mels) log-mels of a stream's frames, in order -> each band raised to top_db below the peak
    after its frame, and the peak (...,) after the last, for the next call (None: a fresh stream). lengths (...,):
    where streams are padded to N, each one's real frames (see `running_peak`)."""
    peaks, last = running_peak(mels.amax(dim=-1), config.release, peak, lengths)
    return torch.maximum(mels, peaks.unsqueeze(-1) - config.top_db / 10), last


def embedding_mels(waveform: torch.Tensor, config: EmbeddingMelConfig) -> torch.Tensor:
    """A fresh stream's whole signal (..., T) -> (..., N, n_mels); frame n covers samples [n * hop, n * hop + n_fft)."""
    if waveform.shape[-1] < config.n_fft:
        return waveform.new_zeros(*waveform.shape[:-1], 0, config.n_mels)
    frames = waveform.unfold(-1, config.n_fft, config.hop_length)  # (..., N, n_fft)
    mels = embedding_mel_frames(frames.reshape(-1, config.n_fft), config).reshape(*frames.shape[:-1], config.n_mels)
    return floor_below_peak(mels, config)[0]


class StreamingEmbeddingMels:
    """The embedding's log-mels of a stream fed in arbitrary chunks; equal to `embedding_mels` of the whole signal.

    As `StreamingFeatures`, in steps that let many streams share one transform: `buffer` the new audio, cut the
    frames of any number of buffers with `frames_of`, take their `embedding_mel_frames`, then `add` each stream's.
    Its state: the samples not framed yet and the peak.
    """

    def __init__(self, config: EmbeddingMelConfig):
        self.config = config
        self.samples = np.zeros(0, np.float32)
        self.peak: torch.Tensor | None = None

    def buffer(self, samples: torch.Tensor) -> Block:
        """(T,) at 16 kHz -> a `Block` of the frames completed so far, for `frames_of`."""
        block, n, self.samples = buffer_block(self.samples, samples, self.config)
        return block, n

    def add(self, mels: torch.Tensor) -> torch.Tensor:
        """(N, n_mels) of the frames cut from this stream, in order -> the same, floored below the peak."""
        out, self.peak = floor_below_peak(mels, self.config, self.peak)
        return out

    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """(T,) at 16 kHz -> (N, n_mels): every frame completed so far, not given before."""
        return self.add(embedding_mel_frames(frames_of([self.buffer(samples)], self.config), self.config))
