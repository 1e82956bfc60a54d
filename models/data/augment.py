"""Waveform and feature augmentation with torchaudio: noise, reverberation, telephone band, speed, masking."""

import math
import random
from pathlib import Path

import torch
import torchaudio
import torchaudio.functional as AF

from rnnvoice.models.data.corpus import SAMPLE_RATE, load_clip

SPEED_FACTORS = (0.9, 0.95, 1.05, 1.1)


class NoiseBank:
    """Real background noise recordings, cut into random segments."""

    def __init__(self, paths: list[Path]):
        self.noises = [load_clip(p) for p in paths]
        if not self.noises:
            raise ValueError("no background noise recordings given")

    def segment(self, length: int, rng: random.Random) -> torch.Tensor:
        noise = rng.choice(self.noises)
        if len(noise) < length:
            noise = noise.repeat(math.ceil(length / len(noise)))
        start = rng.randrange(len(noise) - length + 1)
        return noise[start : start + length]


def rms(x: torch.Tensor) -> float:
    return float(x.pow(2).mean().sqrt()) + 1e-8


def room_impulse_response(rng: random.Random, rate: int = SAMPLE_RATE) -> torch.Tensor:
    """A synthetic room: a direct path, then exponentially decaying diffuse reflections."""
    rt60 = rng.uniform(0.15, 0.8)
    n = int(rt60 * rate)
    t = torch.arange(n) / rate
    gen = torch.Generator().manual_seed(rng.randrange(2**31))
    tail = torch.randn(n, generator=gen) * torch.exp(-6.9 * t / rt60) * rng.uniform(0.1, 0.5)
    tail[: int(0.002 * rate)] = 0  # the first reflections arrive a couple of milliseconds late
    tail[0] = 1.0
    return tail / tail.norm()


def reverberate(wave: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    # Zero-padded so that the FFT length is a power of two: an FFT of 172,799 points takes ten times as long.
    size = 1 << (len(wave) + len(rir) - 2).bit_length()
    wet = AF.fftconvolve(torch.nn.functional.pad(wave, (0, size - len(wave) - len(rir) + 1)), rir)[: len(wave)]
    return wet * (rms(wave) / rms(wet))


def telephone(wave: torch.Tensor, rate: int = SAMPLE_RATE) -> torch.Tensor:
    """What 8 kHz telephone audio looks like once the server resamples it back up."""
    narrow = AF.resample(wave, rate, 8000)
    narrow = AF.highpass_biquad(narrow, 8000, 300.0)
    return AF.resample(narrow, 8000, rate)[: len(wave)]


class SpeedChanger:
    """Speed perturbation (tempo and pitch together), with torchaudio's resampling kernels cached."""

    def __init__(self, rate: int = SAMPLE_RATE):
        self.resamplers = {f: torchaudio.transforms.Resample(round(rate * f), rate) for f in SPEED_FACTORS}

    def __call__(self, wave: torch.Tensor, factor: float) -> torch.Tensor:
        return self.resamplers[factor](wave) if factor in self.resamplers else wave


class SpecAugment(torch.nn.Module):
    """Frequency and time masks on log-mel frames (B, F, n_mels), filled with each sequence's mean."""

    def __init__(self, freq_width: int = 7, time_width: int = 6, masks: int = 2):
        super().__init__()
        self.freq = torchaudio.transforms.FrequencyMasking(freq_width, iid_masks=True)
        self.time = torchaudio.transforms.TimeMasking(time_width, iid_masks=True)
        self.masks = masks

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        mean = frames.mean(dim=(1, 2), keepdim=True)
        x = (frames - mean).transpose(1, 2).unsqueeze(1)  # (B, 1, n_mels, F)
        for _ in range(self.masks):
            x = self.time(self.freq(x))
        return x.squeeze(1).transpose(1, 2) + mean
