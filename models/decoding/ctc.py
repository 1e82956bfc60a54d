"""Streaming CTC decoding: best path, or flashlight's lexicon beam search with the domain's language
model (shipped in models/weights/, made by `rnnvoice lm`), which phrase hints can bias.

Both take per-step log-probabilities (S, V) in chunks of any size and keep when each
character was emitted, so words get times on the stream's clock.
"""

import functools
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from flashlight.lib.text.decoder import CriterionType, LexiconDecoderOptions, SmearingMode, Trie
from flashlight.lib.text.decoder import LexiconDecoder as FlashlightDecoder
from flashlight.lib.text.decoder.kenlm import KenLM
from flashlight.lib.text.dictionary import Dictionary

from rnnvoice.models.decoding.language_model import DomainLanguageModel
from rnnvoice.models.nets.speech_recognizer import BLANK, INDEX, TOKENS, normalise
from rnnvoice.models.types import Decoder
from rnnvoice.models.weights import WEIGHTS

SPACE = INDEX[" "]


@dataclass(frozen=True)
class Word:
    text: str
    start_step: int
    end_step: int  # the last step of its last character
    confidence: float = 0.0  # the lowest probability of its characters


@dataclass(frozen=True)
class Hypothesis:
    """Decoded text with, for each character, the step that emitted it and its probability."""

    tokens: tuple[int, ...] = ()
    steps: tuple[int, ...] = ()
    probs: tuple[float, ...] = ()

    @property
    def text(self) -> str:
        return "".join(TOKENS[t] for t in self.tokens).strip()

    @property
    def confidence(self) -> float:
        return float(np.mean(self.probs)) if self.probs else 0.0

    def words(self) -> list[Word]:
        words, chars, probs, first, last = [], [], [], None, None
        for token, step, prob in zip(self.tokens + (SPACE,), self.steps + (-1,), self.probs + (1.0,)):
            if token == SPACE:
                if chars:
                    words.append(Word("".join(chars), first, last, min(probs)))
                chars, probs, first = [], [], None
            else:
                chars.append(TOKENS[token])
                probs.append(prob)
                first = step if first is None else first
                last = step
        return words


@dataclass(frozen=True)
class Alternative:
    hypothesis: Hypothesis
    score: float  # the beam's log score
    confidence: float  # its posterior among the alternatives


def alternatives(scored: list[tuple[Hypothesis, float]], limit: int) -> list[Alternative]:
    """The best `limit` distinct texts of a beam's hypotheses, best first, with their posteriors among them (a
    text's best path stands for it: paths of one text differ only in timing)."""
    best: dict[str, tuple[Hypothesis, float]] = {}
    for hypothesis, score in sorted(scored, key=lambda x: -x[1]):
        best.setdefault(hypothesis.text, (hypothesis, score))
    ranked = list(best.values())[:limit]
    if not ranked:
        return []
    scores = np.array([score for _, score in ranked])
    posteriors = np.exp(scores - scores.max())
    posteriors /= posteriors.sum()
    return [Alternative(h, s, float(p)) for (h, s), p in zip(ranked, posteriors)]


def word_confidences(ranked: list[Alternative]) -> list[float]:
    """For each word of the first alternative, the posterior of the alternatives that have the same word at an
    overlapping time."""
    words = [a.hypothesis.words() for a in ranked]
    return (
        [
            sum(
                a.confidence
                for a, others in zip(ranked, words)
                if any(o.text == w.text and o.start_step <= w.end_step and w.start_step <= o.end_step for o in others)
            )
            for w in words[0]
        ]
        if ranked
        else []
    )


class GreedyDecoder:
    """The most probable token at each step, repeats collapsed and blanks dropped."""

    def __init__(self):
        self.previous = INDEX[BLANK]
        self.best = Hypothesis()

    def accept(self, log_probs: np.ndarray, first_step: int) -> None:
        ids = log_probs.argmax(axis=1)
        tokens, steps, probs = list(self.best.tokens), list(self.best.steps), list(self.best.probs)
        for i, token in enumerate(ids):
            if token != self.previous and token != INDEX[BLANK]:
                if not (token == SPACE and (not tokens or tokens[-1] == SPACE)):
                    tokens.append(int(token))
                    steps.append(first_step + i)
                    probs.append(float(np.exp(log_probs[i, token])))
            self.previous = int(token)
        self.best = Hypothesis(tuple(tokens), tuple(steps), tuple(probs))

    def final(self) -> Hypothesis:
        """The utterance's result; the decoder is done after it."""
        return self.best

    def scored(self) -> list[tuple[Hypothesis, float]]:
        """No beam, no alternatives."""
        return []


