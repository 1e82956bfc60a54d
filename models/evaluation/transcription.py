"""How well the recognisers do, through the streaming code path: WER, exact sentences and digit strings,
intents, and latency on the audio clock, overall and per speaker."""

import time
from collections import defaultdict
from dataclasses import dataclass

import jiwer
import numpy as np
from tqdm import tqdm

from rnnvoice.models.data.corpus import SAMPLE_RATE, load_clip
from rnnvoice.models.data.mixing import speech_extent
from rnnvoice.models.data.transcription_corpus import Recording
from rnnvoice.models.nets.speech_recognizer import SpeechRecognizer, normalise
from rnnvoice.models.nlu.intents import Intent, parse_intent
from rnnvoice.models.streaming.assistant_stream import built_in_context, built_in_intent
from rnnvoice.models.streaming.stream import recording_posteriors
from rnnvoice.models.streaming.transcription_stream import Transcript, transcription_stream
from rnnvoice.models.types import Decoder

CHUNK_S = 0.1


ERROR_KINDS = ("substitutions", "deletions", "insertions")


def word_errors(reference: str, hypothesis: str) -> dict[str, int]:
    """Substitutions, deletions and insertions of the hypothesis against the reference (jiwer's alignment), and
    the reference's words."""
    reference, hypothesis = normalise(reference), normalise(hypothesis)
    if not reference:  # jiwer needs words to align to: every word said is an insertion
        return {"substitutions": 0, "deletions": 0, "insertions": len(hypothesis.split()), "words": 0}
    out = jiwer.process_words(reference, hypothesis)
    return {kind: getattr(out, kind) for kind in ERROR_KINDS} | {"words": len(reference.split())}


def error_rates(rows: list[dict]) -> dict[str, float]:
    """The word error rate of rows of `word_errors`, and each kind's share of the reference words."""
    words = max(1, sum(r["words"] for r in rows))
    counts = {kind: sum(r[kind] for r in rows) for kind in ERROR_KINDS}
    return {"word_error_rate": round(sum(counts.values()) / words, 4)} | {
        f"{kind}_rate": round(n / words, 4) for kind, n in counts.items()
    }


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    return error_rates([word_errors(r, h) for r, h in zip(references, hypotheses)])["word_error_rate"]


def transcribe(
    model: SpeechRecognizer,
    wave,
    rate: int = SAMPLE_RATE,
    decoder: Decoder = Decoder.BEAM,
    hints: list[str] | None = None,
    chunk_s: float = CHUNK_S,
) -> tuple[list[Transcript], float]:
    """Every partial and final result of one recording streamed in chunks, and the compute seconds it took."""
    stream = transcription_stream(model, rate, decoder=decoder, hints=hints)
    step = max(1, round(chunk_s * rate))
    outputs = [stream.accept(wave[i : i + step]) for i in range(0, len(wave), step)] + [stream.finish()]
    return [r for o in outputs for r in o.transcripts], stream.compute_s


def final_text(results: list[Transcript]) -> str:
    return " ".join(r.text for r in results if r.is_final)


def transcribe_all(
    model: SpeechRecognizer, recordings: list[Recording], decoder: Decoder = Decoder.GREEDY
) -> list[str]:
    return [final_text(transcribe(model, load_clip(r.path), decoder=decoder)[0]) for r in recordings]


def understood(model: SpeechRecognizer, wave) -> Intent:
    """What the assistant makes of a recording: its posteriors read within the built-in context."""
    return built_in_intent(built_in_context().search(recording_posteriors(model, wave, SAMPLE_RATE)))


def scored_row(recording: Recording, hypothesis: str, meant: Intent | None = None) -> dict:
    """One recording's hypothesis against its reference: word errors, and the intent where the reference is a
    command the grammar knows, read from the hypothesis (and, given, what the assistant understood)."""
    errors = word_errors(recording.text, hypothesis)
    command = parse_intent(recording.text)
    return {
        "file": recording.path,
        "speaker": recording.speaker,
        "reference": normalise(recording.text),
        "hypothesis": hypothesis,
        "errors": sum(errors[kind] for kind in ERROR_KINDS),
        **errors,
        "intent_ok": parse_intent(hypothesis) == command if command.name != "unknown" else None,
        "assistant_intent_ok": meant == command if meant is not None and command.name != "unknown" else None,
    }


def summarise(rows: list[dict]) -> dict:
    """Rows of `scored_row`: their count, error rates, sentences right and intents right."""
    return {
        "recordings": len(rows),
        **error_rates(rows),
        "sentence_accuracy": round(float(np.mean([x["errors"] == 0 for x in rows])), 4),
        **{name: _share_true(rows, key) for name, key in INTENT_COLUMNS.items()},
    }


