"""The study's runs: the finished training runs of a folder, each with its settings, history and checkpoint (or,
where the checkpoint is gone, the cached scores and network config of the one MANIFEST.sha256 lists), and their
scores on held-out sets, cached while checkpoint and sets are unchanged. Keyword runs (study) and recognisers
(study_recognisers) are scored and summed up on this."""

import hashlib
import json
import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rnnvoice.models.evaluation.costs import quantized
from rnnvoice.models.nets.checkpoint import load_model, model_from_config, plain_dict
from rnnvoice.models.nets.recurrent import RecurrentModel
from rnnvoice.models.types import Task

__all__ = [
    "CHECKPOINTS",
    "Run",
    "Scoring",
    "StudyConfig",
    "StudyError",
    "cached_scores",
    "find_runs",
    "mean_std",
    "percent",
    "shape_networks",
    "spread",
    "steps_to",
    "write_checkpoints",
]

log = logging.getLogger(__name__)

# Beside the runs, as `sha256sum -c` reads it: the checkpoints the study measured. Where a checkpoint is gone, its
# cached scores count only if they are of the checkpoint listed here.
CHECKPOINTS = "MANIFEST.sha256"


class StudyError(Exception):
    """A run the study cannot measure (no checkpoint, no cached accuracy, no corpus); the message says what is
    missing and how to get it."""


@dataclass(frozen=True)
class StudyConfig:
    corpus: Path  # the keyword corpus, whose held-out clips score the keyword runs
    cache: Path  # one JSON of scores per run and precision, reused while checkpoint and settings are the same
    recording: Path  # looped by the engine's streams for the CPU measurements
    accuracy_threshold: float = 0.6  # the development accuracy "steps to accuracy" counts to
    limit: int | None = None  # clips per held-out set, spread over it: for a quick look; None: all
    features: Path | None = None  # where the held-out clips' front-end steps are kept (clip_steps); None: not kept
    streams: int = 256  # stepped together for the batched CPU figure
    unbatched_streams: int = 16  # stepped one by one (the cost per stream does not depend on how many)
    repeats: int = 3  # of each CPU measurement, for its spread
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64, 256, 1024, 4096)
    cpu: bool = True  # False: no CPU figure is measured (the slow part), for a look at accuracies between runs
    # The transcription corpus (`rnnvoice data --task transcription`), whose held-out recordings score recognisers.
    transcription_corpus: Path = Path("data/asr")


@dataclass
class Run:
    name: str
    path: Path  # the checkpoint, or where it was
    checkpoint_sha256: str
    # task, front_end, cell, width, data_fraction (of the real training speakers) and seed: what the rows group by;
    # and converged_step, the step of the best evaluation of a run trained to convergence (None for a fixed schedule)
    settings: dict
    history: list[dict]
    model: RecurrentModel | None = None  # None: the checkpoint is gone, and its accuracies come from the cache
    model_config: dict | None = None  # the network's config as checkpoints save it; None: cached before it was kept

    @property
    def task(self) -> Task:
        return Task(self.settings["task"])

    @property
    def key(self) -> tuple[str, str, int, float]:
        """(front end, cell, width, share of the real training speakers): the runs that differ only by seed."""
        s = self.settings
        return s["front_end"], s["cell"], s["width"], s["data_fraction"]

    @property
    def shape(self) -> tuple[str, str, int]:
        """(front end, cell, width): what the costs depend on."""
        return self.key[:3]


def find_runs(folder: Path, cache: Path) -> list[Run]:
    """The finished runs in a folder, keyword models and recognisers: each .history.json (training writes it last)
    with its checkpoint, or where the checkpoint is gone, the cached scores of the one the folder's MANIFEST.sha256
    lists (StudyError if there are none). A run whose .resume.pt is newer than its checkpoint is still training,
    and left out."""
    listed = _listed_checkpoints(Path(folder))
    runs = []
    for history_path in sorted(Path(folder).glob("*.history.json")):
        name = history_path.name.removesuffix(".history.json")
        path, history = history_path.with_name(name + ".pt"), json.loads(history_path.read_text())
        if not path.exists():
            runs.append(_run_from_cache(name, path, history, listed.get(path.name), cache))
            continue
        resume = path.with_suffix(".resume.pt")
        if resume.exists() and resume.stat().st_mtime >= path.stat().st_mtime:
            log.warning("leaving out %s: still training (%s)", path, resume.name)
            continue
        model = load_model(path)
        train = model.metadata.get("train", {})
        settings = {
            "task": str(model.config.task),
            "front_end": str(model.config.features.front_end),
            "cell": str(model.config.cell),
            "width": model.config.hidden_size,
            "data_fraction": float(train.get("real_fraction", 1.0)),
            "seed": train.get("seed"),
            "converged_step": model.metadata.get("converged_step"),
        }
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        runs.append(Run(name, path, sha256, settings, history, model, plain_dict(model.config)))
    return runs


def _listed_checkpoints(folder: Path) -> dict[str, str]:
    """MANIFEST.sha256's checkpoints: file name -> SHA-256 (a name may carry sha256sum's binary-mode `*`)."""
    manifest = folder / CHECKPOINTS
    lines = manifest.read_text().splitlines() if manifest.exists() else []
    return {name.lstrip("*"): digest for digest, name in (line.split(maxsplit=1) for line in lines if line.strip())}


