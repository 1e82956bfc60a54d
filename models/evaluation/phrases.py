"""Keywords chosen at run time, measured: phrases said by real people, spotted on the speech embedding; detection
rate and false accepts per hour, per phrase and per speaker, at every threshold.

Two kinds of real speech: Speech Commands clips joined into one stream with pauses and noise (a phrase is said where
a clip's word is it; a speaker is a clip's), and the WUW calls, each one caller's utterances as one 8 kHz stream
(a phrase is said where an utterance's transcript has it, at the span the corpus marks; a speaker is a call). The
embeddings of each stream are computed once and the spotter is replayed over them at every threshold.
"""

import time
from collections import Counter, defaultdict
from dataclasses import replace

import numpy as np
import torch
from tqdm import tqdm

from rnnvoice.models.data.augment import NoiseBank
from rnnvoice.models.data.corpus import SAMPLE_RATE, Clip
from rnnvoice.models.data.wuw import WUW_RATE, CallUtterance, load_call
from rnnvoice.models.evaluation.keywords import compose_test_stream, score_stream, test_stream_order
from rnnvoice.models.nets.speech_recognizer import normalise
from rnnvoice.models.streaming.embedding_front import embedding_outputs
from rnnvoice.models.streaming.keyword_stream import PhraseTask
from rnnvoice.models.streaming.phrase_spotter import DEFAULT_THRESHOLD, enrol
from rnnvoice.models.streaming.stream import recording_posteriors

__all__ = ["call_phrase_report", "clip_phrase_report"]

# The thresholds of the sweep (the score that fires at sensitivity 0.5).
SWEEP = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))
OTHER = "_other_"  # the label of what was said where no phrase was


def _trial(streams: list[dict], phrases: tuple[str, ...], threshold: float) -> dict:
    """The spotter replayed over every stream's embeddings at one threshold: overall, per phrase and per speaker.

    streams: each with its embeddings (S, E), audio seconds, events (start, end, label, word) and the speaker of
    each event."""
    started = time.perf_counter()
    detections, events, speakers, offset = [], [], [], 0.0
    for s in streams:
        task = PhraseTask(dict.fromkeys(phrases, 0.5), threshold=float(threshold))
        found = task.accept((s["embeddings"],), (0,), True, s["audio_s"]).detections
        detections += [
            replace(d, start_s=d.start_s + offset, end_s=d.end_s + offset, detected_s=d.detected_s + offset)
            for d in found
        ]
        events += [(on + offset, off + offset, label, word) for on, off, label, word in s["events"]]
        speakers += s["speakers"]
        offset += s["audio_s"]
    spent = time.perf_counter() - started
    report = score_stream(detections, events, phrases, offset)
    hours = report.non_keyword_s / 3600
    false_accepts = Counter()
    for where, n in report.false_accept_words.items():
        false_accepts[where.split(" in ")[0]] += n
    per_phrase = {}
    for p in phrases:
        counts = report.per_keyword.get(p, {})
        per_phrase[p] = {
            "said": counts.get("keywords", 0),
            "detected": counts.get("hits", 0),
            "detection_rate": round(counts.get("hits", 0) / max(1, counts.get("keywords", 0)), 4),
            "false_accepts": false_accepts[p],
            "false_accepts_per_hour": round(false_accepts[p] / hours, 2),
        }
    return {
        "threshold": float(threshold),
        "detection_rate": report.hit_rate,
        "said": report.keywords,
        "detected": report.hits,
        "false_accepts": report.false_accepts,
        "false_accepts_per_hour": report.false_accepts_per_hour,
        "mean_latency_s": report.mean_latency_s,
        "decision_s_per_audio_s": round(spent / offset, 5),
        "phrases": per_phrase,
        "per_speaker": _per_speaker(detections, events, speakers, phrases),
        "false_accept_words": report.false_accept_words,
    }


