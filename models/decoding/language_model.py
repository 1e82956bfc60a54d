"""The beam search's word language model in Python, for streams with phrase hints: the domain's n-grams,
read from the shipped backoff ARPA file, and a bonus for every hint phrase decoded whole."""

import functools
import math
from pathlib import Path

from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState

__all__ = ["BackoffNgrams", "DomainLanguageModel"]

LN10 = math.log(10)


class BackoffNgrams:
    """A backoff n-gram model read from an ARPA file; scores as KenLM does, in natural logs."""

    def __init__(self, path: Path):
        self.entries: dict[tuple[str, ...], tuple[float, float]] = {}  # n-gram -> (log10 prob, log10 backoff)
        order = 0
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("\\") and line.endswith("-grams:"):
                    order = int(line[1:].split("-")[0])
                elif line and order and not line.startswith("\\"):
                    prob, ngram, *backoff = line.split("\t")
                    self.entries[tuple(ngram.split())] = (float(prob), float(backoff[0]) if backoff else 0.0)
        self.order = order

    @property
    def vocabulary(self) -> set[str]:
        return {ngram[0] for ngram in self.entries if len(ngram) == 1} - {"<s>", "</s>", "<unk>"}

    # The beam asks the same few thousand (history, word) pairs over and over; the bound keeps a
    # long-running server's memory flat (about 16 MB) whatever hint words its streams bring.
    @functools.lru_cache(maxsize=1 << 16)
    def log_prob(self, history: tuple[str, ...], word: str) -> float:
        """log P(word | the last order - 1 words of history); a word the domain never says scores as <unk>."""
        context, backoff = history[max(0, len(history) - self.order + 1) :], 0.0
        while True:
            entry = self.entries.get((*context, word))
            if entry is not None:
                return (backoff + entry[0]) * LN10
            if not context:
                return (backoff + self.entries[("<unk>",)][0]) * LN10
            backoff += self.entries.get(context, (0.0, 0.0))[1]
            context = context[1:]


class DomainLanguageModel(CTCDecoderLM):
    """The decoder's word language model: domain n-grams, and a bonus for every hint phrase decoded whole."""

    def __init__(self, words: list[str], ngrams: BackoffNgrams, hints: list[tuple[str, ...]], boost: float):
        super().__init__()
        self.words, self.ngrams, self.hints, self.boost = words, ngrams, hints, boost
        # A hint's words are as likely as an average domain word, even those the domain never says.
        self.floor = {w: -math.log(len(words)) for phrase in hints for w in phrase}
        # id(state) -> (state, the last words, the hint phrases it is part way through as (hint, words matched)).
        # Keyed by identity: flashlight's states compare equal across different histories. Holding the
        # state keeps its id from being reused.
        self.context: dict = {}

    def start(self, start_with_nothing: bool):
        """A decoding starts a command (after <s>); the lexicon trie's lookahead starts with nothing (unigrams)."""
        state = CTCDecoderLMState()
        self.context = {id(state): (state, () if start_with_nothing else ("<s>",), ())}
        return state

    def score(self, state, usr_token_idx: int):
        word = self.words[usr_token_idx]
        child = state.child(usr_token_idx)
        _, history, partial = self.context[id(state)]
        bonus, following = 0.0, []
        for hint, matched in partial + tuple((h, 0) for h in range(len(self.hints))):
            phrase = self.hints[hint]
            if phrase[matched] == word:
                if matched + 1 == len(phrase):
                    bonus += self.boost * len(phrase)
                else:
                    following.append((hint, matched + 1))
        self.context[id(child)] = (child, (*history, word)[1 - self.ngrams.order :], tuple(following))
        return child, max(self.ngrams.log_prob(history, word), self.floor.get(word, -math.inf)) + bonus

    def finish(self, state):
        _, history, _ = self.context[id(state)]
        return state.child(-1), self.ngrams.log_prob(history, "</s>")
