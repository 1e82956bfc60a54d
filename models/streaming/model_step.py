"""The engine's second layer: a shared model stepped over the new features of one stream or of many at once.

The recurrent states of all streams of a model sit side by side in one `StatePool` (Triton's sequence
batcher keeps them so): a stream's `ModelLane` holds its slot. `step_lanes` gathers the slots of any number of
lanes, runs the cell once over their steps (padded, each stream's state taken at its own length) and scatters
the states back into their slots. A batch of one is the plain per-stream path: there is no other.

Shapes: B lanes, S steps, D feature dim, L layers, H hidden size, N slots.
"""

import queue
import threading
import weakref

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from rnnvoice.models.nets.recurrent import RecurrentModel, State

__all__ = ["ModelLane", "Posteriors", "StatePool", "step_lanes"]

# What a network's `posteriors` gives, as NumPy: one array, or a tuple of them (keywords: classes and speech).
Posteriors = np.ndarray | tuple[np.ndarray, ...]


class StatePool:
    """The states of every stream of one model: (L, N, H), and a second such tensor for LSTM's c; grows by
    doubling. Slots are taken by lanes and given back when a lane is dropped."""

    @torch.inference_mode(False)  # ordinary tensors even when made under inference mode: slots are zeroed outside it
    def __init__(self, model: RecurrentModel, slots: int = 64):
        state = model.initial_state(slots)
        self.parts = list(state) if isinstance(state, tuple) else [state]
        self.free = list(range(slots - 1, -1, -1))
        self.lock = threading.Lock()  # slots are taken and written from the engine's threads
        # Slots of dropped lanes. A lane gives its slot back from a finalizer, which the garbage collector may run
        # anywhere, even inside `take` with the lock held: a SimpleQueue takes it without a lock of ours.
        self.returned: queue.SimpleQueue[int] = queue.SimpleQueue()

    @torch.inference_mode(False)
    def take(self) -> int:
        """A free slot, holding zeros: a new stream's state."""
        with self.lock:
            while not self.returned.empty():
                self.free.append(self.returned.get())
            if not self.free:
                slots = self.parts[0].shape[1]
                self.parts = [torch.cat([p, torch.zeros_like(p)], dim=1) for p in self.parts]
                self.free = list(range(2 * slots - 1, slots - 1, -1))
            slot = self.free.pop()
            for p in self.parts:
                p[:, slot] = 0
            return slot

    def give_back(self, slot: int) -> None:
        self.returned.put(slot)

    def gather(self, slots: torch.Tensor) -> State:
        """The states of these slots side by side: (L, B, H), or (h, c)."""
        parts = [p.index_select(1, slots) for p in self.parts]
        return tuple(parts) if len(parts) == 2 else parts[0]

    def scatter(self, slots: torch.Tensor, state: State) -> None:
        with self.lock:
            for p, s in zip(self.parts, state if isinstance(state, tuple) else (state,)):
                p.index_copy_(1, slots, s)


_pools: "weakref.WeakKeyDictionary[RecurrentModel, StatePool]" = weakref.WeakKeyDictionary()
_pools_lock = threading.Lock()


def state_pool(model: RecurrentModel) -> StatePool:
    """The model's one pool, made when its first lane is."""
    with _pools_lock:
        if model not in _pools:
            _pools[model] = StatePool(model)
        return _pools[model]


class ModelLane:
    """One model on one stream: the stream's slot of recurrent state (zeros at first); the model is shared."""

    def __init__(self, model: RecurrentModel):
        self.model = model
        self.pool = state_pool(model)
        self.slot = self.pool.take()
        weakref.finalize(self, self.pool.give_back, self.slot)

    @property
    def state(self) -> State:
        """This stream's state now: (L, 1, H), or (h, c)."""
        return self.pool.gather(torch.tensor([self.slot], device=self.pool.parts[0].device))


def _numpy(posteriors) -> Posteriors:
    if isinstance(posteriors, tuple):
        return tuple(_numpy(p) for p in posteriors)
    return posteriors.cpu().numpy()


def _rows(posteriors: Posteriors, lanes: list[tuple[int, int]]) -> list[Posteriors]:
    """Each lane's own rows of the batch's posteriors: lanes (row, rows of posteriors)."""
    if isinstance(posteriors, tuple):
        return list(zip(*(_rows(p, lanes) for p in posteriors)))
    return [posteriors[b, :steps] for b, steps in lanes]


@torch.inference_mode()
def step_lanes(lanes: list[ModelLane], features: list[torch.Tensor]) -> list[Posteriors]:
    """Steps every lane (all of one model) over its new features (S_b, D); each lane's posteriors (S_b, ...).

    Equal, to float rounding, to stepping each lane alone: padding never reaches a state or an output kept.
    """
    model = lanes[0].model
    lengths = [f.shape[0] for f in features]
    active = [b for b, n in enumerate(lengths) if n]
    if active:
        pool = lanes[0].pool
        device = model.device
        slots = torch.tensor([lanes[b].slot for b in active], device=device)
        x = pad_sequence([features[b] for b in active], batch_first=True).to(device)
        outputs, state = model.encode_padded(x, [lengths[b] for b in active], pool.gather(slots))
    else:
        outputs = torch.zeros(1, 0, model.output_size)
    # In double precision, as decisions accumulate them: a threshold must not flip on float32 rounding.
    posteriors = _numpy(model.posteriors(outputs.double()))
    if active:  # only once the whole step succeeded: a failed step leaves every state as it was
        pool.scatter(slots, state)
    rows = {b: i for i, b in enumerate(active)}
    return _rows(posteriors, [(rows.get(b, 0), n * model.rows_per_step) for b, n in enumerate(lengths)])
