"""Accuracy of the keyword models on labelled clips, through the streaming code path.

Clip mode classifies each clip on its own (overall, per label, per speaker, confusion matrix).
Stream mode joins the clips into one long stream with pauses and noise between them, runs it
as the server would, and counts hits, misses and false accepts per hour.
"""

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnvoice.models.data.augment import NoiseBank, rms
from rnnvoice.models.data.corpus import SAMPLE_RATE, Clip, load_clip
from rnnvoice.models.data.mixing import speech_extent
from rnnvoice.models.evaluation.clip_steps import ClipSteps, clip_steps
from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.streaming.keyword_detector import DEFAULT_SENSITIVITY, Detection
from rnnvoice.models.streaming.keyword_stream import KeywordTask, detector_for, keyword_stream
from rnnvoice.models.streaming.model_step import ModelLane, step_lanes
from rnnvoice.models.streaming.stream import Stream, recording_posteriors
from rnnvoice.models.vocabulary import SILENCE, UNKNOWN

# Below this peak posterior of unknown speech, a clip without a keyword is silence.
SPEECH_FLOOR = 0.3
CHUNK_S = 0.1
# Times a keyword must be spoken in a validation stream for its threshold to be tuned.
MIN_CALIBRATION_WORDS = 5


def clip_label(detections: list[Detection], smoothed: np.ndarray, labels: tuple[str, ...]) -> str:
    """A clip's class as the server would answer it: its strongest detection, else unknown speech or silence."""
    if detections:
        return max(detections, key=lambda d: d.score).keyword
    if len(smoothed) and smoothed[:, labels.index(UNKNOWN)].max() >= SPEECH_FLOOR:
        return UNKNOWN
    return SILENCE


def run_stream(stream: Stream, wave: torch.Tensor, chunk_s: float = CHUNK_S):
    """Streams a recording in chunks; returns (detections, smoothed posteriors (S, C))."""
    step = max(1, round(chunk_s * stream.input_rate))
    outputs = [stream.accept(wave[i : i + step]) for i in range(0, len(wave), step)] + [stream.finish()]
    smoothed = [o.smoothed for o in outputs if o.smoothed is not None]
    detections = [d for o in outputs for d in o.detections]
    return detections, np.concatenate(smoothed) if smoothed else np.zeros((0, 0))  # phrases alone: no posteriors


# Clips whose model steps are batched together when replayed.
REPLAY_BATCH = 64


def replayed_clips(model: KeywordSpotter, steps: list[ClipSteps]) -> list[tuple[str, np.ndarray]]:
    """Each clip as a stream of its own from a fresh state, its front end's steps computed before (`clip_steps`):
    its `clip_label` and each class's highest smoothed posterior (C,). The model steps many clips' lanes at once
    (equal to each alone, to float rounding: `step_lanes`); each clip's decisions are made chunk by chunk, as its
    stream makes them."""
    results = []
    for first in range(0, len(steps), REPLAY_BATCH):
        part = steps[first : first + REPLAY_BATCH]
        lanes = [ModelLane(model) for _ in part]
        for s, (classes, speech) in zip(part, step_lanes(lanes, [torch.cat([s.chunk, s.end]) for s in part])):
            task, n = KeywordTask(model), len(s.chunk)
            outputs = [
                task.accept(((classes[:n], speech[:n]),), (0,), False, s.audio_s),
                task.accept(((classes[n:], speech[n:]),), (n,), True, s.audio_s),
            ]
            detections = [d for o in outputs for d in o.detections]
            smoothed = np.concatenate([o.smoothed for o in outputs if o.smoothed is not None])
            results.append((clip_label(detections, smoothed, model.config.labels), smoothed.max(axis=0)))
    return results


def _stream_all(
    model: KeywordSpotter, clips: list[Clip], progress: bool, level_dbfs: float | None, cache: Path | None = None
) -> list:
    steps = clip_steps(model.config.features, clips, level_dbfs, cache, progress)
    return replayed_clips(model, steps)


def classify_clips(
    model: KeywordSpotter,
    clips: list[Clip],
    progress: bool = False,
    level_dbfs: float | None = None,
    cache: Path | None = None,
) -> list[str]:
    """Each clip streamed on its own from a fresh state, classified by `clip_label`; the front end's steps kept in
    `cache` for other models of the same front end (`clip_steps`)."""
    return [label for label, _ in _stream_all(model, clips, progress, level_dbfs, cache)]


def closed_set_accuracy(
    labels: tuple[str, ...], keywords: tuple[str, ...], clips: list[Clip], peaks: list[np.ndarray]
) -> float | None:
    """Of the clips of a keyword in `keywords`, the share whose keyword the model found likeliest among them
    (highest smoothed posterior over the clip): what the model knows when the detection threshold and other
    speech are set aside, as a closed-set classifier of those keywords would be judged. None without such clips."""
    rows = [labels.index(k) for k in keywords if k in labels]
    hits = [labels[rows[int(np.argmax(p[rows]))]] == c.label for c, p in zip(clips, peaks) if c.label in keywords]
    return round(float(np.mean(hits)), 4) if hits else None


