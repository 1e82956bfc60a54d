"""Long training streams composed from clips, with a target for every model step.

Keywords, other words, phrases and pauses run together over continuous real noise, so
the models learn to run for minutes without a reset. A keyword's label sits just after
its end (the model has heard the whole word); the frames inside the word are not scored.
"""

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from rnnvoice.models.audio.features import FeatureConfig, mel_transform, normalized_log_mel, stack_frames
from rnnvoice.models.data.augment import (
    SPEED_FACTORS,
    NoiseBank,
    SpecAugment,
    SpeedChanger,
    reverberate,
    rms,
    room_impulse_response,
    telephone,
)
from rnnvoice.models.data.corpus import SAMPLE_RATE, TALK_SOURCE, Clip, load_clip
from rnnvoice.models.nets.speech_recognizer import encode_text
from rnnvoice.models.streaming.frontend import whole_features
from rnnvoice.models.vocabulary import KEYWORDS, LABELS, SILENCE, UNKNOWN

IGNORE = -100
MARGIN_S = 0.15  # context kept around a clip's speech


@dataclass(frozen=True)
class MixConfig:
    seconds: float = 10.0
    keyword_share: float = 0.45
    unknown_share: float = 0.3
    phrase_share: float = 0.05
    # Pieces of real telephone talk (a corpus's `wuw` source), where the corpus has them; the rest are pauses.
    talk_share: float = 0.0
    real_share: float = 0.5  # of keyword and word draws, where real recordings exist
    # Above 0: a word's real share is real_share scaled by how many real speakers say it, full from this many, so
    # that a word few real speakers say (FSDD's digits) is drawn mostly from the synthetic voices.
    real_speakers_full: int = 0
    mean_gap_s: float = 0.5
    run_on_prob: float = 0.15  # words spoken back to back, no pause
    # A stream's speech level (RMS in dBFS): from a far, quiet microphone to a close, loud one.
    level_db: tuple[float, float] = (-38.0, -14.0)
    # Each word's level about its stream's: speakers move, stress and trail off.
    word_level_spread_db: float = 6.0
    noise_prob: float = 0.85
    snr_db: tuple[float, float] = (0.0, 30.0)
    reverb_prob: float = 0.3
    telephone_prob: float = 0.15
    speed_prob: float = 0.5
    # Digital silence after the last word, as when a stream ends and the server pads it.
    silent_tail_prob: float = 0.3
    # Batches of short streams, whose first word comes before the running normalisation has settled, as a clip
    # streamed on its own does.
    short_prob: float = 0.0
    short_seconds: float = 2.0
    label_before_end_s: float = 0.06
    label_after_end_s: float = 0.25
    # Pooling over the word: when above 0, each step's target is what the last `pool_s` seconds held, for scores
    # max-pooled over that window (KeywordDetector's pooled scores): a keyword once the window holds all of it, other
    # speech once the window holds a word's end, silence if it holds no speech, and no target while a word is half
    # heard. Zero: a target at every step, a keyword's just after its end.
    pool_s: float = 0.0


@dataclass
class PreparedClip:
    wave: torch.Tensor
    onset: int  # speech extent in samples within wave
    offset: int
    label: str


