"""The GRU-against-LSTM study: a folder of keyword training runs (study_runs) measured and summed up as rows, one
per front end, cell, width, share of the real training speakers and precision, with the spread over seeds, and the
recognisers' runs beside them (study_recognisers). A run whose checkpoint is gone (they are not committed) is
described by its cached accuracies, history and network config: its accuracy rows come back without the corpus,
and its sizes and CPU from a network of its config, freshly initialised (the arithmetic of a step does not depend
on the weights' values)."""

from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from rnnvoice.models.audio.features import FeatureConfig
from rnnvoice.models.data.corpus import MANIFEST, SAMPLE_RATE, Clip, load_clip, read_manifest
from rnnvoice.models.evaluation.costs import (
    cell_throughput,
    engine_cpu_ms,
    front_end_cpu_ms,
    multiply_adds_per_audio_s,
    quantized,
    weight_bytes,
)
from rnnvoice.models.evaluation.keywords import clip_report
from rnnvoice.models.evaluation.study_recognisers import recogniser_rows, recogniser_table
from rnnvoice.models.evaluation.study_runs import (
    CHECKPOINTS,
    Run,
    Scoring,
    StudyConfig,
    StudyError,
    cached_scores,
    mean_std,
    percent,
    shape_networks,
    spread,
    steps_to,
)
from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.nets.recurrent import RecurrentModel
from rnnvoice.models.types import Task
from rnnvoice.models.vocabulary import COMMANDS, DIGITS

__all__ = ["HELDOUT_SETS", "cost_models", "markdown_tables", "study"]

# What each run is scored on: a source's held-out real speakers and the labels scored, as `make reports` does
# (Speech Commands 12-class: the ten commands, silence and unknown; FSDD: the ten digits).
HELDOUT_SETS = {"sc": ("speech_commands", COMMANDS), "fsdd": ("fsdd", DIGITS)}
# A row's sizes and CPU: what depends on its network's shape alone (None where there is no network of it).
COSTS = (
    "params",
    "weight_bytes",
    "state_bytes",
    "multiply_adds_per_audio_s",
    "cpu_ms_per_audio_s",
    "cpu_ms_per_audio_s_std",
    "batched_cpu_ms_per_audio_s",
    "batched_cpu_ms_per_audio_s_std",
)

# A row's front end's own CPU (front_end_costs), the same for every row of that front end.
FRONT_END_COSTS = (
    "front_end_cpu_ms_per_audio_s",
    "front_end_cpu_ms_per_audio_s_std",
    "batched_front_end_cpu_ms_per_audio_s",
    "batched_front_end_cpu_ms_per_audio_s_std",
)


def cost_models(runs: list[Run]) -> dict[tuple[str, str, int], tuple[RecurrentModel, Path | None]]:
    """`shape_networks` of the keyword runs: what their sizes and CPU are measured on."""
    return shape_networks([run for run in runs if run.task == Task.KEYWORDS])


def heldout_clips(config: StudyConfig) -> dict[str, list[Clip]] | None:
    """Each held-out set's clips (config.limit of them, spread over it). None without the corpus."""
    if not (config.corpus / MANIFEST).exists():
        return None
    clips = [c for c in read_manifest(config.corpus) if c.split == "heldout"]
    return {name: spread([c for c in clips if c.source == s], config.limit) for name, (s, _) in HELDOUT_SETS.items()}


def keyword_scoring(config: StudyConfig) -> Scoring:
    """Keyword runs: accuracy on the keyword corpus's held-out clips, through the streaming engine."""

    def accuracy(model: RecurrentModel, name: str, clips: list[Clip]) -> float:
        return clip_report(model, clips, HELDOUT_SETS[name][1], cache=config.features).accuracy

    missing = f"no corpus manifest at {config.corpus / MANIFEST}"
    return Scoring(config.corpus, heldout_clips(config), missing, "accuracy", accuracy)


