"""Log-mel features with torchaudio, normalised as the stream goes, computed incrementally and stacked into model steps.

Shapes: T samples, F feature frames (10 ms), S model steps (`stack` frames each), D = stack * n_mels.
"""

import functools
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import torch
import torchaudio


class Normalization(StrEnum):
    """How log-mels are normalised before the model's own fixed normalisation (`normalize`).

    RUNNING: each mel channel minus its running mean over the stream, which takes out the input level and the
    microphone's colouring (a gain or a fixed EQ is a constant in the log domain). FRAME: each frame minus its
    loudest channel, level-invariant with no memory (and no start-up). PEAK: every channel minus the stream's
    recent peak level, an automatic gain control that takes out the input level within a word's first frames and
    keeps each word's loudness contour. NONE: raw log-mels.
    """

    RUNNING = "running"
    FRAME = "frame"
    PEAK = "peak"
    NONE = "none"


class FrontEndKind(StrEnum):
    """What a model reads. LOG_MELS: our log-mels, `stack` frames a step. SPEECH_EMBEDDING: Google's pretrained
    speech embedding of its own log-mels, one vector every 80 ms (models/streaming/embedding_front.py)."""

    LOG_MELS = "log_mels"
    SPEECH_EMBEDDING = "speech_embedding"


# The speech embedding's place in time and its size: one 96-dim vector every 8 frames of 10 ms.
EMBEDDING_STEP_FRAMES = 8
EMBEDDING_DIM = 96


@dataclass(frozen=True)
class FeatureConfig:
    """The front end; its defaults are the one every shipped model uses (raw log-mels, which measured best)."""

    sample_rate: int = 16000
    n_mels: int = 40
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    f_min: float = 20.0
    f_max: float = 7600.0
    # Frames stacked into one recurrent step: fewer, wider steps cost less per second of audio.
    stack: int = 3
    # Added to every channel's mel power before the log. The level-invariant front ends were measured with 1e-12:
    # far below any microphone's noise floor, so that quiet speech keeps its shape; only digital silence sits on it.
    log_floor: float = 1e-6
    # A floor this far below each frame's loudest channel (1e-6: 60 dB), so that what a band-limited input lacks
    # (above 4 kHz for 8 kHz audio) reads the same at any input level; 0: none.
    relative_floor: float = 0.0
    normalization: Normalization = Normalization.NONE
    # The running mean is cumulative over a stream's first frames, then exponential with this time constant.
    norm_frames: int = 150
    # The peak level rises at once with a louder frame and falls this many dB a second: slow enough to hold
    # over the pauses between words, fast enough to follow a speaker who steps away.
    peak_release_db_s: float = 10.0
    # With SPEECH_EMBEDDING, the fields above (but the sample rate and hop) are the embedding's own business: its
    # mel front end is fixed by its weights (EmbeddingMelConfig).
    front_end: FrontEndKind = FrontEndKind.LOG_MELS

    def __post_init__(self):
        if self.normalization not in tuple(Normalization):
            raise ValueError(
                f"unknown normalization {self.normalization!r}; expected one of {', '.join(Normalization)}"
            )
        # A checkpoint's config and the command line hold plain strings.
        object.__setattr__(self, "normalization", Normalization(self.normalization))
        if self.front_end not in tuple(FrontEndKind):
            raise ValueError(f"unknown front end {self.front_end!r}; expected one of {', '.join(FrontEndKind)}")
        object.__setattr__(self, "front_end", FrontEndKind(self.front_end))

    @property
    def frame_length(self) -> int:
        """Samples each frame reads (what the framing of `buffer_block` and `frames_of` cuts)."""
        return self.win_length

    @property
    def embedded(self) -> bool:
        return self.front_end == FrontEndKind.SPEECH_EMBEDDING

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM if self.embedded else self.n_mels * self.stack

    @property
    def step_samples(self) -> int:
        return self.hop_length * (EMBEDDING_STEP_FRAMES if self.embedded else self.stack)

    @property
    def step_rate(self) -> float:
        return self.sample_rate / self.step_samples

    @property
    def step_s(self) -> float:
        """Seconds of audio per recurrent step."""
        return 1.0 / self.step_rate


