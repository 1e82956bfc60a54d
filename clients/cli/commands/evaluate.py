"""`rnnvoice eval`: a keyword model or a recogniser measured on held-out speakers, as a report."""

import argparse
import dataclasses
import json
from pathlib import Path

from rnnvoice.clients.cli.options import task_name
from rnnvoice.models.types import MODEL_TASKS, Cell, Decoder, Task

HELP = "measure a model on held-out speakers"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--task",
        type=task_name,
        choices=[t.value for t in MODEL_TASKS] + [Task.ASSISTANT.value],
        default=Task.KEYWORDS.value,
        help="the model of which task; assistant: spoken commands read within --context by the recogniser",
    )
    p.add_argument(
        "--cell",
        choices=[c.value for c in Cell],
        help="the shipped model of this cell, unless --model (needed but with --phrases, which no cell runs)",
    )
    p.add_argument("--decoder", choices=list(Decoder), default=Decoder.BEAM, help="transcription: the CTC decoder")
    p.add_argument(
        "--peer",
        action="store_true",
        help="transcription: Whisper base, the general recogniser ours are compared with, on the same recordings "
        'instead of a cell (needs pip install -e ".[peer]")',
    )
    p.add_argument("--model", type=Path, help="a checkpoint from `rnnvoice train` (default: the shipped model)")
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="Speech Commands layout, FSDD naming, a corpus from `rnnvoice data` (its held-out speakers), "
        "or WUW Corpus II (false accepts per hour on its real calls)",
    )
    p.add_argument(
        "--calls",
        choices=("dev", "test", "train", "all"),
        default="dev",
        help="with WUW Corpus II: the calls of this split (by a hash of the call's number)",
    )
    p.add_argument(
        "--labels",
        default="",
        help="scored labels, e.g. yes,no,up,down,left,right,on,off,stop,go; "
        "other words count as _unknown_ (default: every keyword)",
    )
    p.add_argument("--source", default="", help="with a corpus: only clips of this source (speech_commands, fsdd, tts)")
    p.add_argument(
        "--stream",
        action="store_true",
        help="join the clips into one long stream and count hits, "
        "misses and false accepts per hour through the serving code path",
    )
    p.add_argument(
        "--phrases",
        default="",
        help="comma-separated keywords chosen at run time (e.g. marvin,sheila): the clips joined into one stream, "
        "as --stream, or each WUW call as one, and the phrase spotter on the speech embedding measured at every "
        "threshold (default: none)",
    )
    p.add_argument(
        "--speakers",
        choices=("heldout", "all"),
        default="heldout",
        help="with --phrases or --task assistant and a folder (not a corpus): its speakers that a corpus built "
        "from it holds out (a quarter, by hash, as `rnnvoice data` does), or all of them",
    )
    p.add_argument(
        "--noise",
        type=Path,
        help="background noise: a folder of WAVs, or one WAV, for --stream and --snr-db (default: a corpus's own, "
        "else none)",
    )
    p.add_argument(
        "--context",
        type=Path,
        help="assistant: a context in Picovoice Rhino's YAML (default: the built-in assistant's, "
        "models/weights/assistant_context.yml); --data is a folder of WAVs with labels.json beside them, or clips of "
        "known words (as for keywords: Speech Commands, FSDD), each labelled with what its words mean in the context",
    )
    p.add_argument(
        "--snr-db",
        type=float,
        help="assistant: mix --noise into each recording at this signal-to-noise ratio first (default: no noise)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the --stream composition")
    p.add_argument(
        "--level-dbfs",
        type=float,
        help="clips: set each clip's speech to this RMS level (dBFS) first, "
        "as a nearer or farther microphone would (default: as recorded)",
    )
    p.add_argument(
        "--json",
        type=Path,
        help="write the report here (and the confusion matrix beside it as PNG; default: print only)",
    )


def _eval_clips(args):
    from rnnvoice.models.data.corpus import HELDOUT_FRACTION, MANIFEST, read_manifest, scan_folder, split_by_speaker

    if (args.data / MANIFEST).exists():
        clips = [c for c in read_manifest(args.data) if c.split == "heldout"]
        if args.source:
            clips = [c for c in clips if c.source == args.source]
        else:
            clips = [c for c in clips if c.source != "tts"]
        noise = args.noise or args.data / "noise"
    else:
        clips, noise = scan_folder(args.data), args.noise
        if (args.phrases or args.task == Task.ASSISTANT) and args.speakers == "heldout":
            clips = [c for c in split_by_speaker(clips, HELDOUT_FRACTION) if c.split == "heldout"]
    return clips, noise


