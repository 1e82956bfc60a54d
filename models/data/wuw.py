"""WUW Corpus II: real telephone calls (8 kHz G.711 mu-law) with hand transcripts, split by call.

Each call is one caller saying five wake-up words (Operator, ThinkEngine, Onword, Wildfire, Voyager) alone
(utterances 001-005), then each at the end of a free sentence (006-010). To us they are real continuous speech
by many people: negatives, false accepts per hour on real talk, and words no model of ours trained on.

A caller may have made more than one call and the corpus does not say which: calls are split by a hash of their
number, the closest to whole speakers it allows.
"""

import csv
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import soundfile
import torch
import torchaudio

__all__ = [
    "TRANSCRIPTS",
    "UNTRAINED_WORDS",
    "WUW_RATE",
    "WUW_WORDS",
    "CallSplit",
    "CallUtterance",
    "load_call",
    "read_calls",
    "talk_pieces",
]

WUW_RATE = 8000
WUW_WORDS = ("operator", "thinkengine", "onword", "wildfire", "voyager")
TRANSCRIPTS = "transcripts.tsv"
# Shares of the calls: training may use `train` (as negatives); thresholds and false accepts per hour are measured
# on `dev`; `test` is for words never trained on (run-time phrases), out of every training set.
SPLIT_SHARES = {"train": 0.5, "dev": 0.25, "test": 0.25}
# Wake-up words no model trains on, not even as other speech: run-time phrases are judged on them.
UNTRAINED_WORDS = ("wildfire", "voyager")
# Longest piece of a call's talk given to training: a training stream is 10 s.
PIECE_S = 3.0
MIN_PIECE_S = 0.5
# Transcript marks that are not words: noises {breath}, events [click], unclear (( )), tags <as> </as>. Words are
# what is left of letters and apostrophes: marks on a word (+reduced, *mispronounced, ^name, _keyword_, frag-) and
# punctuation go.
NOT_WORDS = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\(\([^)]*\)\)|<[^>]*>")
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


class CallSplit(StrEnum):
    TRAIN = "train"
    DEV = "dev"
    TEST = "test"


@dataclass(frozen=True)
class CallUtterance:
    path: Path
    call: str
    utterance: str  # 001-005 a wake-up word alone, 006-010 one at the end of a sentence
    transcript: str
    keyword_start_s: float
    keyword_end_s: float
    split: CallSplit

    @property
    def words(self) -> tuple[str, ...]:
        """What was said, lower case, without the transcript's noise and event marks."""
        return tuple(WORD.findall(NOT_WORDS.sub(" ", self.transcript).lower()))

    @property
    def keyword(self) -> str:
        """The wake-up word this utterance ends with, lower case."""
        return WUW_WORDS[(int(self.utterance) - 1) % len(WUW_WORDS)]


def read_calls(folder: Path, split: CallSplit | None = None) -> list[CallUtterance]:
    """The corpus's utterances (from its transcripts.tsv), of one split or all; calls are split by a hash of their
    number, in the shares of SPLIT_SHARES."""
    folder = Path(folder)
    with open(folder / TRANSCRIPTS, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    # The order of the calls is fixed by a hash of their number: the same every time.
    ranked = sorted({r["call"] for r in rows}, key=lambda c: hashlib.sha1(f"wuw/{c}".encode()).hexdigest())
    bounds, edge = [], 0.0
    for name, share in SPLIT_SHARES.items():
        edge += share
        bounds.append((round(edge * len(ranked)), CallSplit(name)))
    splits = {c: next(s for end, s in bounds if i < end) for i, c in enumerate(ranked)}
    utterances = [
        CallUtterance(
            folder / r["file"],
            r["call"],
            r["utterance"],
            r["transcript"],
            float(r["keyword_start_s"]),
            float(r["keyword_end_s"]),
            splits[r["call"]],
        )
        for r in rows
    ]
    return [u for u in utterances if split is None or u.split == split]


def load_call(path: Path) -> torch.Tensor:
    """One utterance as mono float (T,) at its own 8 kHz."""
    audio, _ = soundfile.read(path, samplerate=WUW_RATE, channels=1, format="RAW", subtype="ULAW", dtype="float32")
    return torch.from_numpy(audio)


def talk_pieces(utterance: CallUtterance, rate: int, keywords: tuple[str, ...]) -> list[torch.Tensor]:
    """An utterance as other speech for training: pieces (T,) at `rate` of at most PIECE_S. None of an utterance
    that says one of `keywords`; of a sentence ending in an untrained word, only the talk before it."""
    if set(utterance.words) & set(keywords):
        return []
    wave = torchaudio.functional.resample(load_call(utterance.path), WUW_RATE, rate)
    if utterance.keyword in UNTRAINED_WORDS:
        wave = wave[: int(utterance.keyword_start_s * rate)]
    size = int(PIECE_S * rate)
    return [wave[i : i + size] for i in range(0, len(wave), size) if len(wave) - i >= MIN_PIECE_S * rate]
