"""Keywords chosen at run time by text, on the speech embedding: a phrase is enrolled from text-to-speech voices and
spotted by a linear discriminant over a stream's embeddings.

Enrolment speaks the phrase in ENROL_VOICES, full band and through a telephone's band, and keeps the embeddings
whose 760 ms window has just heard it whole. Other speech is the `SpeechBackground`: the mean and covariance of the
embeddings of real and synthetic speech (`rnnvoice background`). Fisher's discriminant with that covariance, shrunk
towards its mean variance, gives the phrase a direction w = C^-1 (mean of phrase - mean of other speech). A step's
score is how far its embedding lies along w above other speech, in standard deviations of other speech there (z);
as 0..1, a logistic of z about DEFAULT_Z. A phrase fires at the peak of a run of steps above its threshold, then
rests for REST_S. The linear discriminant, not a fitted network: it takes milliseconds and needs no negatives at
enrolment beyond two shipped statistics. Measured against the recogniser's CTC spotting it replaced, and swept, in
reports/phrases/README.md.

Shapes: S steps, E = 96 embedding dims, P phrases, V voices.
"""

import functools
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio

from rnnvoice.models.audio.speech_synthesis import ESPEAK_ACCENTS, Prosody, Voice, available_voices, synthesize
from rnnvoice.models.nets.speech_embedding import DIM
from rnnvoice.models.streaming.embedding_front import embedding_features
from rnnvoice.models.streaming.keyword_detector import Detection
from rnnvoice.models.weights import WEIGHTS

__all__ = [
    "BACKGROUND_FILE",
    "DEFAULT_THRESHOLD",
    "EnrolmentError",
    "PhraseModel",
    "PhraseSpotter",
    "SpeechBackground",
    "enrol",
    "enrol_voices",
]

BACKGROUND_FILE = "speech_background.pt"
RATE = 16000
STEP_S = 0.08  # the embedding's step
# The score that fires at sensitivity 0.5, and the z it stands for: chosen on the WUW development calls with words
# other than the test's (operator, think engine, on word: z 6.5 to 9 gave 72 % to 19 % detected at 178 to 10 false
# accepts an hour, the three together; 7.5, 51 % at 60, is where two of them are near 10 an hour).
DEFAULT_THRESHOLD = 0.5
DEFAULT_Z = 7.5
Z_SCALE = 2.0  # score = logistic(Z_SCALE * (z - DEFAULT_Z)): sensitivities 0.05..0.95 span z +-1.5
# How long after a phrase's end its embeddings are taken: the steps whose window still holds it all.
LAGS_S = (0.0, 0.08, 0.16, 0.24)
# Shrinkage of the covariance towards its mean variance: 3 parts mean variance to 1 of covariance (swept on the
# development words: 0.01 to 100; 3 best).
SHRINK = 3.0
REST_S = 1.0  # after a detection, the phrase does not fire again for this long
# Enrolment voices: flite's four and three variants of each espeak-ng accent, a male, a female and a Klatt voice.
ESPEAK_ENROL_VARIANTS = ("m3", "f2", "klatt")
ENROLLED_CACHE = 256  # phrases kept enrolled per process


class EnrolmentError(RuntimeError):
    """A phrase that cannot be enrolled: no text-to-speech voice on this machine, or none that could say it."""


@dataclass(frozen=True)
class SpeechBackground:
    """Other speech, as the embedding sees it: mean (E,) and covariance (E, E) of many steps, with provenance."""

    mean: torch.Tensor
    covariance: torch.Tensor
    metadata: dict

    def save(self, path) -> None:
        torch.save({"mean": self.mean, "covariance": self.covariance, "metadata": self.metadata}, path)

    @classmethod
    def measure(cls, vectors: torch.Tensor, metadata: dict) -> "SpeechBackground":
        """(N, E) embeddings of other speech -> their statistics."""
        vectors = vectors.double()
        return cls(vectors.mean(0), torch.cov(vectors.T), metadata | {"steps": len(vectors)})

    @classmethod
    def load(cls, path=WEIGHTS / BACKGROUND_FILE) -> "SpeechBackground":
        data = torch.load(path, map_location="cpu", weights_only=True)
        if data["mean"].shape != (DIM,) or data["covariance"].shape != (DIM, DIM):
            raise ValueError(f"{path}: not the statistics of {DIM}-dimensional embeddings")
        return cls(data["mean"], data["covariance"], data["metadata"])


@functools.cache
def speech_background() -> SpeechBackground:
    return SpeechBackground.load()


@dataclass(frozen=True)
class PhraseModel:
    """One enrolled phrase: z = (x - mean) . direction / spread for an embedding x; duration_s, its median length."""

    text: str
    direction: torch.Tensor  # (E,)
    mean: torch.Tensor  # (E,) other speech's
    spread: float
    duration_s: float
    renditions: int


def enrol_voices() -> list[Voice]:
    wanted = {f"{a}+{v}" for a in ESPEAK_ACCENTS for v in ESPEAK_ENROL_VARIANTS}
    return [v for v in available_voices() if v.engine == "flite" or v.voice in wanted]