@dataclass(frozen=True)
class DecoderConfig:
    """Weights chosen on new commands in training voices (never on held-out voices or speakers); shipped in
    models/weights/transcription_decoder.json beside the language model."""

    beam_size: int = 32
    lm_weight: float = 0.7  # per natural-log unit of language model score
    word_score: float = 2.0
    # Added per word of a hint phrase, once the whole phrase is decoded.
    hint_boost: float = 3.0

    @classmethod
    def load(cls, path: Path) -> "DecoderConfig":
        settings = json.loads(Path(path).read_text())
        return cls(**{f.name: settings[f.name] for f in fields(cls)})


# flashlight's names for our tokens: the blank, and "|" between words (same indices as ours).
FLASHLIGHT_TOKENS = [BLANK, "|", *TOKENS[2:]]
LM_FILE, LEXICON_FILE, DECODER_FILE = "transcription_lm.arpa", "transcription_lexicon.txt", "transcription_decoder.json"


def spelling(word: str) -> list[str]:
    """A word as the trie spells it: its letters, then the word separator."""
    return [*word, "|"]


def write_lexicon(words: list[str], path: Path) -> None:
    """flashlight's lexicon format: a word, then its spelling."""
    Path(path).write_text("".join(f"{w}\t{' '.join(spelling(w))}\n" for w in words))


def read_lexicon(path: Path) -> list[str]:
    """The words of a lexicon that write_lexicon wrote, in order."""
    return [line.split("\t")[0] for line in Path(path).read_text().splitlines()]


def build_trie(words: list[str], lm) -> Trie:
    """The lexicon trie over the words (indices as listed), scored by the language model."""
    trie = Trie(len(FLASHLIGHT_TOKENS), SPACE)
    # The trie's scores are the lookahead while a word is spelled: unigrams (a start with nothing before
    # it), not first-word probabilities, for with those a word rare at the start of a command ("ten", "a")
    # drops out of the beam before it is finished. (torchaudio's ctc_decoder scores it after <s>.)
    start = lm.start(True)
    for index, word in enumerate(words):
        trie.insert([FLASHLIGHT_TOKENS.index(t) for t in spelling(word)], index, lm.score(start, index)[1])
    trie.smear(SmearingMode.MAX)
    return trie


class BeamSearch:
    """What every stream's beam search shares, loaded once from the shipped files: the settings, the lexicon,
    and the domain's n-grams in KenLM (C++) with their trie."""

    def __init__(self, folder: Path = WEIGHTS):
        self.config = DecoderConfig.load(folder / DECODER_FILE)
        self.words = read_lexicon(folder / LEXICON_FILE)
        self.kenlm = KenLM(str(folder / LM_FILE), Dictionary([*self.words, "<unk>"]))
        self.trie = build_trie(self.words, self.kenlm)

    def options(self, lm_weight: float) -> LexiconDecoderOptions:
        c = self.config
        return LexiconDecoderOptions(
            beam_size=c.beam_size,
            beam_size_token=len(FLASHLIGHT_TOKENS),
            beam_threshold=50.0,
            lm_weight=lm_weight,
            word_score=c.word_score,
            unk_score=-math.inf,
            sil_score=0.0,
            log_add=False,
            criterion_type=CriterionType.CTC,
        )

    def decoder(self, phrases: list[tuple[str, ...]], python: bool = False) -> tuple[FlashlightDecoder, object, Trie]:
        """A fresh flashlight decoder with its language model and trie (kept alive beside it: flashlight holds
        them by reference). Without phrases KenLM scores alone, unless asked for the Python model that adds the
        hints' bonus (to compare them)."""
        if not phrases and not python:
            # KenLM scores in log10; the weight was chosen for natural logs.
            words, lm, trie, lm_weight = self.words, self.kenlm, self.trie, self.config.lm_weight * math.log(10)
        else:
            words = sorted(set(self.words) | {w for p in phrases for w in p})
            lm = DomainLanguageModel([*words, "<unk>"], self.kenlm, self.words, phrases, self.config.hint_boost)
            trie, lm_weight = build_trie(words, lm), self.config.lm_weight
        unknown = len(words)  # <unk> follows the words
        return FlashlightDecoder(self.options(lm_weight), trie, lm, SPACE, INDEX[BLANK], unknown, [], False), lm, trie


