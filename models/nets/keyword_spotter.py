"""Streaming GRU and LSTM keyword spotters: one design, two cells.

Shapes: B batch, S steps, D feature dim, C classes (models.vocabulary.LABELS).
"""

import torch

from rnnvoice.models.nets.recurrent import RecurrentModel, State

__all__ = ["KeywordSpotter"]


class KeywordSpotter(RecurrentModel):
    """Per-step class logits (B, S, C) and a speech-activity logit (B, S).

    forward(x, state=None) -> (logits, speech, state); state None means zeros.
    """

    extra_outputs = 1  # speech activity, for detection times

    def forward(self, x: torch.Tensor, state: State | None = None):
        out, state = self.encode(x, state)
        return out[..., :-1], out[..., -1], state
