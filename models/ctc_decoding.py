"""Streaming CTC decoding: best path, and a prefix beam search that can be biased toward phrases.

Both take per-step log-probabilities (S, V) in chunks of any size and keep when each
character was emitted, so words get times on the stream's clock.
"""

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from rnnvoice.models.asr_model import BLANK, INDEX, TOKENS, normalise

SPACE = INDEX[" "]
NEG_INF = -math.inf


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


class PhraseTrie:
    """Character prefixes of hint phrases; a beam earns `boost` per character while it follows one."""

    END = "$"

    def __init__(self, phrases: list[str], boost: float):
        self.root: dict = {}
        self.boost = boost
        for phrase in phrases:
            node = self.root
            for ch in normalise(phrase):
                node = node.setdefault(ch, {})
            node[self.END] = True

    def bonus(self, text: str) -> float:
        """Bonus of a decoded text: whole hint phrases it holds, plus the one it is in the middle of."""
        total, node, matched, at_boundary = 0.0, None, 0, True
        for ch in text:
            if node is not None and ch in node:
                node, matched = node[ch], matched + 1
                if self.END in node and (ch != " "):
                    total += self.boost * matched  # a whole phrase: the bonus is kept
                    node, matched = (node if len(node) > 1 else None), 0
                continue
            node, matched = None, 0
            if at_boundary and ch in self.root:
                node, matched = self.root[ch], 1
            at_boundary = ch == " "
        return total + self.boost * matched


class BeamDecoder:
    """CTC prefix beam search, step by step; `hints` bias it toward phrases a stream expects."""

    def __init__(self, beam_width: int = 8, hints: list[str] | None = None, boost: float = 1.5,
                 token_floor: float = -12.0):
        self.beam_width = beam_width
        self.token_floor = token_floor
        self.trie = PhraseTrie(hints, boost) if hints else None
        # prefix -> (log p ending in blank, log p ending in its last token).
        self.beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
        # prefix -> (step of each character, its probability, log p of the path that placed the last one):
        # a character's time is where the likeliest path emitted it.
        self.emitted: dict[tuple[int, ...], tuple[tuple[int, ...], tuple[float, ...], float]] = {(): ((), (), 0.0)}
        self.biases: dict[tuple[int, ...], float] = {}

    def _bias(self, prefix: tuple[int, ...]) -> float:
        if self.trie is None:
            return 0.0
        if prefix not in self.biases:
            self.biases[prefix] = self.trie.bonus("".join(TOKENS[t] for t in prefix))
        return self.biases[prefix]

    def accept(self, log_probs: np.ndarray, first_step: int) -> None:
        blank = INDEX[BLANK]
        for i, row in enumerate(log_probs):
            step = first_step + i
            candidates = [int(t) for t in np.nonzero(row > self.token_floor)[0] if t != blank]
            following = defaultdict(lambda: [NEG_INF, NEG_INF])
            for prefix, (pb, pnb) in self.beams.items():
                total = np.logaddexp(pb, pnb)
                entry = following[prefix]
                entry[0] = np.logaddexp(entry[0], total + row[blank])
                last = prefix[-1] if prefix else None
                for token in candidates:
                    if token == SPACE and (last is None or last == SPACE):
                        continue
                    p = row[token]
                    extended = prefix + (token,)
                    path = (pb if token == last else total) + p
                    if token == last:
                        entry[1] = np.logaddexp(entry[1], pnb + p)  # the same character held
                    following[extended][1] = np.logaddexp(following[extended][1], path)
                    if extended not in self.emitted or path > self.emitted[extended][2]:
                        steps, probs, _ = self.emitted[prefix]
                        self.emitted[extended] = (steps + (step,), probs + (float(np.exp(p)),), path)
            ranked = sorted(following.items(), key=lambda kv: np.logaddexp(*kv[1]) + self._bias(kv[0]), reverse=True)
            self.beams = {prefix: tuple(scores) for prefix, scores in ranked[: self.beam_width]}
            self.emitted = {prefix: self.emitted[prefix] for prefix in self.beams}
            self.biases = {prefix: b for prefix, b in self.biases.items() if prefix in self.beams}

    @property
    def best(self) -> Hypothesis:
        prefix = max(self.beams, key=lambda p: np.logaddexp(*self.beams[p]) + self._bias(p))
        steps, probs, _ = self.emitted[prefix]
        return Hypothesis(prefix, steps, probs)


def make_decoder(kind: str = "beam", hints: list[str] | None = None):
    if kind == "greedy":
        return GreedyDecoder()
    if kind == "beam":
        return BeamDecoder(hints=hints)
    raise ValueError(f"unknown decoder {kind!r}; use greedy or beam")
