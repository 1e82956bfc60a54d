"""Streaming CTC decoding: best path, or torchaudio's lexicon beam search with the domain's language
model, which phrase hints can bias.

Both take per-step log-probabilities (S, V) in chunks of any size and keep when each
character was emitted, so words get times on the stream's clock.
"""

import functools
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchaudio.models.decoder import ctc_decoder

from rnnvoice.models.decoding.language_model import DomainLanguageModel, domain_ngrams
from rnnvoice.models.nets.speech_recognizer import BLANK, INDEX, TOKENS, normalise

SPACE = INDEX[" "]


@dataclass(frozen=True)
class Word:
    text: str
    start_step: int
    end_step: int  # the last step of its last character


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
        words, chars, first = [], [], None
        for token, step in zip(self.tokens + (SPACE,), self.steps + (-1,)):
            if token == SPACE:
                if chars:
                    words.append(Word("".join(chars), first, last))
                chars, first = [], None
            else:
                chars.append(TOKENS[token])
                first = step if first is None else first
                last = step
        return words


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


@dataclass(frozen=True)
class DecoderConfig:
    """Weights chosen on new commands in training voices (never on held-out voices or speakers)."""

    beam_size: int = 32
    lm_weight: float = 0.7
    word_score: float = 2.0
    # Added per word of a hint phrase, once the whole phrase is decoded.
    hint_boost: float = 3.0


@functools.lru_cache(maxsize=64)
def lexicon_files(words: tuple[str, ...]) -> tuple[str, str]:
    """flashlight's lexicon (word, its letters, the word separator) and word list for these words, written
    once. The word list fixes the word indices the language model is asked about."""
    digest = hashlib.sha1(" ".join(words).encode()).hexdigest()[:16]
    lexicon = Path(tempfile.gettempdir()) / f"rnnvoice-lexicon-{digest}.txt"
    dictionary = lexicon.with_suffix(".words")
    if not dictionary.exists():
        lexicon.write_text("".join(f"{w} {' '.join(w)} |\n" for w in words))
        dictionary.write_text("".join(f"{w}\n" for w in (*words, "<unk>")))
    return str(lexicon), str(dictionary)


# torchaudio's names for our tokens: the blank, and "|" between words.
FLASHLIGHT_TOKENS = [BLANK, "|", *TOKENS[2:]]


class LexiconDecoder:
    """torchaudio's CTC beam search over the domain's words (and any hint's), with its language model."""

    def __init__(self, hints: list[str] | None = None, config: DecoderConfig = DecoderConfig()):
        ngrams = domain_ngrams()
        phrases = [tuple(normalise(h).split()) for h in hints or () if normalise(h)]
        words = tuple(sorted(ngrams.vocabulary | {w for p in phrases for w in p}))
        self.lm = DomainLanguageModel([*words, "<unk>"], ngrams, phrases, config.hint_boost)
        lexicon, dictionary = lexicon_files(words)
        self.decoder = ctc_decoder(lexicon=lexicon, tokens=FLASHLIGHT_TOKENS, lm=self.lm, lm_dict=dictionary,
                                   beam_size=config.beam_size, nbest=config.beam_size, lm_weight=config.lm_weight,
                                   word_score=config.word_score, blank_token=BLANK, sil_token="|",
                                   unk_word="<unk>")
        self.decoder.decode_begin()
        self.first_step = None
        self.log_probs = np.zeros((0, len(TOKENS)))

    def accept(self, log_probs: np.ndarray, first_step: int) -> None:
        if self.first_step is None:
            self.first_step = first_step
        self.log_probs = np.concatenate([self.log_probs, log_probs])
        self.decoder.decode_step(torch.from_numpy(log_probs.astype(np.float32)).contiguous())

    @property
    def best(self) -> Hypothesis:
        """The best hypothesis so far; its last word may still be unfinished."""
        found = self.decoder.get_final_hypothesis() if self.first_step is not None else []
        # Between steps flashlight keeps its beam unsorted (so nbest is the whole beam): the best is the
        # highest score, not the first.
        return self._hypothesis(max(found, key=lambda h: h.score)) if found else Hypothesis()

    def final(self) -> Hypothesis:
        """Finishes the utterance (its last word too) and returns its result; the decoder is done after it."""
        if self.first_step is None:
            return Hypothesis()
        # The end of an utterance is the end of a word: one certain separator completes a last word
        # that was spelled out but not followed by a space, and drops hypotheses left inside a word.
        boundary = np.full((1, len(TOKENS)), -1e4, np.float32)
        boundary[0, SPACE] = 0.0
        self.decoder.decode_step(torch.from_numpy(boundary))
        self.decoder.decode_end()
        return self.best

    def _hypothesis(self, found) -> Hypothesis:
        tokens, steps, probs = [], [], []
        # flashlight counts a start frame before the first step.
        for token, t in zip(found.tokens.tolist(), (found.timesteps - 1).tolist()):
            if token == SPACE and (not tokens or tokens[-1] == SPACE):
                continue
            tokens.append(token)
            steps.append(self.first_step + t)
            probs.append(float(np.exp(self.log_probs[min(max(t, 0), len(self.log_probs) - 1), token])))
        while tokens and tokens[-1] == SPACE:
            tokens.pop(), steps.pop(), probs.pop()
        return Hypothesis(tuple(tokens), tuple(steps), tuple(probs))


def make_decoder(kind: str = "beam", hints: list[str] | None = None):
    if kind == "greedy":
        return GreedyDecoder()
    if kind == "beam":
        return LexiconDecoder(hints)
    raise ValueError(f"unknown decoder {kind!r}; use greedy or beam")
