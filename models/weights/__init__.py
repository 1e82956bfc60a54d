"""The shipped models: small weight files with their model card (MODEL_CARD.md)."""

from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent


def shipped_models() -> dict[tuple[str, str], Path]:
    """(task, cell) -> weights file, for every shipped model present."""
    found = {(task, cell): WEIGHTS / f"{task}_{cell}.pt" for task in ("keywords", "transcription")
             for cell in ("gru", "lstm")}
    return {key: path for key, path in found.items() if path.exists()}