def run(args) -> int:
    import numpy as np

    from rnnvoice.models.data.wuw import TRANSCRIPTS
    from rnnvoice.models.evaluation.keywords import clip_report, stream_report
    from rnnvoice.models.evaluation.plots import plot_confusion, plots_missing
    from rnnvoice.models.nets.checkpoint import load_model
    from rnnvoice.models.weights import shipped_models

    if args.phrases:
        return _eval_phrases(args)
    if args.peer:
        return _eval_peer(args)
    if args.cell is None:
        raise SystemExit("--cell: which model to evaluate (gru or lstm)")
    if args.task == Task.ASSISTANT:
        return _eval_commands(args)
    task = args.task
    path = args.model or shipped_models().get((task, args.cell))
    if path is None:
        raise SystemExit(f"no shipped {task} {args.cell} model; pass --model")
    model = load_model(path)
    if (model.config.task, model.config.cell) != (task, args.cell):
        raise SystemExit(f"{path} holds a {model.config.task} {model.config.cell} model, not {task} {args.cell}")
    if task == Task.TRANSCRIPTION:
        return _eval_transcription(args, model, path)
    if (args.data / TRANSCRIPTS).exists():
        return _eval_real_talk(args, model, path)
    clips, noise_dir = _eval_clips(args)
    if not clips:
        raise SystemExit(f"no clips to evaluate in {args.data}")
    keywords = model.config.keywords
    labels = tuple(args.labels.split(",")) if args.labels else keywords
    unknown = [k for k in labels if k not in keywords]
    if unknown:
        raise SystemExit(f"--labels: {', '.join(unknown)} not among the model's keywords ({', '.join(keywords)})")
    report = {
        "model": str(path),
        "cell": args.cell,
        "data": str(args.data),
        "labels": list(labels),
        "speakers": len({c.speaker for c in clips}),
    }
    if args.stream:
        noise = _noise(noise_dir)
        result = stream_report(model, clips, labels, noise, args.seed)
        report["stream"] = dataclasses.asdict(result)
        print(
            f"{args.cell}: {result.hits}/{result.keywords} keywords detected ({result.hit_rate:.1%}), "
            f"{result.false_accepts} false accepts in {result.non_keyword_s / 60:.1f} min of other speech and "
            f"noise ({result.false_accepts_per_hour:.1f} per hour), "
            f"mean latency {result.mean_latency_s * 1000:.0f} ms, "
            f"real-time factor {result.real_time_factor:.4f}"
        )
        for k, counts in result.per_keyword.items():
            print(f"  {k:<10} {counts.get('hits', 0):4d}/{counts.get('keywords', 0):<4d}")
        if result.false_accept_words:
            print("  false accepts:", ", ".join(f"{k} x{n}" for k, n in result.false_accept_words.items()))
    else:
        result = clip_report(model, clips, labels, args.level_dbfs)
        report["level_dbfs"] = args.level_dbfs
        report["clips"] = dataclasses.asdict(result)
        speakers = result.per_speaker
        accuracies = sorted((v["accuracy"], k) for k, v in speakers.items())
        print(f"{args.cell}: accuracy {result.accuracy:.2%} on {result.clips} clips by {len(speakers)} speakers")
        if result.closed_set_accuracy is not None:
            print(
                f"  closed set (the likeliest of the scored keywords, thresholds and other speech aside): "
                f"{result.closed_set_accuracy:.2%}"
            )
        for label, v in result.per_label.items():
            print(f"  {label:<10} {v['accuracy']:7.2%}  ({v['clips']} clips)")
        print(
            f"  per speaker: median {np.median([a for a, _ in accuracies]):.2%}, worst "
            + ", ".join(f"{k} {a:.0%} ({speakers[k]['clips']})" for a, k in accuracies[:5])
        )
    _write(report, args.json)
    if args.json and not args.stream:
        if why := plots_missing():
            print(why)
        else:
            plot_confusion(
                result.confusion,
                result.labels,
                f"{args.cell.upper()} on {args.data.name}",
                args.json.with_suffix(".png"),
            )
    return 0