@functools.lru_cache(maxsize=ENROLLED_CACHE)
def enrol(text: str) -> PhraseModel:
    """The phrase (normalised text) spoken by every enrolment voice, as a direction in embedding space. The same
    text enrols the same way each time (prosody drawn from a seed of the text); kept for ENROLLED_CACHE phrases."""
    voices = enrol_voices()
    if not voices:
        raise EnrolmentError("no text-to-speech voice on the server to enrol phrases with; install espeak-ng or flite")
    rng = random.Random(text)
    prosodies = [Prosody.sample(rng) for _ in voices]
    with ThreadPoolExecutor(max_workers=4) as pool:  # the engines run as processes: several at once
        spoken = list(pool.map(lambda vp: _spoken(vp[0], text, vp[1]), zip(voices, prosodies)))
    spoken = [s for s in spoken if s is not None]
    if not spoken:
        raise EnrolmentError(f"no text-to-speech voice could say {text!r}")
    vectors = torch.cat([_heard_whole(s) for s in spoken])
    background = speech_background()
    covariance = background.covariance
    shrunk = covariance + SHRINK * covariance.diagonal().mean() * torch.eye(DIM, dtype=covariance.dtype)
    direction = torch.linalg.solve(shrunk, vectors.double().mean(0) - background.mean)
    spread = float(direction @ covariance @ direction) ** 0.5
    return PhraseModel(
        text,
        direction,
        background.mean,
        spread,
        float(np.median([len(s) / RATE for s in spoken])),
        len(spoken),
    )


def _spoken(voice: Voice, text: str, prosody: Prosody) -> torch.Tensor | None:
    """The phrase in one voice at 16 kHz, its silence trimmed, at a peak of 0.3; None if the engine failed."""
    try:
        audio, rate = synthesize(voice, text, prosody)
    except Exception:  # one engine's failure leaves the other voices
        return None
    wave = torchaudio.functional.resample(torch.from_numpy(audio), rate, RATE)
    loud = (wave.abs() > 0.02 * wave.abs().max()).nonzero()
    if not len(loud):
        return None
    wave = wave[loud[0] : loud[-1] + 1]
    return wave / wave.abs().max() * 0.3


def _heard_whole(wave: torch.Tensor) -> torch.Tensor:
    """(T,) a rendition -> (2 * len(LAGS_S), E): the embeddings LAGS_S after its end, full band and through a
    telephone's 8 kHz."""
    telephone = torchaudio.functional.resample(torchaudio.functional.resample(wave, RATE, 8000), 8000, RATE)
    lead, tail = torch.zeros(RATE // 2), torch.zeros(round((LAGS_S[-1] + 2 * STEP_S) * RATE))
    both = torch.stack([torch.cat([lead, w[: len(wave)], tail]) for w in (wave, telephone)])
    embeddings = embedding_features(both)  # (2, S, E)
    end_s = (len(lead) + len(wave)) / RATE
    steps = [int(np.ceil((end_s + lag) / STEP_S)) - 1 for lag in LAGS_S]  # step k's window ends at (k + 1) * STEP_S
    return embeddings[:, steps].reshape(-1, DIM)


def threshold_z(threshold: float) -> float:
    """A 0..1 threshold as the z it stands for."""
    return DEFAULT_Z + float(np.log(threshold / (1 - threshold))) / Z_SCALE


class PhraseSpotter:
    """Stateful phrase detections for one stream, fed its embeddings (S, E) in any chunking.

    phrases: each enrolled phrase and its 0..1 threshold. A phrase above its threshold is reported at the peak of
    its score, once the score falls (one step after it), and then rests for REST_S.
    """

    def __init__(self, phrases: list[tuple[PhraseModel, float]]):
        self.phrases = [p for p, _ in phrases]
        self.directions = torch.stack([p.direction for p in self.phrases], dim=1)  # (E, P)
        self.offsets = torch.stack([p.mean @ p.direction for p in self.phrases])  # (P,)
        self.spreads = torch.tensor([p.spread for p in self.phrases], dtype=torch.float64)
        self.thresholds = np.array([threshold_z(t) for _, t in phrases])
        self.rest_steps = round(REST_S / STEP_S)
        self.peak: list[tuple[float, int] | None] = [None] * len(phrases)  # above the threshold: (z, step)
        self.rested = np.full(len(phrases), -(10**9))  # the step of the last detection
        self.steps = 0

    def z(self, embeddings: torch.Tensor) -> np.ndarray:
        """(S, E) -> (S, P)."""
        return ((embeddings.double() @ self.directions - self.offsets) / self.spreads).numpy()

    def scores(self, z: np.ndarray) -> np.ndarray:
        """z (..., P) as 0..1."""
        return 1 / (1 + np.exp(-Z_SCALE * (z - DEFAULT_Z)))

    def accept(self, embeddings: torch.Tensor) -> tuple[list[Detection], np.ndarray]:
        """The detections decided on these steps, and the steps' z (S, P)."""
        z = self.z(embeddings) if len(embeddings) else np.zeros((0, len(self.phrases)))
        detections = []
        for i, row in enumerate(z):
            step = self.steps + i
            for k, value in enumerate(row):
                peak = self.peak[k]
                if peak is not None and value < peak[0]:
                    detections.append(self._detection(k, *peak, step))
                    self.peak[k], self.rested[k] = None, step
                elif value >= self.thresholds[k] and step - self.rested[k] > self.rest_steps:
                    self.peak[k] = (float(value), step)
        self.steps += len(z)
        return detections, z

    def _detection(self, k: int, z: float, peak_step: int, step: int) -> Detection:
        phrase = self.phrases[k]
        end_s = (peak_step + 1) * STEP_S - float(np.mean(LAGS_S))
        return Detection(
            phrase.text,
            round(float(self.scores(np.array(z))), 4),
            round(max(0.0, end_s - phrase.duration_s), 3),
            round(max(0.0, end_s), 3),
            round((step + 1) * STEP_S, 3),
        )
