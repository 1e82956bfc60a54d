"""Keywords chosen at run time, measured: phrases spoken by real people in one long stream among other speech and
noise, spotted by the recogniser; detection rate and false accepts per hour per phrase, at every threshold."""

import time
from collections import Counter

import numpy as np

from rnnvoice.models.data.augment import NoiseBank
from rnnvoice.models.data.corpus import SAMPLE_RATE, Clip
from rnnvoice.models.evaluation.keywords import compose_test_stream, score_stream
from rnnvoice.models.nets.speech_recognizer import SpeechRecognizer, normalise
from rnnvoice.models.streaming.keyword_stream import PhraseTask
from rnnvoice.models.streaming.phrase_spotter import DEFAULT_THRESHOLD
from rnnvoice.models.streaming.stream import recording_posteriors

# The thresholds of the sweep (the score that fires at sensitivity 0.5).
SWEEP = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))


def _trial(
    recognizer: SpeechRecognizer,
    posteriors: np.ndarray,
    events,
    phrases: tuple[str, ...],
    stream_s: float,
    threshold: float,
) -> dict:
    """The spotter replayed over the recogniser's posteriors at one threshold: overall and per phrase."""
    task = PhraseTask(recognizer, {p: 0.5 for p in phrases}, threshold=float(threshold))
    started = time.perf_counter()
    detections = task.accept((posteriors,), (0,), True, stream_s).detections
    spent = time.perf_counter() - started
    report = score_stream(detections, events, phrases, stream_s)
    hours = report.non_keyword_s / 3600
    false_accepts = Counter()
    for where, n in report.false_accept_words.items():
        false_accepts[where.split(" in ")[0]] += n
    per_phrase = {}
    for p in phrases:
        counts = report.per_keyword.get(p, {})
        per_phrase[p] = {
            "spoken": counts.get("keywords", 0),
            "detected": counts.get("hits", 0),
            "detection_rate": round(counts.get("hits", 0) / max(1, counts.get("keywords", 0)), 4),
            "false_accepts": false_accepts[p],
            "false_accepts_per_hour": round(false_accepts[p] / hours, 2),
        }
    return {
        "threshold": float(threshold),
        "detection_rate": report.hit_rate,
        "false_accepts_per_hour": report.false_accepts_per_hour,
        "mean_latency_s": report.mean_latency_s,
        "decision_s_per_audio_s": round(spent / stream_s, 5),
        "phrases": per_phrase,
        "false_accept_words": report.false_accept_words,
    }


def phrase_report(
    recognizer: SpeechRecognizer, clips: list[Clip], phrases: tuple[str, ...], noise: NoiseBank | None, seed: int = 0
) -> dict:
    """The clips joined into one stream (keywords.compose_test_stream); the recogniser runs once over it, and the
    phrase spotter is replayed at every threshold of the sweep. A phrase is spoken where a clip's word is it."""
    phrases = tuple(normalise(p) for p in phrases)
    wave, events = compose_test_stream(clips, noise, seed)
    events = [(on, off, word if word in phrases else label, word) for on, off, label, word in events]
    stream_s = len(wave) / SAMPLE_RATE
    started = time.perf_counter()
    posteriors = recording_posteriors(recognizer, wave, SAMPLE_RATE)
    model_s = time.perf_counter() - started
    trials = [_trial(recognizer, posteriors, events, phrases, stream_s, t) for t in SWEEP]
    default = _trial(recognizer, posteriors, events, phrases, stream_s, DEFAULT_THRESHOLD)
    return {
        "phrases": list(phrases),
        "stream_s": round(stream_s, 1),
        "clips": len(events),
        "speakers": len({c.speaker for c in clips}),
        "model_s_per_audio_s": round(model_s / stream_s, 5),
        "default": default,
        "sweep": trials,
    }
