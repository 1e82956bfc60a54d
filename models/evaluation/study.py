"""The GRU-against-LSTM study: a folder of keyword training runs measured and summed up as rows, one per cell,
width, share of the training data and precision, with the spread over seeds."""

import hashlib
import json
import logging
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from rnnvoice.models.data.corpus import SAMPLE_RATE, Clip, load_clip, read_manifest
from rnnvoice.models.evaluation.costs import (cell_throughput, engine_cpu_ms, multiply_adds_per_audio_s, quantized,
                                              weight_bytes)
from rnnvoice.models.evaluation.keywords import clip_report
from rnnvoice.models.nets.checkpoint import load_model
from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.types import Task
from rnnvoice.models.vocabulary import COMMANDS, DIGITS

__all__ = ["HELDOUT_SETS", "StudyConfig", "find_runs", "markdown_tables", "study"]

log = logging.getLogger(__name__)

# What each run is scored on: a source's held-out real speakers and the labels scored, as `make reports` does
# (Speech Commands 12-class: the ten commands, silence and unknown; FSDD: the ten digits).
HELDOUT_SETS = {"sc": ("speech_commands", COMMANDS), "fsdd": ("fsdd", DIGITS)}


@dataclass(frozen=True)
class StudyConfig:
    corpus: Path
    cache: Path  # one JSON of accuracies per run and precision, reused while checkpoint and settings are the same
    recording: Path  # looped by the engine's streams for the CPU measurements
    accuracy_threshold: float = 0.6  # the development accuracy "steps to accuracy" counts to
    limit: int | None = None  # clips per held-out set, spread over it: for a quick look; None: all
    streams: int = 256  # stepped together for the batched CPU figure
    unbatched_streams: int = 16  # stepped one by one (the cost per stream does not depend on how many)
    repeats: int = 3  # of each CPU measurement, for its spread
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64, 256, 1024, 4096)


@dataclass
class Run:
    name: str
    path: Path
    model: KeywordSpotter
    history: list[dict]

    @property
    def train(self) -> dict:
        return self.model.metadata.get("train", {})

    @property
    def key(self) -> tuple[str, int, float]:
        """(cell, width, share of the real training clips): the runs that differ only by seed."""
        return str(self.model.config.cell), self.model.config.hidden_size, float(self.train.get("real_fraction", 1.0))


def find_runs(folder: Path) -> list[Run]:
    """The finished runs in a folder: checkpoints beside their .history.json, which training writes last (a run
    in progress has a checkpoint but no history yet)."""
    runs = []
    for history in sorted(Path(folder).glob("*.history.json")):
        name = history.name.removesuffix(".history.json")
        if not (path := history.with_name(name + ".pt")).exists():
            continue
        model = load_model(path)
        if model.config.task != Task.KEYWORDS:
            log.warning("leaving out %s: a %s model, not a keyword model", path, model.config.task)
            continue
        runs.append(Run(name, path, model, json.loads(history.read_text())))
    return runs