def _noise(path):
    """A folder of noise WAVs or one WAV as a NoiseBank; None for none."""
    from rnnvoice.models.data.augment import NoiseBank

    if path and Path(path).is_dir():
        return NoiseBank(sorted(Path(path).glob("*.wav")))
    return NoiseBank([Path(path)]) if path and Path(path).is_file() else None


def _write(report: dict, path: Path | None) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))
        print(f"wrote {path}")


def _eval_phrases(args) -> int:
    from rnnvoice.models.data.wuw import TRANSCRIPTS, CallSplit, read_calls
    from rnnvoice.models.evaluation.phrases import call_phrase_report, clip_phrase_report

    phrases = tuple(p.strip() for p in args.phrases.split(",") if p.strip())
    if (args.data / TRANSCRIPTS).exists():
        result = call_phrase_report(
            read_calls(args.data, None if args.calls == "all" else CallSplit(args.calls)), phrases
        )
        heard = f"{result['calls']} {args.calls} calls"
    else:
        clips, noise_dir = _eval_clips(args)
        result = clip_phrase_report(clips, phrases, _noise(noise_dir), args.seed)
        heard = f"a stream of {result['clips']} clips"
    default = result["default"]
    print(
        f"{result['audio_s'] / 60:.1f} min of {heard} by {result['speakers']} speakers; at the default threshold "
        f"{default['threshold']}: {default['detected']}/{default['said']} detected ({default['detection_rate']:.1%}), "
        f"{default['false_accepts_per_hour']:.1f} false accepts per hour; enrolment "
        f"{result['enrol_s_per_phrase']:.2f} s a phrase, embedding {result['embedding_s_per_audio_s']:.4f} s and "
        f"spotting {default['decision_s_per_audio_s']:.4f} s per audio s"
    )
    for phrase, v in default["phrases"].items():
        print(
            f"  {phrase:<12} {v['detected']:3d}/{v['said']:<3d} ({v['detection_rate']:6.1%})  "
            f"{v['false_accepts_per_hour']:7.1f} false accepts per hour"
        )
    print("  threshold  detected  false accepts per hour")
    for trial in result["sweep"]:
        print(f"  {trial['threshold']:9.2f}  {trial['detection_rate']:8.1%}  {trial['false_accepts_per_hour']:10.1f}")
    _write({"data": str(args.data), **({"calls": args.calls} if "calls" in result else {}), **result}, args.json)
    return 0


def _eval_commands(args) -> int:
    from rnnvoice.models.decoding.context_search import ContextSearch
    from rnnvoice.models.evaluation.commands import LABELS, clip_commands, command_report, folder_commands
    from rnnvoice.models.nets.checkpoint import load_model
    from rnnvoice.models.nlu.assistant_context import ASSISTANT_CONTEXT_FILE
    from rnnvoice.models.nlu.context import ContextError, parse_context
    from rnnvoice.models.weights import WEIGHTS, shipped_models

    context = args.context or WEIGHTS / ASSISTANT_CONTEXT_FILE
    noise = _noise(args.noise) if args.snr_db is not None else None
    if args.snr_db is not None and noise is None:
        raise SystemExit("--snr-db needs --noise: a WAV or a folder of them")
    try:
        search = ContextSearch(parse_context(context.read_text()))
    except ContextError as e:
        raise SystemExit(f"{context}: {e}") from None
    if (args.data / LABELS).exists():
        commands = folder_commands(args.data)
    else:  # clips of known words, labelled by what their words mean in the context
        commands = clip_commands(_eval_clips(args)[0], search)
    path = args.model or shipped_models()[Task.TRANSCRIPTION, args.cell]
    result = command_report(load_model(path), search, commands, noise, args.snr_db, args.seed)
    print(
        f"{args.cell}: {result['command_acceptance']:.1%} of {result['commands']} commands fully understood "
        f"(intent and every slot); {result['not_understood']} not understood; the free transcript read within the "
        f"context: {result['text_matching_acceptance']:.1%}"
    )
    for intent, counts in result["per_intent"].items():
        print(f"  {intent:<24} {counts.get('accepted', 0):4d}/{counts['commands']:<4d}")
    if result["slot_errors"]:
        print(f"  {'slot':<24} {'said':>5} {'wrong':>6} {'missed':>7} {'extra':>6}")
        for slot, c in result["slot_errors"].items():
            said, wrong, missed, extra = (c.get(k, 0) for k in ("said", "wrong", "missed", "extra"))
            print(f"  {slot:<24} {said:5d} {wrong:6d} {missed:7d} {extra:6d}")
    report = {"model": str(path), "cell": args.cell, "context": str(context), "data": str(args.data)}
    _write({**report, **result}, args.json)
    return 0


