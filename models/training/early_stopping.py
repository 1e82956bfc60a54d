"""Training to convergence: a run ends when its evaluations stop improving, and keeps its best weights.

The learning rate warms up linearly over the first evaluation period and is constant after. Each time half the
patience passes without a better evaluation it falls to `DECAY` of itself, so that a plateau reached at a high rate
is given a lower one before the run is judged finished.
"""

import copy
import math

import torch

__all__ = ["DECAY", "EarlyStopping"]

DECAY = 0.3


class EarlyStopping:
    """A learning-rate schedule (`step` once a training step) that also judges evaluations (`evaluated`)."""

    def __init__(self, optimizer: torch.optim.Optimizer, patience: int, warmup_steps: int):
        self.optimizer, self.patience, self.warmup_steps = optimizer, patience, max(1, warmup_steps)
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.steps = 0
        self.scale = 1.0  # of the base rate, after the falls on plateaus
        self.best_score, self.best_step, self.best_weights = -math.inf, 0, None
        self.stale = 0  # evaluations in a row without a better score
        self._set_lr()

    def _set_lr(self) -> None:
        warm = min(1.0, (self.steps + 1) / self.warmup_steps)
        for group, lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = lr * warm * self.scale

    def step(self) -> None:
        self.steps += 1
        self._set_lr()

    def evaluated(self, step: int, score: float, model: torch.nn.Module) -> bool:
        """An evaluation's score (higher is better) at `step`; True when the run should end."""
        if score > self.best_score:
            self.best_score, self.best_step, self.stale = score, step, 0
            self.best_weights = copy.deepcopy(model.state_dict())
            return False
        self.stale += 1
        if self.stale % max(1, self.patience // 2) == 0:
            self.scale *= DECAY
            self._set_lr()
        return self.stale >= self.patience

    def state_dict(self) -> dict:
        return {
            name: getattr(self, name)
            for name in ("steps", "scale", "best_score", "best_step", "best_weights", "stale", "base_lrs")
        }

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)
        self._set_lr()