def heldout_clips(config: StudyConfig) -> dict[str, list[Clip]]:
    """Each held-out set's clips; with a limit, that many spread evenly over the set."""
    clips = [c for c in read_manifest(config.corpus) if c.split == "heldout"]
    sets = {name: [c for c in clips if c.source == source] for name, (source, _) in HELDOUT_SETS.items()}
    if config.limit:
        sets = {name: chosen[:: max(1, len(chosen) // config.limit)][: config.limit] for name, chosen in sets.items()}
    return sets


def _accuracies(run: Run, int8: bool, clips: dict[str, list[Clip]], config: StudyConfig) -> dict[str, float | None]:
    """The run's accuracy on each held-out set (None for a set the corpus has no clips of), from the cache while
    its checkpoint and the sets are unchanged."""
    key = {"checkpoint_sha256": hashlib.sha256(run.path.read_bytes()).hexdigest(), "corpus": str(config.corpus),
           "clips": {name: len(c) for name, c in clips.items()}, "limit": config.limit, "int8": int8}
    cached = config.cache / f"{run.name}{'.int8' if int8 else ''}.json"
    if cached.exists() and (saved := json.loads(cached.read_text()))["key"] == key:
        return saved["accuracy"]
    model = quantized(run.model) if int8 else run.model
    accuracy = {name: clip_report(model, clips[name], labels).accuracy if clips[name] else None
                for name, (_, labels) in HELDOUT_SETS.items()}
    config.cache.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps({"key": key, "accuracy": accuracy}, indent=1))
    return accuracy


def steps_to(history: list[dict], accuracy: float) -> int | None:
    """The first step whose development accuracy reached `accuracy`; None if none did."""
    return next((h["step"] for h in history if h.get("dev_accuracy", -1.0) >= accuracy), None)


def run_record(run: Run, int8: bool, clips: dict[str, list[Clip]], config: StudyConfig) -> dict:
    """One run's own numbers: what the rows average."""
    accuracy = _accuracies(run, int8, clips, config)
    return {"run": run.name, "seed": run.train.get("seed"), "steps": run.history[-1]["step"],
            **{f"{name}_accuracy": accuracy[name] for name in HELDOUT_SETS},
            "train_wall_s": run.history[-1]["elapsed_s"],
            "steps_to_accuracy": steps_to(run.history, config.accuracy_threshold)}


def model_costs(model: KeywordSpotter, int8: bool, config: StudyConfig) -> dict:
    """Size and CPU of one (cell, width, precision): the same for every seed, so measured once. int8 keeps the
    parameter count and the float32 state; its weights take fewer bytes."""
    params = model.parameter_count
    model = quantized(model) if int8 else model
    audio = load_clip(config.recording)
    unbatched, batched = (engine_cpu_ms(model, audio, SAMPLE_RATE, streams, batched=together, repeats=config.repeats)
                          for streams, together in ((config.unbatched_streams, False), (config.streams, True)))
    return {"params": params, "weight_bytes": weight_bytes(model), "state_bytes": model.state_bytes,
            "multiply_adds_per_audio_s": round(multiply_adds_per_audio_s(model)),
            "cpu_ms_per_audio_s": round(unbatched[0], 4), "cpu_ms_per_audio_s_std": round(unbatched[1], 4),
            "batched_cpu_ms_per_audio_s": round(batched[0], 4), "batched_cpu_ms_per_audio_s_std": round(batched[1], 4)}


def throughput(model: KeywordSpotter, int8: bool, config: StudyConfig) -> list[dict]:
    """The bare cell's stream-steps per CPU second at each batch size."""
    model = quantized(model) if int8 else model
    rows = []
    for batch in config.batch_sizes:
        mean, std = cell_throughput(model, batch, config.repeats)
        rows.append({"cell": str(model.config.cell), "width": model.config.hidden_size, "int8": int8, "batch": batch,
                     "steps_per_cpu_s": round(mean), "steps_per_cpu_s_std": round(std)})
    return rows


def _mean_std(name: str, records: list[dict]) -> dict:
    values = [r[name] for r in records if r[name] is not None]
    if not values:
        return {f"{name}_mean": None, f"{name}_std": None}
    return {f"{name}_mean": round(statistics.fmean(values), 4),
            f"{name}_std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0}


def study(runs: list[Run], config: StudyConfig) -> dict:
    """The study's document: its settings, a row per (cell, width, data fraction, int8) with the spread over seeds
    and every run's own numbers, and the bare cells' throughput against batch size. The full-data runs are
    measured in int8 as well. The CPU figures use the threads the caller set (the server runs one per operation)."""
    clips = heldout_clips(config)
    groups = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r.key, r.train.get("seed", 0))):
        groups[run.key].append(run)
    variants = [(key, int8) for key in groups for int8 in (False, True) if not int8 or key[2] == 1.0]
    records = {(key, int8): [run_record(run, int8, clips, config) for run in groups[key]]
               for key, int8 in tqdm(variants, desc="accuracy", unit="group")}
    # Costs depend on the shapes alone: one model of each (cell, width) stands for all its seeds and data shares.
    models = {key[:2]: runs_[0].model for key, runs_ in groups.items()}
    costs = {(shape, int8): model_costs(model, int8, config)
             for shape, model in tqdm(models.items(), desc="CPU", unit="shape") for int8 in (False, True)}
    rows = []
    for (key, int8), records_ in records.items():
        measures = [f"{s}_accuracy" for s in HELDOUT_SETS] + ["train_wall_s", "steps_to_accuracy"]
        rows.append({"cell": key[0], "width": key[1], "data_fraction": key[2], "int8": int8, **costs[key[:2], int8],
                     "seeds": [r["seed"] for r in records_],
                     **{k: v for name in measures for k, v in _mean_std(name, records_).items()},
                     "reached_accuracy": sum(r["steps_to_accuracy"] is not None for r in records_),
                     "runs": records_})
    cells = [row for model in tqdm(models.values(), desc="cell throughput", unit="shape")
             for int8 in (False, True) for row in throughput(model, int8, config)]
    settings = {"corpus": str(config.corpus), "recording": str(config.recording), "limit": config.limit,
                "accuracy_threshold": config.accuracy_threshold, "streams": config.streams,
                "unbatched_streams": config.unbatched_streams, "repeats": config.repeats, "threads": 1,
                "heldout_clips": {name: len(c) for name, c in clips.items()}}
    return {"settings": settings, "rows": rows, "throughput": cells}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _percent(row: dict, name: str) -> str:
    mean, std = row[f"{name}_mean"], row[f"{name}_std"]
    return "-" if mean is None else f"{100 * mean:.1f} ± {100 * std:.1f} %"


def markdown_tables(document: dict) -> str:
    """The rows as the Markdown tables of docs/study.md: the grid (float and int8), then the learning curve (the
    float rows of every cell and width that has runs on less data)."""
    threshold = document["settings"]["accuracy_threshold"]
    grid = ["| cell | width | int8 | params | weights (KiB) | state (bytes) | mult-adds per audio s (M) | seeds | "
            f"SC 12-class | FSDD digits | training (min) | steps to {threshold:.0%} dev | engine CPU ms per audio s | "
            "batched | server CPU ms per audio s | batched |", "|---" * 16 + "|"]
    curve = ["| cell | width | real clips | seeds | SC 12-class | FSDD digits |", "|---" * 6 + "|"]
    rows = document["rows"]
    curves = {(r["cell"], r["width"]) for r in rows if r["data_fraction"] < 1.0}
    for row in rows:
        seeds = len(row["seeds"])
        if (row["cell"], row["width"]) in curves and not row["int8"]:
            curve.append(f"| {row['cell'].upper()} | {row['width']} | {row['data_fraction']:.0%} | {seeds} | "
                         f"{_percent(row, 'sc_accuracy')} | {_percent(row, 'fsdd_accuracy')} |")
        if row["data_fraction"] < 1.0:
            continue
        steps, reached = row["steps_to_accuracy_mean"], row["reached_accuracy"]
        grid.append(
            f"| {row['cell'].upper()} | {row['width']} | {'yes' if row['int8'] else 'no'} | {row['params']:,} | "
            f"{row['weight_bytes'] / 1024:.0f} | {row['state_bytes']:,} | "
            f"{row['multiply_adds_per_audio_s'] / 1e6:.1f} | "
            f"{seeds} | {_percent(row, 'sc_accuracy')} | {_percent(row, 'fsdd_accuracy')} | "
            f"{row['train_wall_s_mean'] / 60:.1f} ± {row['train_wall_s_std'] / 60:.1f} | "
            f"{'never' if steps is None else f'{steps:.0f} ({reached}/{seeds})'} | "
            f"{row['cpu_ms_per_audio_s']:.3f} | {row['batched_cpu_ms_per_audio_s']:.3f} | "
            f"{_ms(row.get('server_cpu_ms_per_audio_s'))} | {_ms(row.get('server_batched_cpu_ms_per_audio_s'))} |")
    return "\n".join(grid) + "\n" + ("\nLearning curve:\n\n" + "\n".join(curve) + "\n" if curves else "")