# Intents right: read from the transcript by the grammar, and read by the assistant within its built-in context.
INTENT_COLUMNS = {"intent_accuracy": "intent_ok", "assistant_intent_accuracy": "assistant_intent_ok"}


def _share_true(rows: list[dict], key: str) -> float | None:
    scored = [x[key] for x in rows if x.get(key) is not None]
    return round(float(np.mean(scored)), 4) if scored else None


def peer_report(recordings: list[Recording]) -> dict:
    """Whisper base on the same recordings, each whole (it does not stream): WER, sentences and intents right,
    per speaker, and its real-time factor on this machine (wall time, as it runs on every core it is given)."""
    from rnnvoice.models.evaluation.whisper_peer import whisper_transcribe

    rows, by_speaker, compute_s, audio_s = [], defaultdict(list), 0.0, 0.0
    for r in tqdm(recordings, desc="Whisper base", unit="recording"):
        wave = load_clip(r.path)
        started = time.perf_counter()
        row = scored_row(r, whisper_transcribe(wave.numpy()))
        compute_s, audio_s = compute_s + time.perf_counter() - started, audio_s + len(wave) / SAMPLE_RATE
        rows.append(row)
        by_speaker[r.speaker].append(row)
    return {
        **summarise(rows),
        "speakers": len(by_speaker),
        "real_time_factor": round(compute_s / max(audio_s, 1e-9), 4),
        "per_speaker": {k: summarise(v) for k, v in sorted(by_speaker.items())},
        "errors": [x for x in rows if x["errors"]][:50],
    }


@dataclass
class TranscriptionReport:
    recordings: int
    speakers: int
    word_error_rate: float
    substitution_rate: float  # substitutions, deletions and insertions per reference word: together the WER
    deletion_rate: float
    insertion_rate: float
    sentence_accuracy: float
    intent_accuracy: float  # the intent the grammar reads from the transcript
    assistant_intent_accuracy: float  # the intent the assistant reads within its built-in context, as it serves
    final_latency_median_s: float  # end of speech to the final result
    final_latency_p90_s: float
    first_partial_median_s: float  # speech onset to the first partial result
    real_time_factor: float  # compute seconds (features, model, decoding) per second of audio
    per_speaker: dict[str, dict]
    errors: list[dict]


def transcription_report(
    model: SpeechRecognizer, recordings: list[Recording], decoder: Decoder = Decoder.BEAM
) -> TranscriptionReport:
    by_speaker = defaultdict(list)
    rows = []
    compute_s = audio_s = 0.0
    for r in tqdm(recordings, desc="transcribing", unit="recording"):
        wave = load_clip(r.path)
        results, seconds = transcribe(model, wave, decoder=decoder)
        compute_s, audio_s = compute_s + seconds, audio_s + len(wave) / SAMPLE_RATE
        onset, offset = (x / SAMPLE_RATE for x in speech_extent(wave))
        finals = [x for x in results if x.is_final]
        partials = [x for x in results if not x.is_final]
        row = {
            **scored_row(r, final_text(results), understood(model, wave)),
            "final_latency_s": finals[-1].decided_s - offset if finals else None,
            "first_partial_s": partials[0].decided_s - onset if partials else None,
        }
        rows.append(row)
        by_speaker[r.speaker].append(row)

    overall = summarise(rows)
    latencies = [x["final_latency_s"] for x in rows if x["final_latency_s"] is not None]
    partials = [x["first_partial_s"] for x in rows if x["first_partial_s"] is not None]
    return TranscriptionReport(
        recordings=len(rows),
        speakers=len(by_speaker),
        word_error_rate=overall["word_error_rate"],
        substitution_rate=overall["substitutions_rate"],
        deletion_rate=overall["deletions_rate"],
        insertion_rate=overall["insertions_rate"],
        sentence_accuracy=overall["sentence_accuracy"],
        intent_accuracy=overall["intent_accuracy"],
        assistant_intent_accuracy=overall["assistant_intent_accuracy"],
        final_latency_median_s=round(float(np.median(latencies)), 3) if latencies else float("nan"),
        final_latency_p90_s=round(float(np.percentile(latencies, 90)), 3) if latencies else float("nan"),
        first_partial_median_s=round(float(np.median(partials)), 3) if partials else float("nan"),
        real_time_factor=round(compute_s / max(audio_s, 1e-9), 4),
        per_speaker={k: summarise(v) for k, v in sorted(by_speaker.items())},
        errors=[x for x in rows if x["errors"]][:50],
    )
