"""Streaming GRU and LSTM keyword spotters: one design, two cells.

Shapes: B batch, S steps, D feature dim, H hidden size, L layers, C classes.
"""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from rnnvoice.models.features import FeatureConfig
from rnnvoice.models.vocabulary import LABELS

__all__ = ["CELLS", "KeywordModelConfig", "KeywordSpotter", "State", "load_model", "save_model"]

CELLS = ("gru", "lstm")
# GRU: h (L, B, H); LSTM: (h, c), each (L, B, H).
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class KeywordModelConfig:
    cell: str = "gru"
    hidden_size: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    labels: tuple[str, ...] = LABELS
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; expected one of {CELLS}")


class KeywordSpotter(nn.Module):
    """Per-step class logits (B, S, C) and a speech-activity logit (B, S) from stacked log-mels.

    forward(x, state=None) -> (logits, speech, state); state None means zeros. The state
    is never kept on the module, so one model serves any number of streams.
    """

    def __init__(self, config: KeywordModelConfig):
        super().__init__()
        self.config = config
        dim, hidden = config.features.dim, config.hidden_size
        # Feature normalisation, fitted on the training data and saved with the weights.
        self.register_buffer("feature_mean", torch.zeros(dim))
        self.register_buffer("feature_std", torch.ones(dim))
        self.project = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        rnn = nn.GRU if config.cell == "gru" else nn.LSTM
        self.rnn = rnn(hidden, hidden, config.num_layers, batch_first=True, dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(hidden, len(config.labels) + 1)

    def forward(self, x: torch.Tensor, state: State | None = None):
        x = self.project((x - self.feature_mean) / self.feature_std)
        y, state = self.rnn(x, state)
        out = self.head(self.dropout(y))
        return out[..., :-1], out[..., -1], state

    def initial_state(self, batch: int = 1) -> State:
        h = torch.zeros(self.config.num_layers, batch, self.config.hidden_size)
        return h if self.config.cell == "gru" else (h, torch.zeros_like(h))

    @property
    def state_bytes(self) -> int:
        """Recurrent state one stream holds, float32."""
        tensors = (self.initial_state(),) if self.config.cell == "gru" else self.initial_state()
        return sum(t.numel() * t.element_size() for t in tensors)

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save_model(model: KeywordSpotter, path: Path, **metadata) -> None:
    """Saves weights with the config that rebuilds them, so the file alone is enough."""
    config = dataclasses.asdict(model.config)
    torch.save({"config": config, "state_dict": model.state_dict(), "metadata": metadata}, path)


def load_model(path: Path) -> KeywordSpotter:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    config = dict(checkpoint["config"])
    config["features"] = FeatureConfig(**config["features"])
    config["labels"] = tuple(config["labels"])
    model = KeywordSpotter(KeywordModelConfig(**config))
    model.load_state_dict(checkpoint["state_dict"])
    model.metadata = checkpoint.get("metadata", {})
    return model.eval()
