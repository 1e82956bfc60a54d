"""Streaming GRU and LSTM speech recognisers: per-step character log-probabilities for CTC.

Shapes: B batch, S steps, D feature dim, V tokens (TOKENS, the CTC blank first), K tokens_per_step (CTC frames a
step).
"""

import torch

from rnnvoice.models.nets.recurrent import RecurrentModel, State

__all__ = ["BLANK", "TOKENS", "SpeechRecognizer", "decode_tokens", "encode_text"]

BLANK = "_"
TOKENS = (BLANK, " ", "'", *"abcdefghijklmnopqrstuvwxyz")
INDEX = {t: i for i, t in enumerate(TOKENS)}


def normalise(text: str) -> str:
    """Lower case, letters, apostrophes and single spaces: what the recogniser can write."""
    kept = "".join(c if c in INDEX and c != BLANK else " " for c in text.lower())
    return " ".join(kept.split())


def encode_text(text: str) -> list[int]:
    return [INDEX[c] for c in normalise(text)]


def decode_tokens(ids) -> str:
    return "".join(TOKENS[i] for i in ids)


class SpeechRecognizer(RecurrentModel):
    """forward(x, state=None) -> (log_probs (B, S·K, V), state)."""

    def forward(self, x: torch.Tensor, state: State | None = None):
        out, state = self.encode(x, state)
        return self.posteriors(out), state

    def posteriors(self, outputs: torch.Tensor) -> torch.Tensor:
        """The head's outputs (..., S, K·V) as token log-probabilities (..., S·K, V), what CTC is trained on and
        decodes: a step's K frames in order."""
        frames = outputs.unflatten(-1, (self.config.tokens_per_step, len(self.config.labels))).flatten(-3, -2)
        return torch.log_softmax(frames, dim=-1)
