"""The recurrent acoustic model both tasks share: normalised features, a projection, GRU or LSTM layers, a head.

Shapes: B batch, S steps, D feature dim, H hidden size, L layers, O outputs.
State is passed in and out, never kept on the module: one model serves any number of streams.
"""

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnvoice.models.audio.features import FeatureConfig
from rnnvoice.models.types import MODEL_TASKS, Cell, Task
from rnnvoice.models.vocabulary import LABELS

__all__ = ["ModelConfig", "RecurrentModel", "State"]

# GRU: h (L, B, H); LSTM: (h, c), each (L, B, H).
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ModelConfig:
    task: Task = Task.KEYWORDS
    cell: Cell = Cell.GRU
    hidden_size: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    # Output classes: keyword labels, or the recogniser's tokens (CTC blank first).
    labels: tuple[str, ...] = LABELS
    features: FeatureConfig = field(default_factory=FeatureConfig)
    # Keyword models: above 0, the class logits are max-pooled over this many seconds before the softmax
    # (`pooled_logits`), and what the detector thresholds is those pooled probabilities.
    pool_s: float = 0.0
    # Recognisers: token distributions (CTC frames) per step. The speech embedding's 80 ms steps are too coarse for
    # one character each (speech runs at 12-15 a second, and CTC puts a blank between doubled letters): its head
    # gives two for each step, for the price of one step of the front end.
    tokens_per_step: int = 1

    def __post_init__(self):
        if self.cell not in tuple(Cell):
            raise ValueError(f"unknown cell {self.cell!r}; expected one of {', '.join(Cell)}")
        if self.task not in MODEL_TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {', '.join(MODEL_TASKS)}")
        # A checkpoint's config holds plain strings.
        object.__setattr__(self, "cell", Cell(self.cell))
        object.__setattr__(self, "task", Task(self.task))

    @property
    def keywords(self) -> tuple[str, ...]:
        """The labels that are words: all but the classes named `_..._` (silence, unknown speech; CTC's blank)."""
        return tuple(k for k in self.labels if not k.startswith("_"))


class RecurrentModel(nn.Module):
    """(B, S, D) stacked log-mels -> (B, S, O) outputs, with the recurrent state in and out."""

    extra_outputs = 0  # outputs beyond one per label

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        dim, hidden = config.features.dim, config.hidden_size
        # Feature normalisation, fitted on the training data and saved with the weights.
        self.register_buffer("feature_mean", torch.zeros(dim))
        self.register_buffer("feature_std", torch.ones(dim))
        self.project = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        rnn = nn.GRU if config.cell == Cell.GRU else nn.LSTM
        # torch applies RNN dropout between layers only.
        self.rnn = rnn(
            hidden,
            hidden,
            config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        if config.cell == Cell.LSTM:
            # The usual LSTM start: forget gates open (bias 1), so that memory and gradients flow from the
            # first step; with torch's zero mean it sits on a blank plateau under CTC for thousands of steps.
            with torch.no_grad():
                for name, bias in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):
                        bias[hidden : 2 * hidden].fill_(1.0)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(hidden, len(config.labels) * config.tokens_per_step + self.extra_outputs)
        self.metadata: dict = {}  # what the checkpoint says beside the weights (training, calibration)

    def encode(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        y, state = self.rnn(self._inputs(x), state)
        return self.head(self.dropout(y)), state

    def encode_padded(
        self, x: torch.Tensor, lengths: list[int], state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Streams of different lengths at once: x (B, S, D) padded after each row's `lengths[b]` steps.

        Row b's outputs past its length are padding; its state out is the one after its own last step.
        """
        if min(lengths) == x.shape[1]:
            return self.encode(x, state)
        if self.config.cell == Cell.LSTM:
            return self._encode_by_length(x, lengths, state)
        packed = pack_padded_sequence(self._inputs(x), torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        y, state = self.rnn(packed, state)
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        return self.head(self.dropout(y)), state

    def _encode_by_length(self, x: torch.Tensor, lengths: list[int], state: State | None) -> tuple[torch.Tensor, State]:
        """`encode_padded` as one `encode` per length among the rows: torch runs LSTM over unpacked input in one
        fused kernel (oneDNN), 2 to 3 times as fast on the CPU as over a packed sequence, even called twice."""
        h, c = state if state is not None else self.initial_state(x.shape[0])
        h, c = h.clone(), c.clone()
        out = x.new_zeros(x.shape[0], x.shape[1], self.head.out_features)
        by_length = torch.tensor(lengths)
        for n in sorted(set(lengths)):
            rows = (by_length == n).nonzero().squeeze(1).to(x.device)
            out[rows, :n], (h[:, rows], c[:, rows]) = self.encode(x[rows, :n], (h[:, rows], c[:, rows]))
        return out, (h, c)

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.project((x - self.feature_mean) / self.feature_std)

    def posteriors(self, outputs: torch.Tensor):
        """What the head's outputs (..., S, O) mean, defined once by each network for training and serving."""
        raise NotImplementedError

    @property
    def rows_per_step(self) -> int:
        """Rows of `posteriors` a step gives (a recogniser's tokens_per_step)."""
        return self.config.tokens_per_step

    @property
    def output_size(self) -> int:
        """O, the width of a step's outputs."""
        return self.head.out_features

    @property
    def device(self) -> torch.device:
        """Where the model runs; read off a buffer, as an int8 (dynamically quantised) layer has no weight tensor."""
        return self.feature_mean.device

    def initial_state(self, batch: int = 1) -> State:
        h = torch.zeros(self.config.num_layers, batch, self.config.hidden_size, device=self.device)
        return h if self.config.cell == Cell.GRU else (h, torch.zeros_like(h))

    @property
    def state_bytes(self) -> int:
        """Recurrent state one stream holds, float32."""
        state = self.initial_state()
        return sum(t.numel() * t.element_size() for t in (state if isinstance(state, tuple) else (state,)))

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
