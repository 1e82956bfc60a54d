"""The engine's second layer: a shared model stepped over the new features of one stream or of many at once.

Each stream keeps its own recurrent state in a `ModelLane`; `step_lanes` gathers the states of any number of
lanes, runs the cell once over their steps (padded, each stream's final state taken at its own length) and
scatters the states back. A batch of one is the plain per-stream path: there is no other.

Shapes: B lanes, S steps, D feature dim, L layers, H hidden size.
"""

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from rnnvoice.models.nets.recurrent import RecurrentModel, State

__all__ = ["ModelLane", "Posteriors", "step_lanes"]

# What a network's `posteriors` gives, as NumPy: one array, or a tuple of them (keywords: classes and speech).
Posteriors = np.ndarray | tuple[np.ndarray, ...]


class ModelLane:
    """One model on one stream: the stream's recurrent state between chunks (None: zeros); the model is shared."""

    def __init__(self, model: RecurrentModel):
        self.model = model
        self.state: State | None = None


def _gather(lanes: list[ModelLane]) -> State:
    """The lanes' states side by side: (L, B, H), or a pair of them for LSTM."""
    states = [lane.state if lane.state is not None else lane.model.initial_state() for lane in lanes]
    if isinstance(states[0], tuple):
        return tuple(torch.cat(part, dim=1) for part in zip(*states))
    return torch.cat(states, dim=1)


def _scatter(lanes: list[ModelLane], state: State) -> None:
    # Copies, so that no lane keeps a whole batch's state alive.
    for b, lane in enumerate(lanes):
        lane.state = tuple(s[:, b : b + 1].clone() for s in state) if isinstance(state, tuple) \
            else state[:, b : b + 1].clone()


def _numpy(posteriors) -> Posteriors:
    if isinstance(posteriors, tuple):
        return tuple(_numpy(p) for p in posteriors)
    return posteriors.cpu().numpy()


def _rows(posteriors: Posteriors, b: int, steps: int) -> Posteriors:
    if isinstance(posteriors, tuple):
        return tuple(_rows(p, b, steps) for p in posteriors)
    return posteriors[b, :steps]


@torch.inference_mode()
def step_lanes(lanes: list[ModelLane], features: list[torch.Tensor]) -> list[Posteriors]:
    """Steps every lane (all of one model) over its new features (S_b, D); each lane's posteriors (S_b, ...).

    Equal, to float rounding, to stepping each lane alone: padding never reaches a state or an output kept.
    """
    model = lanes[0].model
    active = [b for b, f in enumerate(features) if len(f)]
    if active:
        lengths = [len(features[b]) for b in active]
        device = model.head.weight.device
        x = pad_sequence([features[b] for b in active], batch_first=True).to(device)
        outputs, state = model.encode_padded(x, lengths, _gather([lanes[b] for b in active]))
        _scatter([lanes[b] for b in active], state)
    else:
        outputs = torch.zeros(1, 0, model.head.out_features)
    # In double precision, as decisions accumulate them: a threshold must not flip on float32 rounding.
    posteriors = _numpy(model.posteriors(outputs.double()))
    rows = {b: i for i, b in enumerate(active)}
    return [_rows(posteriors, rows.get(b, 0), len(f)) for b, f in enumerate(features)]