class Framing(Protocol):
    """What the framing (`buffer_block`, `frames_of`) reads of a front end's config: FeatureConfig's, or the speech
    embedding's mel config."""

    @property
    def hop_length(self) -> int: ...

    @property
    def frame_length(self) -> int: ...


# "running": the mean per mel channel (..., n_mels) and the live frames counted so far (...,);
# "peak": the peak level (...,), -inf before the first live frame, and a placeholder.
NormState = tuple[torch.Tensor, torch.Tensor]


def mel_transform(config: FeatureConfig) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=config.sample_rate,
        n_fft=config.win_length,
        hop_length=config.hop_length,
        f_min=config.f_min,
        f_max=config.f_max,
        n_mels=config.n_mels,
        center=False,
    )


@functools.cache
def shared_mel(config: FeatureConfig) -> torchaudio.transforms.MelSpectrogram:
    """One mel transform per config for every stream: its window and filter bank are read-only."""
    return mel_transform(config)


def log_mel_frames(frames: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """(N, win_length) single frames, each its own window (of any streams) -> (N, n_mels): `log_mel` row by row.

    With torchaudio's window and filter bank, but as one real FFT of the rows and one matrix product: its
    transform, given frames as N signals one frame long, works in the (N, freq, 1) layout, where taking the
    magnitude and applying the filter bank cost five times the FFT (the same numbers, to float rounding).
    """
    if not len(frames):
        return frames.new_zeros(0, config.n_mels)
    mel = shared_mel(config)
    spectrum = torch.fft.rfft(frames * mel.spectrogram.window)  # n_fft is win_length (`mel_transform`)
    power = spectrum.real.square() + spectrum.imag.square()
    return _log(power @ mel.mel_scale.fb, config, dim=-1)


def log_mel(waveform: torch.Tensor, config: FeatureConfig, mel=None) -> torch.Tensor:
    """(..., T) -> (..., F, n_mels); frame f covers samples [f * hop, f * hop + win)."""
    if waveform.shape[-1] < config.win_length:
        return waveform.new_zeros(*waveform.shape[:-1], 0, config.n_mels)
    mel = mel or mel_transform(config)
    return _log(mel(waveform), config, dim=-2).transpose(-1, -2)  # from (..., n_mels, F)


def _log(power: torch.Tensor, config: FeatureConfig, dim: int) -> torch.Tensor:
    """Log mel power above the floors; dim: the mel channels'."""
    floor = config.log_floor + config.relative_floor * power.amax(dim=dim, keepdim=True)
    return torch.log(power + floor)


def normalize(
    frames: torch.Tensor, config: FeatureConfig, state: NormState | None = None, lengths: torch.Tensor | None = None
) -> tuple[torch.Tensor, NormState | None]:
    """(..., F, n_mels) log-mels normalised as `config.normalization` says; the state carries over between calls.

    "running": each channel minus its causal running mean. "peak": every channel minus the recent peak of the
    frames' loudest channel. Frames of digital silence (every channel at the log floor) leave either state alone:
    zero padding is not a level. "frame": each frame minus its loudest channel. lengths (...,): where rows of
    different lengths are padded to F, each row's real frames; the state is that after them.
    """
    if config.normalization == Normalization.NONE:
        return frames, state
    if config.normalization == Normalization.FRAME:
        return frames - frames.amax(dim=-1, keepdim=True), state
    live = frames.mean(dim=-1) > math.log(config.log_floor) + 2.0  # (..., F)
    if lengths is not None:
        live &= torch.arange(frames.shape[-2]) < lengths.unsqueeze(-1)
    if config.normalization == Normalization.PEAK:
        return _peak_normalize(frames, live, config, state, lengths)
    if state is None:
        state = frames.new_zeros(*frames.shape[:-2], frames.shape[-1]), frames.new_zeros(frames.shape[:-2])
    mean, count = state
    out = torch.empty_like(frames)
    for f in range(frames.shape[-2]):
        count = count + live[..., f]
        rate = live[..., f] / count.clamp(1, config.norm_frames)
        mean = mean + rate.unsqueeze(-1) * (frames[..., f, :] - mean)
        out[..., f, :] = frames[..., f, :] - mean
    return out, (mean, count)


def _peak_normalize(
    frames: torch.Tensor,
    live: torch.Tensor,
    config: FeatureConfig,
    state: NormState | None,
    lengths: torch.Tensor | None,
) -> tuple[torch.Tensor, NormState]:
    """The peak follower of `normalize` (`running_peak`), over the live frames' loudest channel."""
    release = config.peak_release_db_s / 10 * math.log(10) * config.hop_length / config.sample_rate  # nats a frame
    level = frames.amax(dim=-1).masked_fill(~live, -math.inf)  # (..., F)
    peak, last = running_peak(level, release, state[0] if state is not None else None, lengths)
    # Before a stream's first live frame there is no level yet: its frames (digital silence) pass as they are.
    shift = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    return frames - shift.unsqueeze(-1), (last, last)


def running_peak(
    level: torch.Tensor, release: float, before: torch.Tensor | None = None, lengths: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A peak follower that rises at once and falls `release` a frame: level (..., F) -> the peak after each frame
    (..., F), and the last (...,) to carry into the next call as `before` (None: -inf, a fresh stream). lengths
    (...,): where rows are padded to F, each row's real frames; the last peak is that at its last real frame.

    In closed form: the peak after frame t is max over frames s <= t of level_s - release (t - s), a running
    maximum of level_s + release s, less release t."""
    if before is None:
        before = level.new_full(level.shape[:-1], -math.inf)
    ramp = release * torch.arange(1, level.shape[-1] + 1, dtype=level.dtype)
    peak = torch.maximum(torch.cummax(level + ramp, dim=-1).values, before.unsqueeze(-1)) - ramp
    if lengths is not None:  # past a row's last frame its peak only falls: the state is the peak at that frame
        at_last = peak.gather(-1, (lengths - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)
        last = torch.where(lengths > 0, at_last, before)
    else:
        last = peak[..., -1] if level.shape[-1] else before
    return peak, last


def normalized_log_mel(waveform: torch.Tensor, config: FeatureConfig, mel=None) -> torch.Tensor:
    """Whole-signal normalised log-mels from a fresh stream: (..., T) -> (..., F, n_mels)."""
    return normalize(log_mel(waveform, config, mel), config)[0]


def stack_frames(frames: torch.Tensor, stack: int) -> torch.Tensor:
    """(..., F, n_mels) -> (..., F // stack, stack * n_mels), dropping the incomplete tail."""
    steps = frames.shape[-2] // stack
    frames = frames[..., : steps * stack, :]
    return frames.reshape(*frames.shape[:-2], steps, stack * frames.shape[-1])


def features(waveform: torch.Tensor, config: FeatureConfig, mel=None) -> torch.Tensor:
    """Whole-signal features for training: (..., T) -> (..., S, D)."""
    return stack_frames(normalized_log_mel(waveform, config, mel), config.stack)


class StreamingFeatures:
    """Features for a stream fed in arbitrary chunks; equal to `features` of the whole signal.

    In three steps, so that the log-mels of many streams can be taken at once: `buffer` the new audio, cut the
    frames of any number of buffers with `frames_of`, take their `log_mel_frames`, then `add` them. What carries
    between chunks (samples not yet framed, frames not yet a whole step) is kept in small NumPy arrays: per stream
    and per chunk, NumPy's few operations cost a fraction of torch's.
    """

    def __init__(self, config: FeatureConfig):
        self.config = config
        self.samples = np.zeros(0, np.float32)
        self.frames = np.zeros((0, config.n_mels), np.float32)
        self.norm_state: NormState | None = None

    def buffer(self, samples: torch.Tensor) -> tuple[np.ndarray, int]:
        """(T,) at the model rate -> a `Block` of the frames completed so far, for `frames_of` (`buffer_block`)."""
        block, n, self.samples = buffer_block(self.samples, samples, self.config)
        return block, n

    def cut(self, samples: torch.Tensor) -> torch.Tensor:
        """(T,) at the model rate -> (N, win_length): every frame completed so far, not cut before."""
        return frames_of([self.buffer(samples)], self.config)

    def add(self, log_mels: torch.Tensor) -> torch.Tensor:
        """(N, n_mels) log-mels of the frames cut from this stream -> (S, D) for every step completed so far."""
        return add_many([self], log_mels, [len(log_mels)])[0]

    def stack(self, frames: np.ndarray) -> torch.Tensor:
        """(N, n_mels) new normalised frames -> (S, D): every step completed with them; keeps the rest."""
        c = self.config
        frames = np.concatenate([self.frames, frames]) if len(self.frames) else frames
        steps = len(frames) // c.stack
        self.frames = frames[steps * c.stack :].copy()
        return torch.from_numpy(frames[: steps * c.stack].reshape(steps, c.dim))

    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """(T,) at the model rate -> (S, D) for every step completed so far."""
        return self.add(log_mel_frames(self.cut(samples), self.config))


def add_many(streams: list[StreamingFeatures], log_mels: torch.Tensor, counts: list[int]) -> list[torch.Tensor]:
    """`add` of many streams of one config at once: log_mels (sum of N, n_mels), stream after stream, counts[b]
    of stream b -> each stream's (S_b, D). Normalisation with a state runs over all streams padded side by side."""
    config = streams[0].config
    if config.normalization in (Normalization.NONE, Normalization.FRAME) or not len(log_mels):
        normalized = normalize(log_mels, config)[0]
    else:
        lengths = torch.tensor(counts)
        real = torch.arange(max(counts)) < lengths.unsqueeze(-1)  # (B, F)
        padded = log_mels.new_zeros(len(streams), max(counts), config.n_mels)
        padded[real] = log_mels
        states = [s.norm_state for s in streams]
        state = None if all(s is None for s in states) else _stacked(states, config)
        out, state = normalize(padded, config, state, lengths)
        for b, s in enumerate(streams):
            s.norm_state = tuple(part[b].clone() for part in state)  # its own: no stream holds a whole batch's
        normalized = out[real]
    parts = np.split(normalized.numpy(), np.cumsum(counts)[:-1])
    return [s.stack(p) for s, p in zip(streams, parts)]


def _stacked(states: list[NormState | None], config: FeatureConfig) -> NormState:
    """Streams' normalisation states side by side; a new stream's as `normalize` starts it."""
    mean, count = next(s for s in states if s is not None)
    fill = -math.inf if config.normalization == Normalization.PEAK else 0.0
    start = mean.new_full(mean.shape, fill), count.new_full(count.shape, fill)
    return tuple(torch.stack([(s or start)[i] for s in states]) for i in range(2))


# Zeros that pad a stream's buffered samples to whole hops (`buffer_block`).
_ZEROS = np.zeros(1 << 12, np.float32)
# A stream's samples to be framed, padded to whole hops, and the number of frames that start in them.
Block = tuple[np.ndarray, int]


def buffer_block(held: np.ndarray, samples: torch.Tensor, config: Framing) -> tuple[np.ndarray, int, np.ndarray]:
    """A stream's samples not framed before (held) and new ones (T,) -> the block they make, zero-padded to whole
    hops, how many frames (N) complete in it start there, and the samples to hold until the next call."""
    count = len(held) + samples.shape[0]
    block = np.concatenate([held, samples.numpy(), _ZEROS[: -count % config.hop_length]])
    n = (count - config.frame_length) // config.hop_length + 1 if count >= config.frame_length else 0
    # A copy of what is left over, so that a stream holds no view of a whole chunk between chunks.
    return block, n, block[n * config.hop_length : count].copy()


def frames_of(blocks: list[Block], config: Framing) -> torch.Tensor:
    """The frames of many streams' blocks, stream after stream: (sum of N, frame_length).

    The blocks are laid end to end; as each is whole hops long, every frame of every stream starts on the hop
    grid of the whole, so one strided view of it holds them all, and one gather takes them.
    """
    hops = np.array([len(b) // config.hop_length for b, _ in blocks])
    counts = np.array([n for _, n in blocks])
    if not counts.sum():
        return torch.zeros(0, config.frame_length)
    audio = torch.from_numpy(np.concatenate([b for b, _ in blocks]))
    # Frame j of block b starts at hop (first hop of b) + j.
    firsts = np.repeat(np.cumsum(hops) - hops - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
    return audio.unfold(0, config.frame_length, config.hop_length)[torch.from_numpy(firsts)]
