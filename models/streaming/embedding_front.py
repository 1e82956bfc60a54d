"""The speech embedding as the engine's front end: its log-mels, then one embedding every 80 ms of a stream.

A stream keeps its mel front end's state (samples not framed yet, the peak) and the frames its next window reads.
A new stream's history is digital silence, so that its first embedding comes 80 ms in, on the grid of every later
one. The windows of many streams go through the one shared, frozen network together.

Shapes: N frames, W = 76 frames a window, M = 32 mels, S steps, E = 96 dims.
"""

import functools

import torch

from rnnvoice.models.audio.embedding_mel import StreamingEmbeddingMels, embedding_mel_frames, embedding_mels
from rnnvoice.models.audio.features import Block, frames_of
from rnnvoice.models.nets.speech_embedding import DIM, STEP_FRAMES, WINDOW_FRAMES, SpeechEmbedding, embedding_windows

__all__ = ["StreamingEmbeddings", "embed_many", "embedding_features", "embedding_steps", "speech_embedding"]

# Windows a call of the network takes: measured fastest on one thread (batches of 1 to 64; 16 best).
EMBED_BATCH = 16


@functools.cache
def speech_embedding() -> SpeechEmbedding:
    """The shipped network, loaded once per process and shared by every stream."""
    return SpeechEmbedding.load()


class StreamingEmbeddings:
    """A stream's embeddings, fed in arbitrary chunks; equal to `embedding_features` of the whole signal.

    As `StreamingFeatures`, in steps that let many streams share the work: `buffer` the new audio, cut the frames of
    any number of buffers with `frames_of`, take their `embedding_mel_frames`, give each stream's to its `windows`,
    and the windows of all to `embed_many`.
    """

    def __init__(self):
        self.mels = StreamingEmbeddingMels(speech_embedding().mel_config)
        self.history = silence(WINDOW_FRAMES - STEP_FRAMES)

    @property
    def framing(self):
        return self.mels.config

    def buffer(self, samples: torch.Tensor) -> Block:
        """(T,) at 16 kHz -> a `Block` of the frames completed so far."""
        return self.mels.buffer(samples)

    def windows(self, mels: torch.Tensor) -> torch.Tensor:
        """(N, M) log-mels of the frames cut from this stream, in order -> (S, W, M): the windows they complete."""
        frames = torch.cat([self.history, self.mels.add(mels)])
        steps = max(0, (len(frames) - WINDOW_FRAMES) // STEP_FRAMES + 1)
        self.history = frames[steps * STEP_FRAMES :].clone()  # its own: no view of a whole chunk's frames
        if not steps:
            return frames.new_zeros(0, WINDOW_FRAMES, frames.shape[-1])
        return embedding_windows(frames[: (steps - 1) * STEP_FRAMES + WINDOW_FRAMES])


def embedding_steps(streams: list[StreamingEmbeddings], blocks: list[Block]) -> list[torch.Tensor]:
    """Many streams' blocks, one per stream -> each one's new embeddings (S, E): one mel transform over all their
    frames, one pass of the network over all their windows."""
    framing = streams[0].framing
    mels = embedding_mel_frames(frames_of(blocks, framing), framing)
    parts = torch.split(mels, [n for _, n in blocks])
    return embed_many([s.windows(p) for s, p in zip(streams, parts)])


def silence(frames: int) -> torch.Tensor:
    """(frames, M): what digital silence reads as, the history a stream starts with."""
    config = speech_embedding().mel_config
    return torch.full((frames, config.n_mels), config.silence)


def embed_many(windows: list[torch.Tensor]) -> list[torch.Tensor]:
    """Windows (S_b, W, M) of many streams -> each one's (S_b, E), EMBED_BATCH windows a call of the network."""
    counts = [len(w) for w in windows]
    if not sum(counts):
        return [torch.zeros(0, DIM) for _ in windows]
    everything = torch.cat(windows)
    with torch.inference_mode():
        out = torch.cat([speech_embedding()(part) for part in torch.split(everything, EMBED_BATCH)])
    return list(torch.split(out, counts))


def embedding_features(waveform: torch.Tensor) -> torch.Tensor:
    """Whole signals of fresh streams (..., T) at 16 kHz -> (..., S, E), as a stream of them would give."""
    mels = embedding_mels(waveform, speech_embedding().mel_config)
    history = silence(WINDOW_FRAMES - STEP_FRAMES).expand(*mels.shape[:-2], -1, -1)
    windows = embedding_windows(torch.cat([history, mels], dim=-2))  # (..., S, W, M)
    flat = windows.reshape(-1, WINDOW_FRAMES, windows.shape[-1])
    return embed_many([flat])[0].reshape(*windows.shape[:-3], windows.shape[-3], DIM)
