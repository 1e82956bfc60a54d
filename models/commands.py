"""Command-line front ends of the model work: `rnnvoice data`, `train` and `eval`."""

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from rnnvoice.models.types import MODEL_TASKS, Cell, Task


def data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=("keywords", "transcription"), default="keywords")
    p.add_argument("--out", type=Path, help="corpus folder to write")
    p.add_argument("--list-voices", action="store_true", help="list the text-to-speech voices installed and exit")
    p.add_argument("--speech-commands", type=Path, action="append", default=[],
                   help="a folder in Speech Commands layout (one subfolder per label); repeatable")
    p.add_argument("--fsdd", type=Path, action="append", default=[],
                   help="a folder of FSDD recordings ({digit}_{speaker}_{n}.wav); repeatable")
    p.add_argument("--noise", type=Path, help="a folder of background noise WAVs (Speech Commands' noise)")
    p.add_argument("--keyword-takes", type=int, default=150, help="synthetic takes of each keyword")
    p.add_argument("--unknown-takes", type=int, default=12, help="synthetic takes of each non-keyword word")
    p.add_argument("--phrase-takes", type=int, default=12, help="synthetic takes of each non-keyword phrase")
    p.add_argument("--sentences", type=int, default=8000, help="transcription: synthetic commands to speak")
    p.add_argument("--digit-strings", type=int, default=2000, help="transcription: real FSDD digit strings to join")
    p.add_argument("--voices", default="", help="transcription: comma-separated voice names to speak in (default all)")
    p.add_argument("--heldout-fraction", type=float, default=0.25,
                   help="share of each source's speakers held out of training (whole speakers)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="synthesis processes")


def data_command(args) -> int:
    from collections import Counter

    from rnnvoice.models.data.corpus import build_corpus
    from rnnvoice.models.data.transcription_corpus import build_transcription_corpus
    from rnnvoice.models.data.tts import available_voices

    if args.list_voices:
        print("\n".join(v.name for v in available_voices()))
        return 0
    if args.out is None:
        raise SystemExit("--out is required")
    if args.task == "transcription":
        if len(args.fsdd) > 1:
            raise SystemExit("--task transcription takes one --fsdd folder")
        written = build_transcription_corpus(args.out, args.fsdd[0] if args.fsdd else None, args.noise,
                                             args.sentences, args.digit_strings, heldout_fraction=0.1,
                                             voice_names=[v for v in args.voices.split(",") if v] or None,
                                             seed=args.seed, workers=args.workers)
        for part, n in written.items():
            print(f"{part:>14}: {n:6d} recordings, {args.out / part / 'transcripts.tsv'}")
        return 0

    real = {f"speech_commands{i or ''}": path for i, path in enumerate(args.speech_commands)}
    real |= {f"fsdd{i or ''}": path for i, path in enumerate(args.fsdd)}
    clips = build_corpus(args.out, real, args.noise, args.keyword_takes, args.unknown_takes, args.phrase_takes,
                         args.heldout_fraction, args.seed, args.workers)
    for (source, split), n in sorted(Counter((c.source, c.split) for c in clips).items()):
        speakers = len({c.speaker for c in clips if c.source == source and c.split == split})
        print(f"{source:>16} {split:>8}: {n:6d} clips, {speakers:4d} speakers")
    print(f"wrote {args.out / 'manifest.jsonl'}")
    return 0


def train_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.models.training.train import TrainConfig

    p.add_argument("--corpus", required=True, help="folder written by `rnnvoice data`")
    p.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    p.add_argument("--cell", choices=[c.value for c in Cell], required=True)
    p.add_argument("--task", choices=("keywords", "transcription"), default="keywords")
    for field in dataclasses.fields(TrainConfig):
        if field.name not in ("corpus", "out", "cell", "task"):
            # None keeps the task's recipe (TrainConfig.for_task).
            p.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=None)


def train_command(args) -> int:
    from rnnvoice.models.training.train import TrainConfig, train

    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"task"}
    config = TrainConfig.for_task(args.task, **{k: v for k, v in vars(args).items() if k in names and v is not None})
    print(json.dumps(dataclasses.asdict(config)))
    print(f"wrote {train(config)}")
    return 0