@functools.lru_cache(maxsize=1)
def beam_search() -> BeamSearch:
    return BeamSearch()


class LexiconDecoder:
    """flashlight's CTC beam search over the domain's words (and any hint's), with its language model: KenLM,
    called from Python for a stream with phrase hints, which adds the hints' bonus."""

    def __init__(self, hints: list[str] | None = None, python: bool = False):
        phrases = [tuple(normalise(h).split()) for h in hints or () if normalise(h)]
        self.decoder, self.lm, self.trie = beam_search().decoder(phrases, python)
        self.decoder.decode_begin()
        self.first_step = None
        self.log_probs = np.zeros((0, len(TOKENS)))

    def accept(self, log_probs: np.ndarray, first_step: int) -> None:
        if self.first_step is None:
            self.first_step = first_step
        self.log_probs = np.concatenate([self.log_probs, log_probs])
        self._step(log_probs)

    def _step(self, log_probs: np.ndarray) -> None:
        steps = np.ascontiguousarray(log_probs, dtype=np.float32)
        self.decoder.decode_step(steps.ctypes.data, len(steps), steps.shape[1])

    @property
    def best(self) -> Hypothesis:
        """The best hypothesis so far; its last word may still be unfinished."""
        found = self.decoder.get_all_final_hypothesis() if self.first_step is not None else []
        # Between steps flashlight keeps its beam unsorted: the best is the highest score, not the first.
        return self._hypothesis(max(found, key=lambda h: h.score)) if found else Hypothesis()

    def scored(self) -> list[tuple[Hypothesis, float]]:
        """Every hypothesis in the beam with its score (acoustic, language model and word scores)."""
        found = self.decoder.get_all_final_hypothesis() if self.first_step is not None else []
        return [(self._hypothesis(h), h.score) for h in found]

    def final(self) -> Hypothesis:
        """Finishes the utterance (its last word too) and returns its result; the decoder is done after it."""
        if self.first_step is None:
            return Hypothesis()
        # The end of an utterance is the end of a word: one certain separator completes a last word
        # that was spelled out but not followed by a space, and drops hypotheses left inside a word.
        boundary = np.full((1, len(TOKENS)), -1e4, np.float32)
        boundary[0, SPACE] = 0.0
        self._step(boundary)
        self.decoder.decode_end()
        return self.best

    def _hypothesis(self, found) -> Hypothesis:
        """The characters of flashlight's path (a token per step, after a start frame), repeats collapsed and
        blanks dropped, each at the step that first emitted it."""
        tokens, steps, probs = [], [], []
        path = found.tokens
        for i, token in enumerate(path):
            if token == INDEX[BLANK] or (i and token == path[i - 1]):
                continue
            t = i - 1  # the start frame
            if token == SPACE and (not tokens or tokens[-1] == SPACE):
                continue
            tokens.append(token)
            steps.append(self.first_step + t)
            probs.append(float(np.exp(self.log_probs[min(max(t, 0), len(self.log_probs) - 1), token])))
        while tokens and tokens[-1] == SPACE:
            tokens.pop(), steps.pop(), probs.pop()
        return Hypothesis(tuple(tokens), tuple(steps), tuple(probs))


def make_decoder(kind: Decoder = Decoder.BEAM, hints: list[str] | None = None):
    if kind == Decoder.GREEDY:
        return GreedyDecoder()
    if kind == Decoder.BEAM:
        return LexiconDecoder(hints)
    raise ValueError(f"unknown decoder {kind!r}; use {' or '.join(Decoder)}")