def speech_extent(wave: torch.Tensor, rate: int = SAMPLE_RATE) -> tuple[int, int]:
    """First and last sample of speech, from 10 ms frame energies against the clip's own floor."""
    hop = rate // 100
    frames = wave[: len(wave) // hop * hop].reshape(-1, hop)
    if len(frames) == 0:
        return 0, len(wave)
    db = 10 * torch.log10(frames.pow(2).mean(dim=1) + 1e-10)
    peak, floor = float(db.max()), float(torch.quantile(db, 0.1))
    loud = torch.nonzero(db > max(peak - 30.0, (peak + floor) / 2)).flatten()
    return int(loud[0]) * hop, (int(loud[-1]) + 1) * hop


def prepare(path: str, label: str) -> PreparedClip:
    """A clip trimmed to its speech and a short margin, faded at both ends."""
    wave = load_clip(path)
    onset, offset = speech_extent(wave)
    margin = int(MARGIN_S * SAMPLE_RATE)
    start, end = max(0, onset - margin), min(len(wave), offset + margin)
    wave = wave[start:end].clone()
    fade = min(160, len(wave) // 4)
    ramp = torch.linspace(0, 1, fade)
    wave[:fade] *= ramp
    wave[len(wave) - fade :] *= ramp.flip(0)
    return PreparedClip(wave, onset - start, offset - start, label)


class StreamMixer:
    """Draws batches of training streams (B, S, D) with targets; subclasses choose the clips and the targets."""

    def __init__(self, noise: NoiseBank, features: FeatureConfig, config: MixConfig, seed: int = 0):
        self.config, self.features, self.noise = config, features, noise
        self.rng = random.Random(seed)
        self.speed = SpeedChanger()
        self.mel = mel_transform(features)
        self.spec_augment = SpecAugment()

    def next_clip(self) -> PreparedClip | None:
        """The next clip to place, or None for a pause."""
        raise NotImplementedError

    def targets(self, events: list[tuple[int, int, str]], steps: int) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def compose(self, seconds: float) -> tuple[torch.Tensor, list[tuple[int, int, str]]]:
        """One stream: the waveform (T,) and its events (speech onset, offset, label)."""
        c, rng = self.config, self.rng
        length = int(seconds * SAMPLE_RATE)
        speech = torch.zeros(length)
        events = []
        stream_level_db = rng.uniform(*c.level_db)
        next_onset = int(rng.uniform(0.0, 0.6) * SAMPLE_RATE)  # where the next word's speech may begin
        while next_onset < length:
            clip = self.next_clip()
            if clip is None:
                next_onset += int(rng.expovariate(1 / c.mean_gap_s) * SAMPLE_RATE)
                continue
            wave, onset, offset = clip.wave, clip.onset, clip.offset
            if rng.random() < c.speed_prob:
                factor = rng.choice(SPEED_FACTORS)
                wave = self.speed(wave, factor)
                onset, offset = int(onset / factor), int(offset / factor)
            pos = max(0, next_onset - onset)
            if pos + len(wave) > length:
                break
            level = 10 ** ((stream_level_db + rng.uniform(-c.word_level_spread_db, c.word_level_spread_db)) / 20)
            speech[pos : pos + len(wave)] += wave * (level / rms(wave[onset:offset]))
            events.append((pos + onset, pos + offset, clip.label))
            run_on = rng.random() < c.run_on_prob
            gap = (
                rng.uniform(0.03, 0.12)
                if run_on
                else rng.uniform(0.1, 0.3) + min(rng.expovariate(1 / c.mean_gap_s), 2.0)
            )
            next_onset = pos + offset + int(gap * SAMPLE_RATE)
        if rng.random() < c.reverb_prob:
            speech = reverberate(speech, room_impulse_response(rng))
        mix = speech
        if rng.random() < c.noise_prob:
            noise = self.noise.segment(length, rng)
            mix = speech + noise * (10 ** ((stream_level_db - rng.uniform(*c.snr_db)) / 20) / rms(noise))
        if rng.random() < c.telephone_prob:
            mix = telephone(mix)
        if events and rng.random() < c.silent_tail_prob:
            mix[events[-1][1] + int(rng.uniform(0.0, 0.4) * SAMPLE_RATE) :] = 0.0
        return mix.clamp(-1, 1), events

    def streams(self, size: int, augment: bool = True) -> tuple[torch.Tensor, list[list[tuple[int, int, str]]]]:
        """Features (B, S, D) of `size` new streams, and each stream's events."""
        seconds = self.config.short_seconds if self.rng.random() < self.config.short_prob else self.config.seconds
        streams = [self.compose(seconds) for _ in range(size)]
        waves = torch.stack([w for w, _ in streams])
        if augment and not self.features.embedded:
            # SpecAugment masks log-mel frames, before they are stacked into steps.
            x = stack_frames(self.spec_augment(normalized_log_mel(waves, self.features, self.mel)), self.features.stack)
        else:
            x = whole_features(waves, self.features)
        return x, [events for _, events in streams]

    def batch(self, size: int, augment: bool = True) -> tuple[torch.Tensor, ...]:
        """Features (B, S, D) and the subclass's targets, stacked over the batch."""
        x, events = self.streams(size, augment)
        return (x, *self.batch_targets(events, x.shape[1]))

    def batch_targets(self, events: list[list[tuple[int, int, str]]], steps: int) -> tuple[torch.Tensor, ...]:
        """The subclass's targets of streams with these events, stacked over the batch."""
        return self.collate([self.targets(e, steps) for e in events])

    @staticmethod
    def collate(targets: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
        return tuple(torch.stack(column) for column in zip(*targets))


class KeywordMixer(StreamMixer):
    """Keywords, other words, phrases and pauses; targets: classes (B, S) and speech activity (B, S)."""

    def __init__(self, clips: list[Clip], noise: NoiseBank, features: FeatureConfig, config: MixConfig, seed: int = 0):
        super().__init__(noise, features, config, seed)
        speech = [c for c in clips if c.label != SILENCE]
        # pools[(kind, real)]: keyword clips by label, non-keyword words, and phrases.
        self.pools: dict[tuple[str, bool], list[PreparedClip]] = {}
        speakers: dict[str, set[str]] = {}  # the real speakers of each kind
        for clip in tqdm(speech, desc="loading clips", unit="clip"):
            kind = "talk" if clip.source == TALK_SOURCE else "phrase" if " " in clip.word else clip.label
            real = clip.source != "tts"
            self.pools.setdefault((kind, real), []).append(prepare(clip.path, clip.label))
            if real:
                speakers.setdefault(kind, set()).add(clip.speaker)
        self.keywords = [k for k in KEYWORDS if (k, False) in self.pools or (k, True) in self.pools]
        full = config.real_speakers_full
        self.real_share = {
            kind: config.real_share * (min(1.0, len(names) / full) if full else 1.0) for kind, names in speakers.items()
        }

    def _draw(self, kind: str) -> PreparedClip | None:
        real, synthetic = self.pools.get((kind, True)), self.pools.get((kind, False))
        pool = real if real and (not synthetic or self.rng.random() < self.real_share[kind]) else synthetic
        return self.rng.choice(pool) if pool else None

    def next_clip(self) -> PreparedClip | None:
        c, r = self.config, self.rng.random()
        if r < c.keyword_share:
            return self._draw(self.rng.choice(self.keywords))
        if r < c.keyword_share + c.unknown_share:
            return self._draw(UNKNOWN)
        if r < c.keyword_share + c.unknown_share + c.phrase_share:
            return self._draw("phrase")
        if r < c.keyword_share + c.unknown_share + c.phrase_share + c.talk_share:
            return self._draw("talk")
        return None

    def targets(self, events: list[tuple[int, int, str]], steps: int) -> tuple[torch.Tensor, ...]:
        """Per-step class targets (B, S) and speech targets (B, S)."""
        c, f = self.config, self.features
        centers = np.arange(steps) * f.step_samples + (f.step_samples + f.win_length - f.hop_length) / 2
        speech = np.zeros(steps, dtype=np.float32)
        for onset, offset, _ in events:
            speech[(centers >= onset) & (centers < offset)] = 1.0
        classes = (self._pooled_targets if c.pool_s > 0 else self._step_targets)(events, centers)
        return torch.from_numpy(classes), torch.from_numpy(speech)

    def _step_targets(self, events: list[tuple[int, int, str]], centers: np.ndarray) -> np.ndarray:
        """A keyword's label from just before its end until the next word; other words' over their extent."""
        c = self.config
        classes = np.full(len(centers), LABELS.index(SILENCE))
        before, after = c.label_before_end_s * SAMPLE_RATE, c.label_after_end_s * SAMPLE_RATE
        for i, (onset, offset, label) in enumerate(events):
            following = events[i + 1][0] if i + 1 < len(events) else math.inf
            labelled_from = offset - before if label in KEYWORDS else onset
            classes[(centers >= onset) & (centers < labelled_from)] = IGNORE
            classes[(centers >= labelled_from) & (centers < min(offset + after, following))] = LABELS.index(label)
        return classes

    def _pooled_targets(self, events: list[tuple[int, int, str]], centers: np.ndarray) -> np.ndarray:
        """What the window of the last `pool_s` seconds before each step holds (MixConfig.pool_s)."""
        c = self.config
        window_start = centers - c.pool_s * SAMPLE_RATE
        # A keyword counts as heard from just before its end, for as long as the window still holds its onset
        # (give or take a little: speech extents are estimates).
        heard_from, slack = c.label_before_end_s * SAMPLE_RATE, 0.1 * SAMPLE_RATE
        classes = np.full(len(centers), LABELS.index(SILENCE))
        other_speech = np.zeros(len(centers), dtype=bool)
        unsure = np.zeros(len(centers), dtype=bool)  # a word half heard
        keywords = np.zeros(len(centers), dtype=int)  # keywords the window holds whole
        for onset, offset, label in events:
            overlaps = (window_start < offset) & (centers > onset)
            if label in KEYWORDS:
                whole = (centers >= offset - heard_from) & (window_start <= onset + slack)
                classes[whole] = LABELS.index(label)
                keywords += whole
                unsure |= overlaps & ~whole
            else:
                ended = overlaps & (centers >= offset)
                other_speech |= ended
                unsure |= overlaps & ~ended
        classes[(keywords == 0) & other_speech] = LABELS.index(UNKNOWN)
        # Two keywords in one window: pooled scores cannot say which is meant.
        classes[((keywords == 0) & unsure) | (keywords > 1)] = IGNORE
        return classes


class UtteranceMixer(StreamMixer):
    """Whole utterances with pauses between; targets: their transcripts joined, as CTC token ids, and lengths."""

    def __init__(self, recordings, noise: NoiseBank, features: FeatureConfig, config: MixConfig, seed: int = 0):
        super().__init__(noise, features, config, seed)
        self.utterances = [prepare(r.path, r.text) for r in tqdm(recordings, desc="loading utterances", unit="clip")]

    def next_clip(self) -> PreparedClip | None:
        return None if self.rng.random() < 0.1 else self.rng.choice(self.utterances)

    def targets(self, events: list[tuple[int, int, str]], steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = encode_text(" ".join(text for _, _, text in events))
        return torch.tensor(ids, dtype=torch.long), torch.tensor(len(ids))

    @staticmethod
    def collate(targets: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
        """CTC's layout: every target concatenated (N,), and each one's length (B,)."""
        return torch.cat([ids for ids, _ in targets]), torch.stack([n for _, n in targets])
