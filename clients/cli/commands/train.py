"""`rnnvoice train`: a GRU or LSTM model for either task, from a corpus of `rnnvoice data`."""

import argparse
import dataclasses
import json

from rnnvoice.models.types import MODEL_TASKS, Cell, Task

HELP = "train a GRU or LSTM keyword or speech recognition model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.models.training.train import TrainConfig  # torch and the data pipeline: for this command only

    p.add_argument("--corpus", required=True, help="folder written by `rnnvoice data`")
    p.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    p.add_argument("--cell", choices=[c.value for c in Cell], required=True, help="the recurrent cell")
    p.add_argument(
        "--task", choices=[t.value for t in MODEL_TASKS], default=Task.KEYWORDS.value, help="what the model learns"
    )
    recipes = {task: TrainConfig.for_task(task, corpus="", out="") for task in MODEL_TASKS}
    for field in dataclasses.fields(TrainConfig):
        if field.name not in ("corpus", "out", "cell", "task"):
            # None keeps the task's recipe (TrainConfig.for_task).
            kind = type(field.default)
            p.add_argument(
                f"--{field.name.replace('_', '-')}",
                default=None,
                help=_recipe(field.name, recipes),
                type={bool: lambda text: text.lower() in ("1", "true", "yes")}.get(kind, kind),
            )


def _recipe(name: str, recipes: dict) -> str:
    """What a flag left out means: the value in each task's recipe."""
    values = {task: getattr(recipe, name) for task, recipe in recipes.items()}
    shown = {task: "none" if v == "" else str(v) for task, v in values.items()}
    if len(set(shown.values())) == 1:
        return f"default: {next(iter(shown.values()))}"
    return "default: " + ", ".join(f"{v} ({task})" for task, v in shown.items())


def run(args) -> int:
    from rnnvoice.models.training.train import TrainConfig, train

    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"task"}
    config = TrainConfig.for_task(args.task, **{k: v for k, v in vars(args).items() if k in names and v is not None})
    print(json.dumps(dataclasses.asdict(config)))
    print(f"wrote {train(config)}")
    return 0
