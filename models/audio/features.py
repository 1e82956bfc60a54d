"""Log-mel features with torchaudio, computed incrementally and stacked into model steps.

Shapes: T samples, F feature frames (10 ms), S model steps (`stack` frames each), D = stack * n_mels.
"""

from dataclasses import dataclass

import torch
import torchaudio


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 16000
    n_mels: int = 40
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    f_min: float = 20.0
    f_max: float = 7600.0
    # Frames stacked into one recurrent step: fewer, wider steps cost less per second of audio.
    stack: int = 3
    log_floor: float = 1e-6

    @property
    def dim(self) -> int:
        return self.n_mels * self.stack

    @property
    def step_samples(self) -> int:
        return self.hop_length * self.stack

    @property
    def step_rate(self) -> float:
        return self.sample_rate / self.step_samples


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


def log_mel(waveform: torch.Tensor, config: FeatureConfig, mel=None) -> torch.Tensor:
    """(..., T) -> (..., F, n_mels); frame f covers samples [f * hop, f * hop + win)."""
    if waveform.shape[-1] < config.win_length:
        return waveform.new_zeros(*waveform.shape[:-1], 0, config.n_mels)
    mel = mel or mel_transform(config)
    return torch.log(mel(waveform) + config.log_floor).transpose(-1, -2)


def stack_frames(frames: torch.Tensor, stack: int) -> torch.Tensor:
    """(..., F, n_mels) -> (..., F // stack, stack * n_mels), dropping the incomplete tail."""
    steps = frames.shape[-2] // stack
    frames = frames[..., : steps * stack, :]
    return frames.reshape(*frames.shape[:-2], steps, stack * frames.shape[-1])


def features(waveform: torch.Tensor, config: FeatureConfig, mel=None) -> torch.Tensor:
    """Whole-signal features for training: (..., T) -> (..., S, D)."""
    return stack_frames(log_mel(waveform, config, mel), config.stack)


class StreamingFeatures:
    """Features for a stream fed in arbitrary chunks; equal to `features` of the whole signal."""

    def __init__(self, config: FeatureConfig, mel: torchaudio.transforms.MelSpectrogram | None = None):
        self.config = config
        self.mel = mel or mel_transform(config)
        self.samples = torch.zeros(0)
        self.frames = torch.zeros(0, config.n_mels)

    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """(T,) at the model rate -> (S, D) for every step completed so far."""
        c = self.config
        self.samples = torch.cat([self.samples, samples])
        n = (len(self.samples) - c.win_length) // c.hop_length + 1 if len(self.samples) >= c.win_length else 0
        if n > 0:
            used = self.samples[: (n - 1) * c.hop_length + c.win_length]
            self.frames = torch.cat([self.frames, log_mel(used, c, self.mel)])
            self.samples = self.samples[n * c.hop_length :]
        steps = len(self.frames) // c.stack
        out = stack_frames(self.frames[: steps * c.stack], c.stack)
        self.frames = self.frames[steps * c.stack :]
        return out