def run_record(run: Run, accuracy: dict[str, float | None], config: StudyConfig) -> dict:
    """One run's own numbers: what the rows average."""
    return {
        "run": run.name,
        "seed": run.settings["seed"],
        "steps": run.history[-1]["step"],
        **{f"{name}_accuracy": accuracy[name] for name in HELDOUT_SETS},
        "train_wall_s": run.history[-1]["elapsed_s"],
        "steps_to_accuracy": steps_to(run.history, config.accuracy_threshold),
        "converged_step": run.settings["converged_step"],
        "best_dev_accuracy": max((h["dev_accuracy"] for h in run.history if "dev_accuracy" in h), default=None),
    }


def model_costs(model: KeywordSpotter, int8: bool, config: StudyConfig) -> dict:
    """Size and CPU of one (cell, width, precision): the same for every seed, so measured once. int8 keeps the
    parameter count and the float32 state; its weights take fewer bytes."""
    params = model.parameter_count
    model = quantized(model) if int8 else model
    audio = load_clip(config.recording)
    unbatched, batched = (
        engine_cpu_ms(model, audio, SAMPLE_RATE, streams, batched=together, repeats=config.repeats)
        if config.cpu
        else (None, None)
        for streams, together in ((config.unbatched_streams, False), (config.streams, True))
    )
    measured = (
        params,
        weight_bytes(model),
        model.state_bytes,
        round(multiply_adds_per_audio_s(model)),
        *(None if v is None else round(v, 4) for v in (*unbatched, *batched)),
    )
    return dict(zip(COSTS, measured))


def front_end_costs(configs: dict[str, FeatureConfig], config: StudyConfig) -> dict[str, dict]:
    """Each front end's own CPU (`front_end_cpu_ms`), stream by stream and batched as `model_costs` measures the
    engine: the part of a row's engine CPU that is not its cell's. Without config.cpu, none."""
    if not config.cpu:
        return {}
    audio = load_clip(config.recording)
    costs = {}
    for name, features in tqdm(configs.items(), desc="front end CPU", unit="front end"):
        measured = [
            front_end_cpu_ms(features, audio, SAMPLE_RATE, streams, batched=together, repeats=config.repeats)
            for streams, together in ((config.unbatched_streams, False), (config.streams, True))
        ]
        costs[name] = dict(zip(FRONT_END_COSTS, (round(v, 4) for pair in measured for v in pair)))
    return costs


def throughput(model: KeywordSpotter, int8: bool, config: StudyConfig) -> list[dict]:
    """The bare cell's stream-steps per CPU second at each batch size."""
    model = quantized(model) if int8 else model
    rows = []
    for batch in config.batch_sizes:
        mean, std = cell_throughput(model, batch, config.repeats)
        rows.append(
            {
                "cell": str(model.config.cell),
                "width": model.config.hidden_size,
                "int8": int8,
                "batch": batch,
                "steps_per_cpu_s": round(mean),
                "steps_per_cpu_s_std": round(std),
            }
        )
    return rows


