"""Model files: the weights with the config that rebuilds them, so the file alone is enough."""

import dataclasses
from enum import StrEnum
from pathlib import Path

import torch

from rnnvoice.models.audio.features import FeatureConfig
from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.nets.recurrent import ModelConfig, RecurrentModel
from rnnvoice.models.nets.speech_recognizer import SpeechRecognizer
from rnnvoice.models.types import Task

__all__ = ["build_model", "load_model", "model_from_config", "plain_dict", "save_model"]

# The network each task trains and serves.
NETWORKS: dict[Task, type[RecurrentModel]] = {Task.KEYWORDS: KeywordSpotter, Task.TRANSCRIPTION: SpeechRecognizer}


def save_model(model: RecurrentModel, path: Path, **metadata) -> None:
    """Saves weights with the config that rebuilds them, so the file alone is enough."""
    torch.save({"config": plain_dict(model.config), "state_dict": model.state_dict(), "metadata": metadata}, path)


def plain_dict(config) -> dict:
    """A config dataclass as `dataclasses.asdict`, with enums as plain strings: a file loaded with
    weights_only=True may hold no classes of ours, enums included."""
    return dataclasses.asdict(
        config,
        dict_factory=lambda fields: {
            name: str(value) if isinstance(value, StrEnum) else value for name, value in fields
        },
    )


def build_model(config: ModelConfig) -> RecurrentModel:
    return NETWORKS[config.task](config)


def model_from_config(saved: dict) -> RecurrentModel:
    """A freshly initialised network of a config as a checkpoint saves it (`plain_dict`)."""
    config = dict(saved)
    # A field the file predates takes its default: the shipped keyword models were saved before `normalization`
    # and `relative_floor` existed, with raw log-mels and no relative floor, which are FeatureConfig's defaults.
    config["features"] = FeatureConfig(**config["features"])
    config["labels"] = tuple(config["labels"])
    return build_model(ModelConfig(**config))


def load_model(path: Path) -> RecurrentModel:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = model_from_config(checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    model.metadata = checkpoint.get("metadata", {})
    return model.eval()
