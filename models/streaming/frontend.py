"""The engine's first layer: a stream's audio at any rate to model steps, with the state that carries between chunks.

Shapes: T samples, S model steps, D feature dim.
"""

import torch

from rnnvoice.models.audio.features import Block, FeatureConfig, StreamingFeatures, frames_of, log_mel_frames
from rnnvoice.models.audio.pcm import StreamingResampler

# Silence run through the model at the end of a stream, so the last word is still heard out.
TAIL_S = 0.3


class FrontEnd:
    """Resampling and incremental, normalised log-mel features of one stream; chunk boundaries change nothing."""

    def __init__(self, config: FeatureConfig, input_rate: int):
        self.config = config
        self.input_rate = input_rate
        self.resampler = StreamingResampler(input_rate, config.sample_rate)
        self.features = StreamingFeatures(config)
        self.samples_in = 0

    @property
    def audio_s(self) -> float:
        """Audio received so far, in seconds."""
        return self.samples_in / self.input_rate

    def buffer(self, samples: torch.Tensor | None) -> Block:
        """(T,) mono float at the input rate, or None at the end of the stream (flushing the resampler and a
        short silent tail) -> a block of the new frames (`frames_of` cuts them), whose log-mels `add` takes."""
        if samples is None:
            tail = torch.zeros(round(TAIL_S * self.config.sample_rate))
            return self.features.buffer(torch.cat([self.resampler.finish(), tail]))
        self.samples_in += samples.shape[0]
        return self.features.buffer(self.resampler.accept(samples))

    def add(self, log_mels: torch.Tensor) -> torch.Tensor:
        """(N, n_mels) log-mels of the block's frames -> (S, D) for every step completed so far."""
        return self.features.add(log_mels)

    def accept(self, samples: torch.Tensor | None) -> torch.Tensor:
        """(T,) mono float at the input rate, or None at the end -> (S, D) for every step completed so far."""
        return self.add(log_mel_frames(frames_of([self.buffer(samples)], self.config), self.config))