def study(runs: list[Run], config: StudyConfig) -> dict:
    """The study's document: its settings, a row per (cell, width, data fraction, int8) with the spread over seeds
    and every run's own numbers, and the bare cells' throughput against batch size. The full-data runs are
    measured in int8 as well. Runs without a checkpoint are named in `without_checkpoint`; their accuracies
    must be cached; a shape none of whose checkpoints is here has its sizes and CPU measured on a network of its
    config (the row's costs_from says which), and goes without them where no config was kept either. The CPU
    figures use the threads the caller set (the server runs one per operation)."""
    scoring = keyword_scoring(config)
    groups = defaultdict(list)
    for run in sorted((r for r in runs if r.task == Task.KEYWORDS), key=lambda r: (r.key, r.settings["seed"] or 0)):
        groups[run.key].append(run)
    variants = [(key, int8) for key in groups for int8 in (False, True) if not int8 or key[3] == 1.0]
    records, sizes = {}, []  # sizes: of the held-out sets each accuracy was measured on, once each
    for key, int8 in tqdm(variants, desc="accuracy", unit="group"):
        for run in groups[key]:
            accuracy, size = cached_scores(run, int8, scoring, config)
            records.setdefault((key, int8), []).append(run_record(run, accuracy, config))
            sizes += [size] if size not in sizes else []
    if len(sizes) > 1:
        raise StudyError(
            f"the cached accuracies were measured on held-out sets of different sizes ({sizes[0]}, "
            f"{sizes[1]}): give the corpus (--corpus) to measure them again"
        )
    # Costs depend on the shapes alone: one model of each (front end, cell, width) stands for all its seeds and data
    # shares.
    chosen = cost_models(runs)
    models = {shape: model for shape, (model, _) in chosen.items()}
    costs = {
        (shape, int8): model_costs(model, int8, config) | {"costs_from": "checkpoint" if path else "initialised"}
        for shape, (model, path) in tqdm(chosen.items(), desc="CPU", unit="shape")
        for int8 in (False, True)
    }
    rows = []
    for (key, int8), records_ in records.items():
        measures = [f"{s}_accuracy" for s in HELDOUT_SETS]
        measures += ["train_wall_s", "steps", "steps_to_accuracy", "converged_step", "best_dev_accuracy"]
        rows.append(
            {
                "front_end": key[0],
                "cell": key[1],
                "width": key[2],
                "data_fraction": key[3],
                "int8": int8,
                **costs.get((key[:3], int8), dict.fromkeys((*COSTS, "costs_from"))),
                "seeds": [r["seed"] for r in records_],
                **{k: v for name in measures for k, v in mean_std(name, records_).items()},
                "reached_accuracy": sum(r["steps_to_accuracy"] is not None for r in records_),
                "runs": records_,
            }
        )
    fronts = front_end_costs({shape[0]: model.config.features for shape, model in models.items()}, config)
    for row in rows:
        row |= fronts.get(row["front_end"], dict.fromkeys(FRONT_END_COSTS))
    # The bare cell reads its hidden width, whatever the front end: one model of each cell and width.
    bare = {(m.config.cell, m.config.hidden_size): m for m in models.values()}
    cells = [
        row
        for model in tqdm(bare.values() if config.cpu else [], desc="cell throughput", unit="shape")
        for int8 in (False, True)
        for row in throughput(model, int8, config)
    ]
    settings = {
        "corpus": str(config.corpus),
        "recording": str(config.recording),
        "limit": config.limit,
        "accuracy_threshold": config.accuracy_threshold,
        "streams": config.streams,
        "unbatched_streams": config.unbatched_streams,
        "repeats": config.repeats,
        "threads": 1,
        "cpu": config.cpu,
        "heldout_clips": sizes[0] if sizes else None,
        "transcription_corpus": str(config.transcription_corpus),
    }
    return {
        "settings": settings,
        "rows": rows,
        "throughput": cells,
        "recognisers": recogniser_rows([r for r in runs if r.task == Task.TRANSCRIPTION], config),
        "without_checkpoint": sorted(run.name for run in runs if run.model is None),
    }


def _number(value: float | None, spec: str, scale: float = 1.0) -> str:
    """value / scale in the format spec; "-" for what was not measured."""
    return "-" if value is None else format(value / scale, spec)


# How each front end is named in the tables.
FRONT_END_NAMES = {"speech_embedding": "speech embedding", "log_mels": "log-mels"}


def _steps(row: dict, name: str) -> str:
    mean, std = row[f"{name}_mean"], row[f"{name}_std"]
    return "-" if mean is None else f"{mean:,.0f} ± {std:,.0f}"


