"""The speech embedding as the engine's front end: its log-mels, then one embedding every 80 ms of a stream.

A stream keeps its mel front end's state (samples not framed yet, the peak), the frames short of a whole step, and
the network's own rows (`SpeechEmbedding.step`: each layer's rows computed once, where the windows of a whole
signal overlap by 68 of 76 frames; 6-7 times less work). A new stream's history is digital silence, so that its
first embedding comes 80 ms in, on the grid of every later one. Streams step the shared, frozen network together.

Shapes: N frames, W = 76 frames a window, M = 32 mels, S steps, E = 96 dims.
"""

import functools
from dataclasses import dataclass

import torch
from torch import nn

from rnnvoice.models.audio.embedding_mel import StreamingEmbeddingMels, embedding_mel_frames, embedding_mels
from rnnvoice.models.audio.features import Block, FeatureConfig, FrontEndKind, frames_of
from rnnvoice.models.nets.speech_embedding import DIM, STEP_FRAMES, WINDOW_FRAMES, SpeechEmbedding, embedding_windows

__all__ = ["EmbeddingOutputs", "StreamingEmbeddings", "embedding_features", "embedding_steps", "speech_embedding"]

# Windows a call of the network takes: measured fastest on one thread (batches of 1 to 64; 16 best).
EMBED_BATCH = 16


@functools.cache
def speech_embedding() -> SpeechEmbedding:
    """The shipped network, loaded once per process and shared by every stream."""
    return SpeechEmbedding.load()


class StreamingEmbeddings:
    """A stream's embeddings, fed in arbitrary chunks; equal to `embedding_features` of the whole signal.

    As `StreamingFeatures`, in steps that let many streams share the work: `buffer` the new audio, cut the frames of
    any number of buffers with `frames_of`, take their `embedding_mel_frames`, and give them to `embedding_steps`.
    Its state: the mel front end's, the frames short of a whole step, and the network's rows (`SpeechEmbedding.step`).
    """

    def __init__(self):
        self.mels = StreamingEmbeddingMels(speech_embedding().mel_config)
        self.pending = silence(0)
        self.state = initial_state()

    @property
    def framing(self):
        return self.mels.config

    def buffer(self, samples: torch.Tensor) -> Block:
        """(T,) at 16 kHz -> a `Block` of the frames completed so far."""
        return self.mels.buffer(samples)

    def blocks(self, mels: torch.Tensor) -> torch.Tensor:
        """(N, M) log-mels of the frames cut from this stream, in order -> (K, 8, M): the whole steps they complete."""
        frames = torch.cat([self.pending, self.mels.add(mels)])
        steps = len(frames) // STEP_FRAMES
        self.pending = frames[steps * STEP_FRAMES :].clone()  # its own: no view of a whole chunk's frames
        return frames[: steps * STEP_FRAMES].reshape(steps, STEP_FRAMES, frames.shape[-1])


def embedding_steps(streams: list[StreamingEmbeddings], blocks: list[Block]) -> list[torch.Tensor]:
    """Many streams' blocks, one per stream -> each one's new embeddings (S, E): one mel transform over all their
    frames, then the network stepped over every stream with a whole step to take, step after step."""
    framing = streams[0].framing
    mels = embedding_mel_frames(frames_of(blocks, framing), framing)
    steps = [s.blocks(part) for s, part in zip(streams, torch.split(mels, [n for _, n in blocks]))]
    out = [[] for _ in streams]
    for k in range(max((len(x) for x in steps), default=0)):
        members = [b for b, x in enumerate(steps) if len(x) > k]
        with torch.inference_mode():
            state = [torch.cat(parts) for parts in zip(*(streams[b].state for b in members))]
            vectors, state = speech_embedding().step(torch.stack([steps[b][k] for b in members]), state)
        for row, b in enumerate(members):
            streams[b].state = [part[row : row + 1] for part in state]
            out[b].append(vectors[row])
    return [torch.stack(vectors) if vectors else torch.zeros(0, DIM) for vectors in out]


def silence(frames: int) -> torch.Tensor:
    """(frames, M): what digital silence reads as, the history a stream starts with."""
    config = speech_embedding().mel_config
    return torch.full((frames, config.n_mels), config.silence)


@functools.cache
def initial_state() -> list[torch.Tensor]:
    """The network's state after a new stream's history of silence: the same for every stream (never changed in
    place: `step` makes new tensors)."""
    with torch.inference_mode():
        return speech_embedding().initial_state(silence(WINDOW_FRAMES - STEP_FRAMES))


def embedding_features(waveform: torch.Tensor) -> torch.Tensor:
    """Whole signals of fresh streams (..., T) at 16 kHz -> (..., S, E), as a stream of them would give: window by
    window, EMBED_BATCH windows a call of the network (for training, where the windows are all there at once)."""
    mels = embedding_mels(waveform, speech_embedding().mel_config)
    history = silence(WINDOW_FRAMES - STEP_FRAMES).expand(*mels.shape[:-2], -1, -1)
    windows = embedding_windows(torch.cat([history, mels], dim=-2))  # (..., S, W, M)
    flat = windows.reshape(-1, WINDOW_FRAMES, windows.shape[-1])
    with torch.inference_mode():
        out = [speech_embedding()(part) for part in torch.split(flat, EMBED_BATCH)]
    return (torch.cat(out) if out else flat.new_zeros(0, DIM)).reshape(*windows.shape[:-2], DIM)


@dataclass(frozen=True)
class EmbeddingOutputsConfig:
    features: FeatureConfig


class EmbeddingOutputs(nn.Module):
    """The embeddings themselves as a lane's model, for decisions that read them directly (phrases chosen at run
    time): no state, and its outputs are its inputs (B, S, E). One per feature config (`embedding_outputs`), so that
    it shares a stream's front end with a keyword model on the same embedding."""

    output_size = DIM
    rows_per_step = 1
    device = torch.device("cpu")

    def __init__(self, features: FeatureConfig):
        super().__init__()
        self.config = EmbeddingOutputsConfig(features)

    def initial_state(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(1, batch, 0)

    def encode_padded(
        self, x: torch.Tensor, lengths: list[int], state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return x, state

    def posteriors(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs


@functools.cache
def embedding_outputs(features: FeatureConfig | None = None) -> EmbeddingOutputs:
    """The shared `EmbeddingOutputs` of a feature config on the speech embedding (None: the plain one)."""
    return EmbeddingOutputs(features or FeatureConfig(front_end=FrontEndKind.SPEECH_EMBEDDING))
