"""Streaming GRU and LSTM keyword spotters: one design, two cells.

Shapes: B batch, S steps, D feature dim, C classes (models.vocabulary.LABELS).
"""

from typing import NamedTuple

import torch

from rnnvoice.models.nets.recurrent import RecurrentModel, State

__all__ = ["KeywordPosteriors", "KeywordSpotter", "pooled_logits"]


class KeywordPosteriors(NamedTuple):
    """What the head says at each step: class probabilities (..., S, C), or for a model with pooled scores
    (ModelConfig.pool_s) its class logits, which only mean something pooled; and speech probability (..., S)."""

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
        return KeywordPosteriors(logits if self.pool_steps else torch.softmax(logits, dim=-1), torch.sigmoid(speech))

    @property
    def pool_steps(self) -> int:
        return round(self.config.pool_s * self.config.features.step_rate)

    def pooled(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (B, S, C) of whole streams -> the pooled logits (B, S, C) of each step's window, shorter at the
        start of a stream, as the detector sees them."""
        history = logits.new_full((*logits.shape[:-2], self.pool_steps - 1, logits.shape[-1]), -torch.inf)
        return pooled_logits(torch.cat([history, logits], dim=-2), self.pool_steps)


def pooled_logits(logits: torch.Tensor, window: int) -> torch.Tensor:
    """Class logits max-pooled over a sliding window of steps: what a model with pooled scores is scored on.

    logits (..., N, C), the window - 1 steps before the first scored one included (-inf rows where a stream
    has no history) -> (..., N - window + 1, C): each class's largest logit in the last `window` steps.
    Training's loss and the detector (which thresholds their softmax) both take them from here.
    """
    return logits.unfold(-2, window, 1).amax(-1)