def _run_from_cache(name: str, path: Path, history: list[dict], sha256: str | None, cache: Path) -> Run:
    """A run whose checkpoint is gone, as the cached accuracies of the listed checkpoint describe it."""
    cached = cache / f"{name}.json"
    saved = json.loads(cached.read_text()) if cached.exists() else {}
    if sha256 is None or saved.get("key", {}).get("checkpoint_sha256") != sha256 or "run" not in saved:
        raise StudyError(
            f"{name}: no checkpoint at {path}, and no cached scores of the one {CHECKPOINTS} lists; "
            "`make study` retrains it"
        )
    # Runs cached before the study had recognisers, two front ends or runs trained to convergence: keyword runs on
    # log-mels, of a fixed schedule.
    settings = {"task": str(Task.KEYWORDS), "front_end": "log_mels", "converged_step": None} | saved["run"]
    return Run(name, path, sha256, settings, history, model_config=saved.get("model"))


def write_checkpoints(runs: list[Run], folder: Path) -> Path:
    """MANIFEST.sha256 of the runs' checkpoints (those gone, as listed before), in `sha256sum` format."""
    path = Path(folder) / CHECKPOINTS
    path.write_text(
        "".join(f"{run.checkpoint_sha256}  {run.path.name}\n" for run in sorted(runs, key=lambda r: r.path.name))
    )
    return path


@dataclass(frozen=True)
class Scoring:
    """How a run is scored on held-out sets: the corpus they come from (`missing` says why there are none), the
    name of the scores in the cache, and `score(model, set name, items)`."""

    corpus: Path
    sets: dict[str, list] | None  # each set's items (clips, recordings); None: no corpus to read them from
    missing: str
    field: str
    score: Callable[[RecurrentModel, str, list], float]


def cached_scores(run: Run, int8: bool, scoring: Scoring, config: StudyConfig) -> tuple[dict, dict]:
    """The run's score on each held-out set (None for a set the corpus has nothing in) and the sets' sizes, from
    the cache while its checkpoint and the sets are unchanged. Without the corpus the sets' sizes are unknown: the
    cached ones stand."""
    sets = scoring.sets
    sizes = None if sets is None else {name: len(items) for name, items in sets.items()}
    key = {
        "checkpoint_sha256": run.checkpoint_sha256,
        "corpus": str(scoring.corpus),
        "clips": sizes,
        "limit": config.limit,
        "int8": int8,
    }
    cached = config.cache / f"{run.name}{'.int8' if int8 else ''}.json"
    saved = json.loads(cached.read_text()) if cached.exists() else None
    if saved and saved["key"] == key | ({"clips": saved["key"]["clips"]} if sets is None else {}):
        return saved[scoring.field], saved["key"]["clips"]
    what = f"{run.name}{' in int8' if int8 else ''}: no cached {scoring.field.replace('_', ' ')} for these settings"
    if run.model is None:
        raise StudyError(f"{what}, and no checkpoint at {run.path} to measure; `make study` retrains it")
    if sets is None:
        raise StudyError(f"{what}, and no corpus to measure it on: {scoring.missing}")
    model = quantized(run.model) if int8 else run.model
    scores = {name: scoring.score(model, name, items) if items else None for name, items in sets.items()}
    config.cache.mkdir(parents=True, exist_ok=True)
    record = {"key": key, "run": run.settings, "model": run.model_config, scoring.field: scores}
    cached.write_text(json.dumps(record, indent=1))
    return scores, sizes


def mean_std(name: str, records: list[dict]) -> dict:
    values = [r[name] for r in records if r[name] is not None]
    if not values:
        return {f"{name}_mean": None, f"{name}_std": None}
    return {
        f"{name}_mean": round(statistics.fmean(values), 4),
        f"{name}_std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
    }


def steps_to(history: list[dict], accuracy: float) -> int | None:
    """The first step whose development accuracy reached `accuracy`; None if none did."""
    return next((h["step"] for h in history if h.get("dev_accuracy", -1.0) >= accuracy), None)


def spread(items: list, limit: int | None) -> list:
    """`limit` of the items, spread evenly over them, for a quick look; all of them without a limit."""
    return items[:: max(1, len(items) // limit)][:limit] if limit else items


def percent(row: dict, name: str) -> str:
    """A row's mean and spread over seeds of a share, in percent; "-" where it was not measured."""
    mean, std = row[f"{name}_mean"], row[f"{name}_std"]
    return "-" if mean is None else f"{100 * mean:.1f} ± {100 * std:.1f} %"


def shape_networks(runs: list[Run]) -> dict[tuple[str, str, int], tuple[RecurrentModel, Path | None]]:
    """One network of each (front end, cell, width) for what depends on the shape alone (sizes and CPU), with the
    checkpoint it was loaded from: a run's checkpoint where one is here, else a network of a run's saved config,
    freshly initialised (None). A shape with neither is left out."""
    chosen = {}
    for run in runs:
        if run.model is not None:
            chosen.setdefault(run.shape, (run.model, run.path))
    for run in runs:
        if run.shape not in chosen and run.model_config is not None:
            chosen[run.shape] = (model_from_config(run.model_config).eval(), None)
    return chosen
