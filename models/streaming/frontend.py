"""The engine's first layer: a stream's audio at any rate to model steps, with the state that carries between chunks.

A model reads stacked log-mels or the speech embedding (FeatureConfig.front_end); either way in the same two
halves, `buffer` per stream and then `front_end_steps` over many streams at once.

Shapes: T samples, S model steps, D feature dim.
"""

import torch

from rnnvoice.models.audio.features import (
    Block,
    FeatureConfig,
    StreamingFeatures,
    add_many,
    features,
    frames_of,
    log_mel_frames,
)
from rnnvoice.models.audio.pcm import StreamingResampler
from rnnvoice.models.streaming.embedding_front import StreamingEmbeddings, embedding_steps

# Silence run through the model at the end of a stream, so the last word is still heard out.
TAIL_S = 0.3


class FrontEnd:
    """Resampling and incremental features of one stream (log-mels or embeddings); chunk boundaries change nothing."""

    def __init__(self, config: FeatureConfig, input_rate: int):
        self.config = config
        self.input_rate = input_rate
        self.resampler = StreamingResampler(input_rate, config.sample_rate)
        self.features = StreamingEmbeddings() if config.embedded else StreamingFeatures(config)
        self.samples_in = 0

    @property
    def audio_s(self) -> float:
        """Audio received so far, in seconds."""
        return self.samples_in / self.input_rate

    def buffer(self, samples: torch.Tensor | None) -> Block:
        """(T,) mono float at the input rate, or None at the end of the stream (flushing the resampler and a
        short silent tail) -> a block of the new frames (`frames_of` cuts them), for `front_end_steps`."""
        if samples is None:
            tail = torch.zeros(round(TAIL_S * self.config.sample_rate))
            return self.features.buffer(torch.cat([self.resampler.finish(), tail]))
        self.samples_in += samples.shape[0]
        return self.features.buffer(self.resampler.accept(samples))

    def accept(self, samples: torch.Tensor | None) -> torch.Tensor:
        """(T,) mono float at the input rate, or None at the end -> (S, D) for every step completed so far."""
        return front_end_steps(self.config, [self.features], [self.buffer(samples)])[0]


def front_end_steps(config: FeatureConfig, states: list, blocks: list[Block]) -> list[torch.Tensor]:
    """The second half of many streams' front ends of one config: their blocks (`FrontEnd.buffer`) and feature
    states -> each one's new steps (S, D), from one transform over all their frames."""
    if config.embedded:
        return embedding_steps(states, blocks)
    return add_many(states, log_mel_frames(frames_of(blocks, config), config), [n for _, n in blocks])


def whole_features(waveform: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """Whole signals (..., T) at the model rate -> (..., S, D), as streams of them give (for training). The
    embedding is taken as a stream takes it, every signal a stream stepped together: a fifth of the work of
    `embedding_features`, which runs every window whole."""
    if not config.embedded:
        return features(waveform, config)
    flat = waveform.reshape(-1, waveform.shape[-1])
    streams = [StreamingEmbeddings() for _ in flat]
    steps = embedding_steps(streams, [s.buffer(w) for s, w in zip(streams, flat)])
    # A copy made outside inference mode: training may keep it for the backward pass.
    return torch.stack(steps).reshape(*waveform.shape[:-1], -1, steps[0].shape[-1]).clone()