def _grid(rows: list[dict], threshold: float) -> list[str]:
    table = [
        "| cell | width | int8 | params | weights (KiB) | state (bytes) | mult-adds per audio s (M) | seeds | "
        "SC 12-class | FSDD digits | best dev | converged at step | steps run | training (min) | "
        f"steps to {threshold:.0%} dev | engine CPU ms per audio s | batched | cell and decisions, batched | "
        "server CPU ms per audio s | batched |",
        "|---" * 20 + "|",
    ]
    for row in rows:
        if row["data_fraction"] < 1.0:
            continue
        seeds, steps, reached = len(row["seeds"]), row["steps_to_accuracy_mean"], row["reached_accuracy"]
        front, batched = row.get("batched_front_end_cpu_ms_per_audio_s"), row["batched_cpu_ms_per_audio_s"]
        own = None if front is None or batched is None else batched - front
        table.append(
            f"| {row['cell'].upper()} | {row['width']} | {'yes' if row['int8'] else 'no'} | "
            f"{_number(row['params'], ',.0f')} | {_number(row['weight_bytes'], '.0f', 1024)} | "
            f"{_number(row['state_bytes'], ',.0f')} | {_number(row['multiply_adds_per_audio_s'], '.1f', 1e6)} | "
            f"{seeds} | {percent(row, 'sc_accuracy')} | {percent(row, 'fsdd_accuracy')} | "
            f"{percent(row, 'best_dev_accuracy')} | {_steps(row, 'converged_step')} | {_steps(row, 'steps')} | "
            f"{row['train_wall_s_mean'] / 60:.1f} ± {row['train_wall_s_std'] / 60:.1f} | "
            f"{'never' if steps is None else f'{steps:,.0f} ({reached}/{seeds})'} | "
            f"{_number(row['cpu_ms_per_audio_s'], '.3f')} | {_number(batched, '.3f')} | {_number(own, '.3f')} | "
            f"{_number(row.get('server_cpu_ms_per_audio_s'), '.2f')} | "
            f"{_number(row.get('server_batched_cpu_ms_per_audio_s'), '.2f')} |"
        )
    return table


def _curve(rows: list[dict]) -> list[str]:
    table = [
        "| cell | width | real training speakers | seeds | SC 12-class | FSDD digits | best dev | converged at step |",
        "|---" * 8 + "|",
    ]
    curves = {(r["cell"], r["width"]) for r in rows if r["data_fraction"] < 1.0}
    for row in rows:
        if (row["cell"], row["width"]) in curves and not row["int8"]:
            table.append(
                f"| {row['cell'].upper()} | {row['width']} | {100 * row['data_fraction']:g}% | {len(row['seeds'])} | "
                f"{percent(row, 'sc_accuracy')} | {percent(row, 'fsdd_accuracy')} | "
                f"{percent(row, 'best_dev_accuracy')} | {_steps(row, 'converged_step')} |"
            )
    return table if len(table) > 2 else []


def markdown_tables(document: dict) -> str:
    """The rows as the Markdown tables of docs/study.md, for each front end: its own CPU, the grid (float and int8),
    then the learning curve (the float rows of every cell and width that has runs on less data); then the
    recognisers' learning curve."""
    threshold = document["settings"]["accuracy_threshold"]
    parts = []
    for front_end in dict.fromkeys(r["front_end"] for r in document["rows"]):
        rows = [r for r in document["rows"] if r["front_end"] == front_end]
        name = FRONT_END_NAMES.get(front_end, front_end)
        parts.append(f"### {name[0].upper() + name[1:]}\n")
        if rows[0].get("batched_front_end_cpu_ms_per_audio_s") is not None:
            parts.append(
                f"The front end alone costs {rows[0]['front_end_cpu_ms_per_audio_s']:.3f} ms of CPU per second of "
                f"audio stream by stream, {rows[0]['batched_front_end_cpu_ms_per_audio_s']:.3f} batched: part of "
                "every engine figure below.\n"
            )
        parts.append("\n".join(_grid(rows, threshold)) + "\n")
        if curve := _curve(rows):
            parts.append(f"Learning curve ({name}):\n\n" + "\n".join(curve) + "\n")
    if document.get("recognisers"):
        parts.append("### Recognisers\n\n" + recogniser_table(document["recognisers"]) + "\n")
    missing = document.get("without_checkpoint")
    if missing:
        parts.append(
            f"{len(missing)} runs have no checkpoint (the JSON's without_checkpoint names them): their accuracies "
            "come from the cache and their training from their histories. Where no checkpoint of a front end, cell "
            "and width is there, its sizes, multiply-adds and CPU are measured on a network of the same config, "
            "freshly initialised (the row's costs_from), and left out (-) where the cache kept no config either. "
            f"`make study` retrains the checkpoints ({CHECKPOINTS} lists those measured).\n"
        )
    return "\n".join(parts)
