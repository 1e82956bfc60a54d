"""The recurrent acoustic model both tasks share: normalised features, a projection, GRU or LSTM layers, a head.

Shapes: B batch, S steps, D feature dim, H hidden size, L layers, O outputs.
State is passed in and out, never kept on the module: one model serves any number of streams.
"""

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from rnnvoice.models.audio.features import FeatureConfig
from rnnvoice.models.vocabulary import LABELS

__all__ = ["CELLS", "ModelConfig", "RecurrentModel", "State", "load_model", "save_model"]

CELLS = ("gru", "lstm")
TASKS = {"keywords": "rnnvoice.models.nets.keyword_spotter:KeywordSpotter",
         "transcription": "rnnvoice.models.nets.speech_recognizer:SpeechRecognizer"}
# GRU: h (L, B, H); LSTM: (h, c), each (L, B, H).
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ModelConfig:
    task: str = "keywords"
    cell: str = "gru"
    hidden_size: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    # Output classes: keyword labels, or the recogniser's tokens (CTC blank first).
    labels: tuple[str, ...] = LABELS
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; expected one of {CELLS}")
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {tuple(TASKS)}")


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
        rnn = nn.GRU if config.cell == "gru" else nn.LSTM
        # torch applies RNN dropout between layers only.
        self.rnn = rnn(hidden, hidden, config.num_layers, batch_first=True,
                       dropout=config.dropout if config.num_layers > 1 else 0.0)
        if config.cell == "lstm":
            # The usual LSTM start: forget gates open (bias 1), so that memory and gradients flow from the
            # first step; with torch's zero mean it sits on a blank plateau under CTC for thousands of steps.
            with torch.no_grad():
                for name, bias in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):
                        bias[hidden : 2 * hidden].fill_(1.0)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(hidden, len(config.labels) + self.extra_outputs)
        self.metadata: dict = {}  # what the checkpoint says beside the weights (training, calibration)

    def encode(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        x = self.project((x - self.feature_mean) / self.feature_std)
        y, state = self.rnn(x, state)
        return self.head(self.dropout(y)), state

    def initial_state(self, batch: int = 1) -> State:
        h = torch.zeros(self.config.num_layers, batch, self.config.hidden_size)
        return h if self.config.cell == "gru" else (h, torch.zeros_like(h))

    @property
    def state_bytes(self) -> int:
        """Recurrent state one stream holds, float32."""
        state = self.initial_state()
        return sum(t.numel() * t.element_size() for t in (state if isinstance(state, tuple) else (state,)))

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save_model(model: RecurrentModel, path: Path, **metadata) -> None:
    """Saves weights with the config that rebuilds them, so the file alone is enough."""
    config = dataclasses.asdict(model.config)
    torch.save({"config": config, "state_dict": model.state_dict(), "metadata": metadata}, path)


def build_model(config: ModelConfig) -> RecurrentModel:
    module, name = TASKS[config.task].split(":")
    return getattr(importlib.import_module(module), name)(config)


def load_model(path: Path) -> RecurrentModel:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    config = dict(checkpoint["config"])
    config["features"] = FeatureConfig(**config["features"])
    config["labels"] = tuple(config["labels"])
    model = build_model(ModelConfig(**config))
    model.load_state_dict(checkpoint["state_dict"])
    model.metadata = checkpoint.get("metadata", {})
    return model.eval()
