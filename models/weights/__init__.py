"""The shipped models: small weight files with their model card (MODEL_CARD.md)."""

from pathlib import Path

from rnnvoice.models.types import MODEL_TASKS, Cell, Task

WEIGHTS = Path(__file__).resolve().parent


def shipped_models() -> dict[tuple[Task, Cell], Path]:
    """(task, cell) -> weights file, for every shipped model present."""
    found = {(task, cell): WEIGHTS / f"{task}_{cell}.pt" for task in MODEL_TASKS for cell in Cell}
    return {key: path for key, path in found.items() if path.exists()}