def scored(label: str, scored_labels: tuple[str, ...]) -> str:
    """Any label outside the scored set counts as unknown speech."""
    return label if label in scored_labels or label == SILENCE else UNKNOWN


@dataclass
class ClipReport:
    labels: tuple[str, ...]
    accuracy: float
    clips: int
    per_label: dict[str, dict]
    per_speaker: dict[str, dict]
    confusion: list[list[int]]  # [true][predicted], in `labels` order
    closed_set_accuracy: float | None = None  # see `closed_set_accuracy`


def clip_report(
    model: KeywordSpotter,
    clips: list[Clip],
    scored_labels: tuple[str, ...],
    level_dbfs: float | None = None,
    cache: Path | None = None,
) -> ClipReport:
    labels = tuple(dict.fromkeys([*scored_labels, SILENCE, UNKNOWN]))
    streamed = _stream_all(model, clips, True, level_dbfs, cache)
    predicted = [label for label, _ in streamed]
    # Silence clips have no speaker: they are reported together.
    pairs = [
        (scored(c.label, labels), scored(p, labels), "(silence clips)" if c.label == SILENCE else c.speaker)
        for c, p in zip(clips, predicted)
    ]
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    by_label, by_speaker = defaultdict(list), defaultdict(list)
    for truth, guess, speaker in pairs:
        confusion[labels.index(truth), labels.index(guess)] += 1
        by_label[truth].append(truth == guess)
        by_speaker[speaker].append(truth == guess)

    def summary(hits: list[bool]) -> dict:
        return {"accuracy": round(float(np.mean(hits)), 4), "clips": len(hits)}

    return ClipReport(
        labels,
        round(float(np.mean([t == g for t, g, _ in pairs])), 4),
        len(pairs),
        {k: summary(v) for k, v in sorted(by_label.items())},
        {k: summary(v) for k, v in sorted(by_speaker.items())},
        confusion.tolist(),
        closed_set_accuracy(model.config.labels, tuple(scored_labels), clips, [p for _, p in streamed]),
    )


@dataclass
class StreamReport:
    keywords: int
    hits: int
    misses: int
    false_accepts: int
    stream_s: float
    non_keyword_s: float
    hit_rate: float
    false_accepts_per_hour: float
    mean_latency_s: float  # from the end of the keyword's speech to the detection, on the audio clock
    per_keyword: dict[str, dict]
    false_accept_words: dict[str, int]
    real_time_factor: float = 0.0  # compute seconds (features, model, decisions) per second of audio


def test_stream_order(clips: list[Clip], seed: int = 0) -> tuple[list[Clip], random.Random]:
    """The clips of a test stream (not silence) in the order `compose_test_stream` joins them, and its generator."""
    rng = random.Random(seed)
    order = [c for c in clips if c.label != SILENCE]
    rng.shuffle(order)
    return order, rng


def compose_test_stream(clips: list[Clip], noise: NoiseBank | None, seed: int = 0):
    """The clips in random order (`test_stream_order`) with 0.3-1.5 s pauses, over real noise at 10-30 dB SNR.

    Returns the waveform and each clip's (onset_s, offset_s, label, word).
    """
    order, rng = test_stream_order(clips, seed)
    waves = [load_clip(c.path) for c in order]
    gaps = [rng.uniform(0.3, 1.5) for _ in order]
    length = int(sum(len(w) for w in waves) + (sum(gaps) + 1.0) * SAMPLE_RATE)
    mix = torch.zeros(length)
    events, pos = [], int(0.5 * SAMPLE_RATE)
    for clip, wave, gap in zip(order, waves, gaps):
        mix[pos : pos + len(wave)] += wave
        onset, offset = speech_extent(wave)
        events.append(((pos + onset) / SAMPLE_RATE, (pos + offset) / SAMPLE_RATE, clip.label, clip.word))
        pos += len(wave) + int(gap * SAMPLE_RATE)
    if noise is not None:
        speech_level = np.median([rms(w) for w in waves]) if waves else 0.01
        for start in range(0, length, 30 * SAMPLE_RATE):  # a fresh noise every 30 s
            n = min(30 * SAMPLE_RATE, length - start)
            segment = noise.segment(n, rng)
            mix[start : start + n] += segment * (speech_level * 10 ** (-rng.uniform(10, 30) / 20) / rms(segment))
    return mix.clamp(-1, 1), events


