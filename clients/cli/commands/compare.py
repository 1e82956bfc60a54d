"""`rnnvoice compare`: every pair of GRU and LSTM reports of `rnnvoice eval` as one Markdown table, training
runs side by side as learning curves, and the GRU-against-LSTM study of a folder of runs."""

import argparse
import json
import tempfile
from pathlib import Path

from rnnvoice.clients.errors import UsageError

HELP = "GRU beside LSTM: every pair of eval reports as one table; learning curves of training runs; the study"
# What a run's history measured along the way, newest name first.
CURVE_METRICS = ("dev_accuracy", "heldout_accuracy", "heldout_wer")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.models.evaluation.study_runs import StudyConfig

    p.add_argument(
        "reports",
        type=Path,
        nargs="?",
        default=Path("reports"),
        help="folder of `rnnvoice eval --json` reports named gru_*.json and lstm_*.json",
    )
    p.add_argument(
        "--training",
        type=Path,
        nargs="+",
        default=[],
        help="training runs to plot instead: checkpoints (.pt) or their .history.json files (default: none)",
    )
    p.add_argument(
        "--plot", type=Path, help="with --training: the PNG of their loss and dev metric by step (default: no plot)"
    )
    study = p.add_argument_group("the study (--study RUNS_DIR)")
    study.add_argument(
        "--study",
        type=Path,
        help="a folder of finished keyword and recogniser runs (CHECKPOINT.pt beside CHECKPOINT.history.json): "
        "every run measured, rows per front end, cell, width, share of the real speakers and (keywords) int8; a run "
        "whose checkpoint is gone counts with its cached scores, and its sizes and CPU are measured on a network "
        "of its cached config (default: no study)",
    )
    study.add_argument(
        "--json",
        type=Path,
        help="with --study: where to write the rows (needed); the Markdown tables go beside it (.md)",
    )
    study.add_argument("--plots", type=Path, help="with --study: a folder for the figures' PNGs (default: no plots)")
    study.add_argument(
        "--corpus",
        type=Path,
        default=Path("data/kws"),
        help="the corpus whose held-out speakers score the runs (needed only for accuracies not cached)",
    )
    study.add_argument(
        "--transcription-corpus",
        type=Path,
        default=StudyConfig.transcription_corpus,
        help="the transcription corpus whose held-out speakers score the recognisers (needed only for word error "
        "rates not cached)",
    )
    study.add_argument(
        "--cache",
        type=Path,
        help="the runs' accuracies, reused while checkpoint and settings are the same (default: RUNS_DIR/evaluations)",
    )
    study.add_argument(
        "--limit", type=int, help="clips per held-out set, spread over it, for a quick look (default: all)"
    )
    study.add_argument(
        "--accuracy",
        type=float,
        default=StudyConfig.accuracy_threshold,
        help="the development accuracy steps are counted to",
    )
    study.add_argument(
        "--recording",
        type=Path,
        default=Path("tests/fixtures/spoken_seven_yes.wav"),
        help="looped by the engine's streams for the CPU figures",
    )
    study.add_argument(
        "--streams", type=int, default=StudyConfig.streams, help="streams stepped together for the batched CPU figure"
    )
    study.add_argument(
        "--unbatched-streams", type=int, default=StudyConfig.unbatched_streams, help="streams stepped one by one"
    )
    study.add_argument(
        "--repeats", type=int, default=StudyConfig.repeats, help="repeats of each CPU measurement, for its spread"
    )
    study.add_argument(
        "--batch-sizes",
        default=",".join(map(str, StudyConfig.batch_sizes)),
        help="comma-separated batch sizes of the bare cells' throughput",
    )
    study.add_argument(
        "--server-streams",
        type=int,
        default=128,
        help="real-time streams on a batching server of each cell and width's own, for the server's CPU "
        "per second of audio; 0: skip the servers",
    )
    study.add_argument(
        "--server-unbatched-streams", type=int, default=32, help="the same on a --no-batching server; 0: skip it"
    )
    study.add_argument("--server-level-s", type=float, default=5.0, help="audio each server stream plays per repeat")
    study.add_argument(
        "--no-cpu",
        action="store_true",
        help="measure no CPU figure (engines, front ends, bare cells, servers): accuracies, training and sizes "
        "only, in minutes instead of most of an hour, for a look between runs (default: every figure)",
    )


def _history(path: Path) -> list[dict]:
    if path.suffix == ".json":
        return json.loads(path.read_text())
    from rnnvoice.models.nets.checkpoint import load_model

    return load_model(path).metadata.get("history", [])


def run(args) -> int:
    if args.study:
        return _study(args)
    if args.training:
        from rnnvoice.models.evaluation.plots import plot_training, plots_missing

        if args.plot is None:
            raise SystemExit("--training needs --plot, the PNG to draw")
        if why := plots_missing():  # the PNG is all it makes
            raise UsageError(why)
        histories = {
            path.name.removesuffix(".history.json").removesuffix(".pt"): _history(path) for path in args.training
        }
        measured = {k for history in histories.values() for h in history for k in h}
        metric = next((m for m in CURVE_METRICS if m in measured), None)
        if metric is None:
            raise SystemExit(f"no run measured any of {', '.join(CURVE_METRICS)} while training")
        plot_training(histories, metric, args.plot)
        print(f"wrote {args.plot}")
        return 0
    from rnnvoice.models.evaluation.compare import compare

    print("\n".join(compare(args.reports)))
    return 0


