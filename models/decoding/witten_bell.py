"""Offline: word n-grams counted over sentences with Witten-Bell smoothing, written out as a backoff ARPA file.

The server never counts: it loads the ARPA file (`rnnvoice lm` writes it into models/weights/).
"""

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

__all__ = ["WittenBellNgrams"]


class WittenBellNgrams:
    """Word n-grams with interpolated Witten-Bell smoothing: each context backs off to a shorter one in
    proportion to how many different words follow it, so a slot (any city after "in") stays open while
    fixed phrases stay fixed."""

    def __init__(self, sentences: Iterable[str], order: int = 4):
        self.order = order
        self.counts: dict[tuple[str, ...], Counter] = defaultdict(Counter)  # context -> following words
        for sentence in sentences:
            words = ["<s>", *sentence.split(), "</s>"]
            for i in range(1, len(words)):
                for n in range(min(order, i + 1)):
                    self.counts[tuple(words[i - n : i])][words[i]] += 1
        self.totals = {context: sum(c.values()) for context, c in self.counts.items()}

    @property
    def vocabulary(self) -> set[str]:
        return set(self.counts[()]) - {"</s>"}

    def unseen_prob(self) -> float:
        """The unigram probability of any word never counted (ARPA's <unk>)."""
        return 1 / (self.totals[()] + len(self.counts[()]) + 1)

    def log_prob(self, history: tuple[str, ...], word: str) -> float:
        """log P(word | the last order - 1 words of history); any word, a hint's say, keeps some probability."""
        unigrams = self.counts[()]
        p = (unigrams[word] + 1) * self.unseen_prob()
        for n in range(1, self.order):
            context = history[-n:]
            if len(history) < n or context not in self.totals:
                break
            p = (self.counts[context][word] + self._open(context) * p) / (self.totals[context] + self._open(context))
        return math.log(p)

    def _open(self, context: tuple[str, ...]) -> int:
        return len(self.counts[context])

    def backoff(self, context: tuple[str, ...]) -> float:
        """The weight of the shorter context for words never seen after this one: interpolated Witten-Bell
        gives every word the same share of it, seen or not, so the backoff form is exact."""
        return self._open(context) / (self.totals[context] + self._open(context))

    def write_arpa(self, path: Path) -> dict[int, int]:
        """Writes the model as a standard backoff ARPA file (log10); returns the n-grams of each order."""
        sections: dict[int, list[str]] = defaultdict(list)

        def line(ngram: tuple[str, ...], log10_prob: float) -> str:
            has_backoff = len(ngram) < self.order and ngram in self.totals
            backoff = f"\t{math.log10(self.backoff(ngram)):.7f}" if has_backoff else ""
            return f"{log10_prob:.7f}\t{' '.join(ngram)}{backoff}"

        sections[1] += [
            line(("<unk>",), math.log10(self.unseen_prob())),
            line(("<s>",), -99.0),
        ]  # <s> is only ever a context
        for context in sorted(self.counts, key=lambda c: (len(c), c)):
            for word in sorted(self.counts[context]):
                sections[len(context) + 1].append(line((*context, word), self.log_prob(context, word) / math.log(10)))
        with open(path, "w") as f:
            f.write("\\data\\\n" + "".join(f"ngram {n}={len(sections[n])}\n" for n in sorted(sections)))
            for n in sorted(sections):
                f.write(f"\n\\{n}-grams:\n" + "\n".join(sections[n]) + "\n")
            f.write("\n\\end\\\n")
        return {n: len(lines) for n, lines in sorted(sections.items())}
