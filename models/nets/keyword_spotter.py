"""Streaming GRU and LSTM keyword spotters: one design, two cells.

Shapes: B batch, S steps, D feature dim, C classes (models.vocabulary.LABELS).
"""

from typing import NamedTuple

import torch

from rnnvoice.models.nets.recurrent import RecurrentModel, State

__all__ = ["KeywordPosteriors", "KeywordSpotter"]


class KeywordPosteriors(NamedTuple):
    """What the head says at each step: class probabilities (..., S, C) and speech probability (..., S)."""

    classes: torch.Tensor
    speech: torch.Tensor


class KeywordSpotter(RecurrentModel):
    """Per-step class logits (B, S, C) and a speech-activity logit (B, S).

    forward(x, state=None) -> (logits, speech, state); state None means zeros.
    """

    extra_outputs = 1  # speech activity, for detection times

    @staticmethod
    def split(outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The head's (..., C + 1) outputs -> class logits (..., C) and the speech logit (...): its one layout."""
        return outputs[..., :-1], outputs[..., -1]

    def forward(self, x: torch.Tensor, state: State | None = None):
        out, state = self.encode(x, state)
        return *self.split(out), state

    def posteriors(self, outputs: torch.Tensor) -> KeywordPosteriors:
        """The head's outputs (..., S, C + 1) as probabilities: what training's losses are taken against."""
        logits, speech = self.split(outputs)
        return KeywordPosteriors(torch.softmax(logits, dim=-1), torch.sigmoid(speech))