def score_stream(detections: list[Detection], events, keywords: tuple[str, ...], stream_s: float) -> StreamReport:
    """Matches detections to the keywords spoken in a test stream: hits, misses and false accepts."""
    targets = [(on, off, label) for on, off, label, _ in events if label in keywords]
    matched, latencies = set(), []
    per_keyword = defaultdict(Counter)
    false_accepts = Counter()
    for d in detections:
        # A hit: the right keyword, ending between the word's onset and one second after it.
        match = next(
            (
                i
                for i, (on, off, label) in enumerate(targets)
                if i not in matched and label == d.keyword and on - 0.2 <= d.end_s <= off + 1.0
            ),
            None,
        )
        if match is None:
            overlapping = next((e for e in events if e[0] - 0.2 <= d.end_s <= e[1] + 1.0), None)
            false_accepts[
                f"{d.keyword} in {overlapping[3] or 'silence'}" if overlapping else f"{d.keyword} in noise"
            ] += 1
            continue
        matched.add(match)
        latencies.append(d.detected_s - targets[match][1])
        per_keyword[d.keyword]["hits"] += 1
    for i, (_, _, label) in enumerate(targets):
        per_keyword[label]["keywords"] += 1
        if i not in matched:
            per_keyword[label]["misses"] += 1
    non_keyword_s = stream_s - sum(off - on for on, off, _ in targets)
    fa = sum(false_accepts.values())
    return StreamReport(
        keywords=len(targets),
        hits=len(matched),
        misses=len(targets) - len(matched),
        false_accepts=fa,
        stream_s=round(stream_s, 2),
        non_keyword_s=round(non_keyword_s, 2),
        hit_rate=round(len(matched) / max(1, len(targets)), 4),
        false_accepts_per_hour=round(fa / (non_keyword_s / 3600), 2),
        mean_latency_s=round(float(np.mean(latencies)), 3) if latencies else 0.0,
        per_keyword={k: dict(v) for k, v in sorted(per_keyword.items())},
        false_accept_words=dict(false_accepts.most_common()),
    )


def stream_report(
    model: KeywordSpotter, clips: list[Clip], scored_labels: tuple[str, ...], noise: NoiseBank | None, seed: int = 0
) -> StreamReport:
    wave, events = compose_test_stream(clips, noise, seed)
    keywords = tuple(k for k in scored_labels if k in model.config.keywords)
    stream = keyword_stream(model, SAMPLE_RATE, {k: DEFAULT_SENSITIVITY for k in keywords})
    detections, _ = run_stream(stream, wave)
    report = score_stream(detections, events, keywords, len(wave) / SAMPLE_RATE)
    report.real_time_factor = round(stream.compute_s / stream.audio_s, 4)
    return report


def calibrate_thresholds(
    model: KeywordSpotter, clips: list[Clip], noise: NoiseBank | None, seed: int = 0
) -> tuple[dict[str, float], list[dict]]:
    """Each keyword's detection threshold on a validation stream: the one with the most hits less false
    accepts (a false accept costs as much as a miss), the higher one on a tie; a keyword spoken fewer than
    MIN_CALIBRATION_WORDS times keeps its default. The model runs once; the
    detector is replayed for every candidate. Returns the thresholds and what each candidate scored."""
    wave, events = compose_test_stream(clips, noise, seed)
    posteriors = recording_posteriors(model, wave, SAMPLE_RATE)
    keywords = model.config.keywords
    trials = []
    for threshold in np.round(np.arange(0.3, 0.991, 0.05), 2):
        replay = KeywordTask(model, detector=detector_for(model, threshold=float(threshold)))
        detections = replay.accept((posteriors,), (0,), False, len(wave) / SAMPLE_RATE).detections
        report = score_stream(detections, events, keywords, len(wave) / SAMPLE_RATE)
        hours = report.non_keyword_s / 3600
        false_accepts = Counter()
        for where, n in report.false_accept_words.items():
            false_accepts[where.split(" in ")[0]] += n
        trials.append(
            {
                "threshold": float(threshold),
                "hit_rate": report.hit_rate,
                "false_accepts_per_hour": report.false_accepts_per_hour,
                "keywords": {
                    k: {
                        "hits": report.per_keyword.get(k, {}).get("hits", 0),
                        "false_accepts": false_accepts[k],
                        "false_accepts_per_hour": round(false_accepts[k] / hours, 2),
                    }
                    for k in keywords
                },
            }
        )
    # A keyword spoken too rarely in the validation stream keeps its default: a tie at no hits says nothing.
    spoken = Counter(label for _, _, label, _ in events)
    thresholds = {
        k: max(trials, key=lambda t: (t["keywords"][k]["hits"] - t["keywords"][k]["false_accepts"], t["threshold"]))[
            "threshold"
        ]
        for k in keywords
        if spoken[k] >= MIN_CALIBRATION_WORDS
    }
    return thresholds, trials
