"""The loaded models: one shared, read-only model per (task, cell), whatever the number of streams."""

import collections
import logging
import threading
import weakref
from pathlib import Path

import grpc
import torch

from rnnvoice.models.decoding.context_search import ContextSearch
from rnnvoice.models.decoding.ctc import beam_search
from rnnvoice.models.nets.checkpoint import load_model
from rnnvoice.models.nets.recurrent import RecurrentModel
from rnnvoice.models.nlu.context import ContextError, parse_context
from rnnvoice.models.types import Cell, Task
from rnnvoice.protos import pb
from rnnvoice.service.errors import StartupError, StreamError

log = logging.getLogger(__name__)

# Inline contexts kept compiled after their last stream closed, for streams that come back with the same text.
RECENT_CONTEXTS = 16

TASK_ENUMS = {Task.KEYWORDS: pb.TASK_KEYWORDS, Task.TRANSCRIPTION: pb.TASK_TRANSCRIPTION}
CELLS = {Cell.GRU: pb.CELL_GRU, Cell.LSTM: pb.CELL_LSTM}


def load_served_model(path: Path, task: str, cell: str, device: str = "cpu") -> RecurrentModel:
    """A model file as the server serves it: checked to hold the (task, cell) it is served for, frozen, and run once;
    StartupError naming the file when it is missing, unreadable or holds another model."""
    model = _load(task, cell, Path(path)).to(device)
    if (model.config.task, model.config.cell) != (task, cell):
        raise StartupError(f"{path} holds a {model.config.task} {model.config.cell} model, not {task} {cell}")
    for p in model.parameters():
        p.requires_grad_(False)
    if model.config.features.embedded:
        _load_embedding(task, cell)
    with torch.inference_mode():  # the first stream should not pay for lazy initialisation
        model(torch.zeros(1, 1, model.config.features.dim, device=device))
    return model


class ModelRegistry:
    def __init__(
        self, paths: dict[tuple[str, str], Path], device: str = "cpu", contexts: dict[str, Path] | None = None
    ):
        if not paths:
            raise StartupError("no models to serve: train one with `rnnvoice train` or reinstall the shipped weights")
        self.models: dict[tuple[str, str], RecurrentModel] = {}
        self.names: dict[tuple[str, str], str] = {}
        for (task, cell), path in sorted(paths.items()):
            model = load_served_model(path, task, cell, device)
            self.models[task, cell] = model
            self.names[task, cell] = Path(path).name
            log.info(
                "loaded %s %s model from %s: %d parameters, %d state bytes per stream",
                task,
                cell,
                path,
                model.parameter_count,
                model.state_bytes,
            )
        if any(task == Task.KEYWORDS for task, _ in self.models):
            _load_background()
        if any(task == Task.TRANSCRIPTION for task, _ in self.models):
            beam_search()
        self.contexts = {
            name: _load_context(name, Path(path)) for name, path in (contexts or {}).items()
        }  # loads the shipped language model, lexicon and decoder settings once, before any stream

    def get(self, task: str, cell: str) -> RecurrentModel:
        model = self.models.get((task, cell))
        if model is None:
            loaded = ", ".join(f"{t}/{c}" for t, c in self.models) or "none"
            raise StreamError(
                grpc.StatusCode.NOT_FOUND, f"no {task} model with a {cell.upper()} cell is loaded (loaded: {loaded})"
            )
        return model

    def describe(self) -> list[pb.ModelInfo]:
        infos = []
        for (task, cell), model in self.models.items():
            c = model.config
            infos.append(
                pb.ModelInfo(
                    task=TASK_ENUMS[task],
                    cell=CELLS[cell],
                    name=self.names[task, cell],
                    keywords=list(c.keywords) if task == Task.KEYWORDS else list(c.labels[1:]),
                    parameters=model.parameter_count,
                    state_bytes=model.state_bytes,
                    hidden_size=c.hidden_size,
                    layers=c.num_layers,
                    sample_rate_hz=c.features.sample_rate,
                    frame_rate_hz=c.features.step_rate,
                )
            )
        return infos


def _load_embedding(task: str, cell: str) -> None:
    from rnnvoice.models.streaming import embedding_front

    _load_shipped(
        embedding_front.speech_embedding,
        f"the {task} {cell} model reads the speech embedding, which",
        "reinstall the shipped weights or run `rnnvoice import-embedding`",
    )


def _load_shipped(load, what: str, remedy: str) -> None:
    """A shipped file loaded once before any stream; StartupError saying what did not load and what to do, rather
    than a failure on every stream."""
    try:
        load()
    except Exception as e:  # a missing file, another file, a damaged one: all mean the same here
        raise StartupError(f"{what} did not load ({_reason(e)}); {remedy}") from e


def _load_context(name: str, path: Path) -> ContextSearch:
    """A context named at start-up, compiled; StartupError naming the file and the line of what is wrong."""
    try:
        return ContextSearch(parse_context(path.read_text()))
    except (OSError, ContextError) as e:
        raise StartupError(f"context {name!r} ({path}): {e}") from e


class InlineContexts:
    """The contexts streams sent, by their text: compiled once and shared by every open stream that sent it, held
    weakly so that it goes with its last stream, and the `recent` last asked for kept beside them. (A cache of 64
    held 190 MB of contexts at the size limits after their streams had closed.)"""

    def __init__(self, recent: int = RECENT_CONTEXTS):
        self.open: weakref.WeakValueDictionary[str, ContextSearch] = weakref.WeakValueDictionary()
        self.recent: collections.OrderedDict[str, ContextSearch] = collections.OrderedDict()
        self.size = recent
        self.lock = threading.Lock()

    def get(self, text: str) -> ContextSearch:
        """The compiled context of text; ContextError if it is bad."""
        with self.lock:
            search = self.open.get(text)
        if search is None:  # compiled outside the lock: other streams' contexts need not wait for it
            compiled = ContextSearch(parse_context(text))
            with self.lock:
                search = self.open.setdefault(text, compiled)
        with self.lock:
            self.recent[text] = search
            self.recent.move_to_end(text)
            while len(self.recent) > self.size:
                self.recent.popitem(last=False)
        return search


inline_context = InlineContexts().get


def _load_background() -> None:
    """The statistics of other speech that keyword streams' phrases are spotted against."""
    from rnnvoice.models.streaming import phrase_spotter

    _load_shipped(
        phrase_spotter.speech_background,
        f"the phrase spotter's {phrase_spotter.BACKGROUND_FILE}",
        "reinstall the shipped weights or run `rnnvoice background`",
    )


def _load(task: str, cell: str, path: Path) -> RecurrentModel:
    """The model of a weights file; StartupError naming the file when it is missing or not a model file."""
    if not path.is_file():
        raise StartupError(f"the {task} {cell} model file {path} does not exist")
    try:
        return load_model(path)
    except Exception as e:  # torch raises many kinds for a damaged file; all mean the same here
        raise StartupError(
            f"the {task} {cell} model file {path} is not a readable rnnvoice model ({_reason(e)}); "
            "retrain it or restore the file"
        ) from e


def _reason(e: Exception) -> str:
    """An exception in one short line, for a start-up message."""
    return f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else 'no detail'}"