def _per_speaker(detections, events, speakers, phrases) -> dict[str, dict]:
    """Each speaker's phrases said and detected: a phrase event is detected if a detection of it ends within the
    window `score_stream` allows."""
    out = defaultdict(lambda: {"said": 0, "detected": 0})
    for (on, off, label, _), speaker in zip(events, speakers):
        if label in phrases:
            out[speaker]["said"] += 1
            out[speaker]["detected"] += any(d.keyword == label and on - 0.2 <= d.end_s <= off + 1.0 for d in detections)
    return dict(sorted(out.items()))


def _report(streams: list[dict], phrases: tuple[str, ...], embed_s: float) -> dict:
    audio_s = sum(s["audio_s"] for s in streams)
    started = time.perf_counter()
    enrolled = {p: enrol(p) for p in phrases}
    enrol_s = (time.perf_counter() - started) / len(phrases)
    return {
        "phrases": list(phrases),
        "audio_s": round(audio_s, 1),
        "speakers": len({sp for s in streams for sp in s["speakers"]}),
        "enrolment": {
            p: {"renditions": m.renditions, "duration_s": round(m.duration_s, 3)} for p, m in enrolled.items()
        },
        "enrol_s_per_phrase": round(enrol_s, 3),
        "embedding_s_per_audio_s": round(embed_s / audio_s, 5),
        "default": _trial(streams, phrases, DEFAULT_THRESHOLD),
        "sweep": [_trial(streams, phrases, t) for t in SWEEP],
    }


def _embeddings(wave: torch.Tensor, rate: int) -> np.ndarray:
    return recording_posteriors(embedding_outputs(), wave, rate)


def clip_phrase_report(clips: list[Clip], phrases: tuple[str, ...], noise: NoiseBank | None, seed: int = 0) -> dict:
    """The clips joined into one stream (keywords.compose_test_stream); a phrase is said where a clip's word is it."""
    phrases = tuple(normalise(p) for p in phrases)
    wave, events = compose_test_stream(clips, noise, seed)
    events = [(on, off, word if word in phrases else OTHER, word) for on, off, _, word in events]
    speakers = [c.speaker for c in test_stream_order(clips, seed)[0]]
    started = time.perf_counter()
    embeddings = _embeddings(wave, SAMPLE_RATE)
    stream = {"embeddings": embeddings, "audio_s": len(wave) / SAMPLE_RATE, "events": events, "speakers": speakers}
    return {"clips": len(events), **_report([stream], phrases, time.perf_counter() - started)}


def call_phrase_report(utterances: list[CallUtterance], phrases: tuple[str, ...], progress: bool = True) -> dict:
    """Each call as one stream at its own 8 kHz; a phrase is said at the span the corpus marks in an utterance whose
    transcript has it."""
    phrases = tuple(normalise(p) for p in phrases)
    calls: dict[str, list[CallUtterance]] = defaultdict(list)
    for u in sorted(utterances, key=lambda u: (u.call, u.utterance)):
        calls[u.call].append(u)
    streams, embed_s = [], 0.0
    for call, parts in tqdm(calls.items(), desc="calls", unit="call", disable=not progress):
        waves = [load_call(u.path) for u in parts]
        events, start = [], 0.0
        for u, w in zip(parts, waves):
            # The corpus writes its wake-up words as one word (ThinkEngine): a phrase matches with its spaces.
            said = next((p for p in phrases if p.replace(" ", "") in u.words), None)
            end = start + len(w) / WUW_RATE
            if said and said.replace(" ", "") == u.keyword:
                events.append((start + u.keyword_start_s, start + u.keyword_end_s, said, said))
            elif said:  # said elsewhere in the sentence: where is not marked
                events.append((start, end, said, said))
            else:
                events.append((start, end, OTHER, " ".join(u.words)))
            start = end
        started = time.perf_counter()
        embeddings = _embeddings(torch.cat(waves), WUW_RATE)
        embed_s += time.perf_counter() - started
        streams.append({"embeddings": embeddings, "audio_s": start, "events": events, "speakers": [call] * len(events)})
    return {"calls": len(calls), "utterances": len(utterances), **_report(streams, phrases, embed_s)}