def _task(name: str) -> str:
    """`asr`, the old name of the transcription task, still works on the command line."""
    return Task.TRANSCRIPTION.value if name == "asr" else name


def eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", type=_task, choices=[t.value for t in MODEL_TASKS], default=Task.KEYWORDS.value)
    p.add_argument("--cell", choices=[c.value for c in Cell], required=True, help="the shipped model of this cell, unless --model")
    p.add_argument("--decoder", choices=("beam", "greedy"), default="beam", help="transcription: the CTC decoder")
    p.add_argument("--model", type=Path, help="a checkpoint from `rnnvoice train` instead of the shipped model")
    p.add_argument("--data", type=Path, required=True,
                   help="Speech Commands layout, FSDD naming, or a corpus from `rnnvoice data` (its held-out speakers)")
    p.add_argument("--labels", default="", help="scored labels, e.g. yes,no,up,down,left,right,on,off,stop,go; "
                   "other words count as _unknown_ (default: every keyword)")
    p.add_argument("--source", default="", help="with a corpus: only clips of this source (speech_commands, fsdd, tts)")
    p.add_argument("--stream", action="store_true", help="join the clips into one long stream and count hits, "
                   "misses and false accepts per hour through the serving code path")
    p.add_argument("--noise", type=Path, help="background noise WAVs for --stream (a corpus brings its own)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the report here (and the confusion matrix beside it as PNG)")


def _eval_clips(args):
    from rnnvoice.models.data.corpus import MANIFEST, read_manifest, scan_folder

    if (args.data / MANIFEST).exists():
        clips = [c for c in read_manifest(args.data) if c.split == "heldout"]
        if args.source:
            clips = [c for c in clips if c.source == args.source]
        else:
            clips = [c for c in clips if c.source != "tts"]
        noise = args.noise or args.data / "noise"
    else:
        clips, noise = scan_folder(args.data), args.noise
    return clips, noise


