"""The beam search's word language model: n-grams of the voice-assistant domain, and phrase hints."""

import functools
import math
import random
from collections import Counter, defaultdict

from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState

# Training data in the server: the n-grams are counted over generated sentences at start-up (to move offline).
from rnnvoice.models.data.sentences import generate_command

__all__ = ["DomainLanguageModel", "DomainNgrams", "domain_ngrams"]


class DomainNgrams:
    """Word n-grams of the voice-assistant domain, counted over the sentence generator's commands, with
    Witten-Bell smoothing: each context backs off to a shorter one in proportion to how many different
    words follow it, so a slot (any city after "in") stays open while fixed phrases stay fixed."""

    def __init__(self, order: int = 4, sentences: int = 60000, seed: int = 0):
        rng = random.Random(seed)
        self.order = order
        self.counts: dict[tuple[str, ...], Counter] = defaultdict(Counter)  # context -> following words
        for _ in range(sentences):
            words = ["<s>", *generate_command(rng)[0].split(), "</s>"]
            for i in range(1, len(words)):
                for n in range(min(order, i + 1)):
                    self.counts[tuple(words[i - n : i])][words[i]] += 1
        self.totals = {context: sum(c.values()) for context, c in self.counts.items()}

    @property
    def vocabulary(self) -> set[str]:
        return set(self.counts[()]) - {"</s>"}

    # The beam asks the same few thousand (history, word) pairs over and over; the bound keeps a
    # long-running server's memory flat (about 16 MB) whatever hint words its streams bring.
    @functools.lru_cache(maxsize=1 << 16)
    def log_prob(self, history: tuple[str, ...], word: str) -> float:
        """log P(word | the last order - 1 words of history); any word, a hint's say, keeps some probability."""
        unigrams = self.counts[()]
        p = (unigrams[word] + 1) / (self.totals[()] + len(unigrams) + 1)
        for n in range(1, self.order):
            context = history[-n:]
            if len(history) < n or context not in self.totals:
                break
            followers, seen = self.counts[context], self.totals[context]
            p = (followers[word] + len(followers) * p) / (seen + len(followers))
        return math.log(p)


@functools.lru_cache(maxsize=1)
def domain_ngrams() -> DomainNgrams:
    return DomainNgrams()


class DomainLanguageModel(CTCDecoderLM):
    """The decoder's word language model: domain n-grams, and a bonus for every hint phrase decoded whole."""

    def __init__(self, words: list[str], ngrams: DomainNgrams, hints: list[tuple[str, ...]], boost: float):
        super().__init__()
        self.words, self.ngrams, self.hints, self.boost = words, ngrams, hints, boost
        # A hint's words are as likely as an average domain word, even those the domain never says.
        self.floor = {w: -math.log(len(words)) for phrase in hints for w in phrase}
        # id(state) -> (state, the last words, the hint phrases it is part way through as (hint, words matched)).
        # Keyed by identity: flashlight's states compare equal across different histories. Holding the
        # state keeps its id from being reused.
        self.context: dict | None = None

    def start(self, start_with_nothing: bool):
        state = CTCDecoderLMState()
        # torchaudio's first start builds the lexicon trie, whose scores are the lookahead while a word is
        # spelled: unigrams there, for with first-word probabilities a word rare at the start of a command
        # ("ten", "a") would drop out of the beam before it is finished.
        history = ("<s>",) if self.context is not None else ()
        self.context = {id(state): (state, history, ())}
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
