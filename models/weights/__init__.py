"""The shipped models: small weight files with their model card (MODEL_CARD.md)."""

from pathlib import Path

from rnnvoice.models.types import MODEL_TASKS, Cell, Task

WEIGHTS = Path(__file__).resolve().parent


def model_files(folder: Path = WEIGHTS) -> dict[tuple[Task, Cell], Path]:
    """(task, cell) -> weights file, for every model the package ships: a GRU and an LSTM for each task."""
    return {(task, cell): Path(folder) / f"{task}_{cell}.pt" for task in MODEL_TASKS for cell in Cell}


def shipped_models(folder: Path = WEIGHTS) -> dict[tuple[Task, Cell], Path]:
    """(task, cell) -> weights file, for every shipped model present."""
    return {key: path for key, path in model_files(folder).items() if path.exists()}
