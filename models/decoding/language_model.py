"""The beam search's word language model for streams with phrase hints: the domain's n-grams, scored by KenLM
from the shipped backoff ARPA file, and a bonus for every hint phrase decoded whole."""

import math

from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState

__all__ = ["DomainLanguageModel"]

LN10 = math.log(10)


class DomainLanguageModel(CTCDecoderLM):
    """The decoder's word language model: domain n-grams, and a bonus for every hint phrase decoded whole.

    kenlm: flashlight's KenLM over the domain's words (`domain`, in its dictionary's order, then <unk>); a word
    of `words` the domain never says is scored as <unk>. Scores are natural logs."""

    def __init__(self, words: list[str], kenlm, domain: list[str], hints: list[tuple[str, ...]], boost: float):
        super().__init__()
        self.words, self.kenlm, self.hints, self.boost = words, kenlm, hints, boost
        index = {w: i for i, w in enumerate(domain)}
        self.kenlm_index = [index.get(w, len(domain)) for w in words]
        # A hint's words are as likely as an average domain word, even those the domain never says.
        self.floor = {w: -math.log(len(words)) for phrase in hints for w in phrase}
        # id(state) -> (state, its KenLM state, the hint phrases it is part way through as (hint, words matched)).
        # Keyed by identity: flashlight's states compare equal across different histories. Holding the
        # state keeps its id from being reused.
        self.context: dict = {}

    def start(self, start_with_nothing: bool):
        """A decoding starts a command (after <s>); the lexicon trie's lookahead starts with nothing (unigrams)."""
        state = CTCDecoderLMState()
        self.context = {id(state): (state, self.kenlm.start(start_with_nothing), ())}
        return state

    def score(self, state, usr_token_idx: int):
        word = self.words[usr_token_idx]
        child = state.child(usr_token_idx)
        _, kenlm_state, partial = self.context[id(state)]
        kenlm_child, log10_prob = self.kenlm.score(kenlm_state, self.kenlm_index[usr_token_idx])
        bonus, following = 0.0, []
        for hint, matched in partial + tuple((h, 0) for h in range(len(self.hints))):
            phrase = self.hints[hint]
            if phrase[matched] == word:
                if matched + 1 == len(phrase):
                    bonus += self.boost * len(phrase)
                else:
                    following.append((hint, matched + 1))
        self.context[id(child)] = (child, kenlm_child, tuple(following))
        return child, max(log10_prob * LN10, self.floor.get(word, -math.inf)) + bonus

    def finish(self, state):
        _, kenlm_state, _ = self.context[id(state)]
        return state.child(-1), self.kenlm.finish(kenlm_state)[1] * LN10
