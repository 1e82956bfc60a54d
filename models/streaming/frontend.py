"""The engine's first layer: a stream's audio at any rate to model steps, with the state that carries between chunks.

Shapes: T samples, S model steps, D feature dim.
"""

import torch

from rnnvoice.models.audio.features import FeatureConfig, StreamingFeatures
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

    @property
    def step_s(self) -> float:
        return 1.0 / self.config.step_rate

    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """(T,) mono float at the input rate -> (S, D) for every step completed so far."""
        self.samples_in += len(samples)
        return self.features.accept(self.resampler.accept(samples))

    def finish(self) -> torch.Tensor:
        """Flushes the resampler and a short silent tail: the stream's last steps (S, D)."""
        tail = torch.zeros(round(TAIL_S * self.config.sample_rate))
        return self.features.accept(torch.cat([self.resampler.finish(), tail]))