def _study(args) -> int:
    import torch

    from rnnvoice.models.evaluation.plots import plot_study, plots_missing
    from rnnvoice.models.evaluation.study import markdown_tables, study
    from rnnvoice.models.evaluation.study_runs import StudyConfig, StudyError, find_runs, write_checkpoints

    if args.json is None:
        raise UsageError("--study needs --json, the file to write its rows to")
    for path, what in ((args.study, "--study: no folder"), (args.recording, "--recording: no file")):
        if not path.exists():
            raise UsageError(f"{what} at {path}")
    try:
        batch_sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    except ValueError:
        batch_sizes = (0,)
    counts = {
        "--batch-sizes": min(batch_sizes),
        "--streams": args.streams,
        "--unbatched-streams": args.unbatched_streams,
        "--repeats": args.repeats,
        "--limit": args.limit or 1,
    }
    if min(args.server_streams, args.server_unbatched_streams) < 0 or args.server_level_s <= 0:
        raise UsageError("--server-streams and --server-unbatched-streams: 0 or more; --server-level-s: more than 0")
    for flag, count in counts.items():
        if count < 1:
            raise UsageError(f"{flag}: give whole numbers of 1 or more (batch sizes comma-separated)")
    cache = args.cache or args.study / "evaluations"
    config = StudyConfig(
        corpus=args.corpus,
        cache=cache,
        features=args.study / "features",
        recording=args.recording,
        accuracy_threshold=args.accuracy,
        limit=args.limit,
        streams=args.streams,
        unbatched_streams=args.unbatched_streams,
        repeats=args.repeats,
        batch_sizes=batch_sizes,
        cpu=not args.no_cpu,
        transcription_corpus=args.transcription_corpus,
    )
    try:  # what is missing (a checkpoint, a cached accuracy, the corpus) and how to get it
        runs = find_runs(args.study, cache)
        if not runs:
            raise UsageError(f"--study: no finished runs (RUN.history.json) in {args.study}")
        print(f"{len(runs)} runs in {args.study}")
        torch.set_num_threads(1)  # as the server runs: one thread per operation
        document = study(runs, config)
    except StudyError as e:
        raise UsageError(str(e)) from None
    _served(document, runs, args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=1))
    tables = markdown_tables(document)
    args.json.with_suffix(".md").write_text(tables)
    print(tables)
    print(f"wrote {args.json} and {args.json.with_suffix('.md')}")
    print(f"wrote {write_checkpoints(runs, args.study)}")
    if args.plots and (why := plots_missing()):
        print(why)
    elif args.plots:
        for path in plot_study(document, args.plots):
            print(f"wrote {path}")
    return 0


def _served(document: dict, runs, args) -> None:
    """Adds to the float rows of each cell and width the CPU of a server of its own (`rnnvoice serve --model`),
    per stream and batched, loaded as the bench loads one: gRPC and all, not the engine alone. int8 rows get
    None: the server serves float32 weights."""
    from tqdm import tqdm

    from rnnvoice.clients.client import read_audio
    from rnnvoice.clients.qa.bench import served_cpu
    from rnnvoice.models.evaluation.study import cost_models
    from rnnvoice.models.nets.checkpoint import save_model

    modes = [
        (key, streams, batched)
        for key, streams, batched in (
            ("server_cpu", args.server_unbatched_streams, False),
            ("server_batched_cpu", args.server_streams, True),
        )
        if streams > 0 and not args.no_cpu
    ]
    if not modes:
        return
    audio = read_audio(args.recording)
    # One network of each (front end, cell, width): the cost depends on the shape, not the seed or the weights. A
    # network without a checkpoint (a fresh one of a run's config) is saved for the server to load.
    with tempfile.TemporaryDirectory() as folder:
        shapes = {}
        for shape, (model, path) in cost_models(runs).items():
            if path is None:
                save_model(model, path := Path(folder) / ("_".join(map(str, shape)) + ".pt"))
            shapes[shape] = path
        measured = {
            (shape, key): served_cpu(path, shape[1], audio, streams, batched, args.repeats, args.server_level_s)
            for shape, path in tqdm(shapes.items(), desc="server CPU", unit="shape")
            for key, streams, batched in modes
        }
    for row in document["rows"]:
        for key, _, _ in modes:
            found = {} if row["int8"] else measured.get(((row["front_end"], row["cell"], row["width"]), key), {})
            row[f"{key}_ms_per_audio_s"] = found.get("cpu_ms_per_audio_s")
            row[f"{key}_ms_per_audio_s_std"] = found.get("cpu_ms_per_audio_s_std")
            row[f"{key}_p99_chunk_latency_ms"] = found.get("p99_chunk_latency_ms")
            row[f"{key}_failed_streams"] = found.get("failed_streams")
    document["settings"] |= {
        "server_streams": args.server_streams,
        "server_unbatched_streams": args.server_unbatched_streams,
        "server_level_s": args.server_level_s,
    }
