"""Audio decoding (linear PCM, float, G.711 telephone audio), mixdown and streaming resampling to the models' rate."""

import functools
import io
import math

import numpy as np
import soundfile
import torch
import torchaudio

SUPPORTED_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
ENCODINGS = {
    "pcm_s16le": np.dtype("<i2"),
    "float32le": np.dtype("<f4"),
    "mulaw": np.dtype("u1"),
    "alaw": np.dtype("u1"),
}
# Full scale is +-1.0; float samples beyond this (24 dB over full scale) are not audio but a mistake, and squared
# in the features they would overflow to infinity and turn every later score into NaN.
MAX_FLOAT_SAMPLE = 16.0
# libsndfile's names of the G.711 encodings.
G711 = {"mulaw": "ULAW", "alaw": "ALAW"}


@functools.cache
def g711_table(encoding: str) -> np.ndarray:
    """The 256 values of a G.711 byte as float in [-1, 1], as libsndfile decodes them."""
    table, _ = soundfile.read(
        io.BytesIO(bytes(range(256))),
        format="RAW",
        subtype=G711[encoding],
        samplerate=8000,
        channels=1,
        dtype="float32",
    )
    return table


class AudioFormatError(ValueError):
    """Audio that does not match its declared format."""


def decode(data: bytes | memoryview, encoding: str, channels: int) -> torch.Tensor:
    """Turns interleaved little-endian samples into a mono float tensor in [-1, 1] (T,)."""
    dtype = ENCODINGS[encoding]
    frame_bytes = dtype.itemsize * channels
    if len(data) % frame_bytes:
        raise AudioFormatError(
            f"chunk of {len(data)} bytes is not a whole number of {channels}-channel "
            f"{encoding} frames ({frame_bytes} bytes each); split chunks on frame boundaries"
        )
    samples = np.frombuffer(data, dtype=dtype).reshape(-1, channels)
    if encoding in G711:
        samples = g711_table(encoding)[samples]
    if dtype.kind == "f" and len(samples):
        peak = np.abs(samples).max()
        if not np.isfinite(peak):
            raise AudioFormatError("float32 audio contains NaN or infinite samples")
        if peak > MAX_FLOAT_SAMPLE:
            raise AudioFormatError(
                f"float32 audio has a sample of magnitude {peak:.3g}; full scale is 1.0 and "
                f"samples beyond {MAX_FLOAT_SAMPLE:g} are refused: scale samples to [-1, 1]"
            )
    # Mono needs no mixing: a mean over one channel costs more than the rest of decoding.
    mono = samples[:, 0].astype(np.float32) if channels == 1 else samples.astype(np.float32).mean(axis=1)
    if dtype.kind == "i":
        mono *= 1 / 32768.0
    return torch.from_numpy(np.ascontiguousarray(mono))


@functools.cache
def shared_resample(orig: int, new: int) -> torchaudio.transforms.Resample:
    """One resampling filter per pair of rates for every stream: its kernel is read-only."""
    return torchaudio.transforms.Resample(orig, new)


class StreamingResampler:
    """Resamples a stream chunk by chunk; the output does not depend on where chunks split.

    torchaudio's sinc resampler maps every block of `o` input samples to `n` output
    samples (o, n = rates over their gcd). We feed it block-aligned windows with a margin
    of whole blocks on both sides, wider than its filter, and keep only the middle.
    """

    def __init__(self, orig_rate: int, new_rate: int):
        g = math.gcd(orig_rate, new_rate)
        self.o, self.n = orig_rate // g, new_rate // g
        self.identity = self.o == self.n
        self.resample = shared_resample(self.o, self.n)
        # The sinc filter reaches about 6 zero crossings of the lower rate on each side.
        margin_blocks = math.ceil(7 / min(self.o, self.n)) + 1
        self.margin = margin_blocks * self.o
        self.buffer = torch.zeros(self.margin)  # the zeros torchaudio pads the start with
        self.received = 0
        self.emitted = 0

    def _emit(self, blocks: int) -> torch.Tensor:
        window = self.buffer[: 2 * self.margin + blocks * self.o]
        out = self.resample(window)
        skip = self.margin // self.o * self.n
        self.buffer = self.buffer[blocks * self.o :]
        return out[skip : skip + blocks * self.n]

    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        if self.identity:
            return samples
        self.received += len(samples)
        self.buffer = torch.cat([self.buffer, samples])
        blocks = (len(self.buffer) - 2 * self.margin) // self.o
        out = self._emit(blocks) if blocks > 0 else samples.new_zeros(0)
        self.emitted += len(out)
        return out

    def finish(self) -> torch.Tensor:
        """Flushes the filter's look-ahead: the stream's last samples."""
        if self.identity:
            return torch.zeros(0)
        total = math.ceil(self.received * self.n / self.o)
        pad = (-len(self.buffer)) % self.o + 2 * self.margin
        self.buffer = torch.cat([self.buffer, torch.zeros(pad)])
        blocks = (len(self.buffer) - 2 * self.margin) // self.o
        out = self._emit(blocks)[: max(0, total - self.emitted)]
        self.emitted += len(out)
        return out