def eval_command(args) -> int:
    from rnnvoice.models.data.augment import NoiseBank
    from rnnvoice.models.evaluation.keywords import clip_report, stream_report
    from rnnvoice.models.evaluation.plots import plot_confusion
    from rnnvoice.models.nets.checkpoint import load_model
    from rnnvoice.models.weights import shipped_models

    task = args.task
    path = args.model or shipped_models().get((task, args.cell))
    if path is None:
        raise SystemExit(f"no shipped {task} {args.cell} model; pass --model")
    model = load_model(path)
    if (model.config.task, model.config.cell) != (task, args.cell):
        raise SystemExit(f"{path} holds a {model.config.task} {model.config.cell} model, not {task} {args.cell}")
    if task == Task.TRANSCRIPTION:
        return _eval_transcription(args, model, path)
    clips, noise_dir = _eval_clips(args)
    if not clips:
        raise SystemExit(f"no clips to evaluate in {args.data}")
    keywords = tuple(k for k in model.config.labels if not k.startswith("_"))
    labels = tuple(args.labels.split(",")) if args.labels else keywords
    unknown = [k for k in labels if k not in keywords]
    if unknown:
        raise SystemExit(f"--labels: {', '.join(unknown)} not among the model's keywords ({', '.join(keywords)})")
    report = {"model": str(path), "cell": args.cell, "data": str(args.data), "labels": list(labels),
              "speakers": len({c.speaker for c in clips})}
    if args.stream:
        noise = NoiseBank(sorted(Path(noise_dir).glob("*.wav"))) if noise_dir and Path(noise_dir).is_dir() else None
        result = stream_report(model, clips, labels, noise, args.seed)
        report["stream"] = dataclasses.asdict(result)
        print(f"{args.cell}: {result.hits}/{result.keywords} keywords detected ({result.hit_rate:.1%}), "
              f"{result.false_accepts} false accepts in {result.non_keyword_s / 60:.1f} min of other speech and "
              f"noise ({result.false_accepts_per_hour:.1f} per hour), mean latency {result.mean_latency_s * 1000:.0f} ms, "
              f"real-time factor {result.real_time_factor:.4f}")
        for k, counts in result.per_keyword.items():
            print(f"  {k:<10} {counts.get('hits', 0):4d}/{counts.get('keywords', 0):<4d}")
        if result.false_accept_words:
            print("  false accepts:", ", ".join(f"{k} x{n}" for k, n in result.false_accept_words.items()))
    else:
        result = clip_report(model, clips, labels)
        report["clips"] = dataclasses.asdict(result)
        speakers = result.per_speaker
        accuracies = sorted((v["accuracy"], k) for k, v in speakers.items())
        print(f"{args.cell}: accuracy {result.accuracy:.2%} on {result.clips} clips by {len(speakers)} speakers")
        for label, v in result.per_label.items():
            print(f"  {label:<10} {v['accuracy']:7.2%}  ({v['clips']} clips)")
        print(f"  per speaker: median {np.median([a for a, _ in accuracies]):.2%}, worst "
              + ", ".join(f"{k} {a:.0%} ({speakers[k]['clips']})" for a, k in accuracies[:5]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
        if not args.stream:
            plot_confusion(result.confusion, result.labels, f"{args.cell.upper()} on {args.data.name}",
                           args.json.with_suffix(".png"))
        print(f"wrote {args.json}")
    return 0


def _eval_transcription(args, model, path) -> int:
    from rnnvoice.models.data.transcription_corpus import read_transcripts
    from rnnvoice.models.evaluation.transcription import transcription_report

    recordings = read_transcripts(args.data)
    result = transcription_report(model, recordings, args.decoder)
    intents = (f"intents right {result.intent_accuracy:.1%}" if result.intent_accuracy is not None
               else "no commands to understand")
    print(f"{args.cell}: WER {result.word_error_rate:.2%}, sentences right {result.sentence_accuracy:.1%}, "
          f"{intents}, on {result.recordings} recordings by {result.speakers} speakers")
    print(f"  end of speech to final: median {result.final_latency_median_s * 1000:.0f} ms, "
          f"p90 {result.final_latency_p90_s * 1000:.0f} ms; onset to first partial: "
          f"median {result.first_partial_median_s * 1000:.0f} ms; real-time factor {result.real_time_factor:.3f}")
    for speaker, v in result.per_speaker.items():
        print(f"  {speaker:<36} WER {v['word_error_rate']:7.2%}  sentences {v['sentence_accuracy']:6.1%}  ({v['recordings']})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"model": str(path), "cell": args.cell, "data": str(args.data), "decoder": args.decoder,
                  "transcription": dataclasses.asdict(result)}
        args.json.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0


def calibrate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="a keyword checkpoint; its threshold is rewritten in place")
    p.add_argument("--corpus", type=Path, required=True, help="a corpus from `rnnvoice data`")
    p.add_argument("--source", default="tts", help="whose held-out speakers make the validation stream "
                   "(tts, speech_commands, fsdd); never tune on the speakers you report on")


def calibrate_command(args) -> int:
    from rnnvoice.models.data.augment import NoiseBank
    from rnnvoice.models.data.corpus import read_manifest
    from rnnvoice.models.evaluation.keywords import calibrate_thresholds
    from rnnvoice.models.nets.checkpoint import load_model, save_model

    model = load_model(args.model)
    validation = [c for c in read_manifest(args.corpus) if c.split == "heldout" and c.source == args.source]
    noise = NoiseBank(sorted((args.corpus / "noise").glob("*.wav")))
    thresholds, trials = calibrate_thresholds(model, validation, noise)
    by_threshold = {t["threshold"]: t for t in trials}
    for k, threshold in thresholds.items():
        chosen = by_threshold[threshold]["keywords"][k]
        print(f"  {k:<10} threshold {threshold:.2f}: {chosen['hits']} hits, "
              f"{chosen['false_accepts_per_hour']:.1f} false accepts per hour")
    save_model(model, args.model, **{**model.metadata, "detector_thresholds": thresholds, "calibration": trials})
    print(f"wrote {args.model}")
    return 0


def compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", type=Path, nargs="?", default=Path("reports"),
                   help="folder of `rnnvoice eval --json` reports named gru_*.json and lstm_*.json")


def compare_command(args) -> int:
    from rnnvoice.models.evaluation.compare import compare

    print("\n".join(compare(args.reports)))
    return 0