def _eval_real_talk(args, model, path) -> int:
    from rnnvoice.models.data.wuw import CallSplit, read_calls
    from rnnvoice.models.evaluation.real_talk import real_talk_report

    utterances = read_calls(args.data, None if args.calls == "all" else CallSplit(args.calls))
    result = real_talk_report(model, utterances)
    print(
        f"{args.cell}: {result.false_accepts} false accepts in {result.audio_s / 3600:.2f} h of real telephone talk "
        f"({result.calls} {args.calls} calls): {result.false_accepts_per_hour:.1f} per hour; "
        f"{result.said_detected}/{result.said} of our keywords said in the sentences detected"
    )
    if result.false_accept_words:
        print("  false accepts:", ", ".join(f"{k} x{n}" for k, n in result.false_accept_words.items()))
    if result.said_per_keyword:
        print("  said:", ", ".join(f"{k} {v['detected']}/{v['said']}" for k, v in result.said_per_keyword.items()))
    report = {"model": str(path), "cell": args.cell, "data": str(args.data), "calls": args.calls}
    _write({**report, "real_talk": dataclasses.asdict(result)}, args.json)
    return 0


def _eval_peer(args) -> int:
    from rnnvoice.models.data.transcription_corpus import read_transcripts
    from rnnvoice.models.evaluation.transcription import peer_report
    from rnnvoice.models.evaluation.whisper_peer import WHISPER_NAME

    if args.task != Task.TRANSCRIPTION:
        raise SystemExit("--peer measures Whisper base as a recogniser: --task transcription")
    result = peer_report(read_transcripts(args.data))
    print(
        f"{WHISPER_NAME}: WER {result['word_error_rate']:.2%}, sentences right {result['sentence_accuracy']:.1%}, "
        f"on {result['recordings']} recordings by {result['speakers']} speakers; "
        f"real-time factor {result['real_time_factor']:.3f}"
    )
    _write({"peer": WHISPER_NAME, "data": str(args.data), "transcription": result}, args.json)
    return 0


def _eval_transcription(args, model, path) -> int:
    from rnnvoice.models.data.transcription_corpus import read_transcripts
    from rnnvoice.models.evaluation.transcription import transcription_report

    recordings = read_transcripts(args.data)
    result = transcription_report(model, recordings, args.decoder)
    intents = (
        f"intents right {result.intent_accuracy:.1%} from the transcript, "
        f"{result.assistant_intent_accuracy:.1%} as the assistant reads them (within its built-in context)"
        if result.intent_accuracy is not None
        else "no commands to understand"
    )
    print(
        f"{args.cell}: WER {result.word_error_rate:.2%} (substitutions {result.substitution_rate:.2%}, deletions "
        f"{result.deletion_rate:.2%}, insertions {result.insertion_rate:.2%}), "
        f"sentences right {result.sentence_accuracy:.1%}, "
        f"{intents}, on {result.recordings} recordings by {result.speakers} speakers"
    )
    print(
        f"  end of speech to final: median {result.final_latency_median_s * 1000:.0f} ms, "
        f"p90 {result.final_latency_p90_s * 1000:.0f} ms; onset to first partial: "
        f"median {result.first_partial_median_s * 1000:.0f} ms; real-time factor {result.real_time_factor:.3f}"
    )
    for speaker, v in result.per_speaker.items():
        print(
            f"  {speaker:<36} WER {v['word_error_rate']:7.2%}  "
            f"sentences {v['sentence_accuracy']:6.1%}  ({v['recordings']})"
        )
    _write(
        {
            "model": str(path),
            "cell": args.cell,
            "data": str(args.data),
            "decoder": args.decoder,
            "transcription": dataclasses.asdict(result),
        },
        args.json,
    )
    return 0
