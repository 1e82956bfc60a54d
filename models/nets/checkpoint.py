"""Model files: the weights with the config that rebuilds them, so the file alone is enough."""

import dataclasses
from pathlib import Path

import torch

from rnnvoice.models.audio.features import FeatureConfig
from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.nets.recurrent import ModelConfig, RecurrentModel
from rnnvoice.models.nets.speech_recognizer import SpeechRecognizer
from rnnvoice.models.types import Task

__all__ = ["build_model", "load_model", "save_model"]

# The network each task trains and serves.
NETWORKS: dict[Task, type[RecurrentModel]] = {Task.KEYWORDS: KeywordSpotter, Task.TRANSCRIPTION: SpeechRecognizer}


def save_model(model: RecurrentModel, path: Path, **metadata) -> None:
    """Saves weights with the config that rebuilds them, so the file alone is enough."""
    # Plain strings: a file loaded with weights_only=True may hold no classes of ours, enums included.
    config = dataclasses.asdict(model.config) | {"task": str(model.config.task), "cell": str(model.config.cell)}
    torch.save({"config": config, "state_dict": model.state_dict(), "metadata": metadata}, path)


def build_model(config: ModelConfig) -> RecurrentModel:
    return NETWORKS[config.task](config)


def load_model(path: Path) -> RecurrentModel:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    config = dict(checkpoint["config"])
    # Checkpoints from before the running normalisation knew only raw log-mels.
    config["features"] = FeatureConfig(**{"normalization": "none", "relative_floor": 0.0, **config["features"]})
    config["labels"] = tuple(config["labels"])
    model = build_model(ModelConfig(**config))
    model.load_state_dict(checkpoint["state_dict"])
    model.metadata = checkpoint.get("metadata", {})
    return model.eval()
