"""Streaming CTC decoding on made-up posteriors: text, word times, chunking and phrase hints."""

import numpy as np
import pytest

from rnnvoice.models.decoding.ctc import FLASHLIGHT_TOKENS, GreedyDecoder, LexiconDecoder, beam_search, spelling
from rnnvoice.models.decoding.language_model import DomainLanguageModel
from rnnvoice.models.nets.speech_recognizer import TOKENS, encode_text
from rnnvoice.models.nlu.intents import CITIES
from tests.models.test_language_model import kenlm_log_prob as log_prob

V = len(TOKENS)


def spelled(text: str, confident: float = -0.05, rest: float = -8.0, hold: int = 2) -> np.ndarray:
    """Log-probs that hold each character `hold` steps, then a blank."""
    rows = []
    for token in encode_text(text):
        for t in [token] * hold + [0]:
            row = np.full(V, rest)
            row[t] = confident
            rows.append(row)
    return np.array(rows)


def feed(decoder, log_probs: np.ndarray, sizes: list[int]):
    start, i = 0, 0
    while start < len(log_probs):
        n = sizes[i % len(sizes)]
        decoder.accept(log_probs[start : start + n], start)
        start, i = start + n, i + 1
    return decoder.final()


def test_greedy_and_beam_read_clear_speech_with_word_times():
    lp = spelled("call mom")
    for decoder in (GreedyDecoder(), LexiconDecoder()):
        best = feed(decoder, lp, [len(lp)])
        assert best.text == "call mom"
        words = best.words()
        assert [w.text for w in words] == ["call", "mom"]
        assert words[0].start_step == 0 and words[1].start_step == 15 and words[1].end_step in (21, 22)
        assert best.confidence > 0.9


def test_chunking_does_not_change_the_decoding():
    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet(np.ones(V) * 0.3, size=120))
    for make in (GreedyDecoder, LexiconDecoder, lambda: LexiconDecoder(hints=["turn on the lights"])):
        whole = feed(make(), lp, [len(lp)])
        for sizes in ([1], [7, 3], [50]):
            assert feed(make(), lp, sizes) == whole


def test_the_lexicon_and_language_model_mend_a_misspelling():
    # The acoustics lean to "call mon"; no such word exists in the domain.
    lp = spelled("call mom")
    last_m = [i for i in range(len(lp)) if np.argmax(lp[i]) == TOKENS.index("m")][-2:]
    for i in last_m:
        lp[i, TOKENS.index("n")], lp[i, TOKENS.index("m")] = -0.4, -1.2
    assert feed(GreedyDecoder(), lp, [len(lp)]).text == "call mon"
    assert feed(LexiconDecoder(), lp, [len(lp)]).text == "call mom"


def test_phrase_hints_bring_in_words_and_tip_an_ambiguous_phrase():
    # "call tom" or "call mom": the acoustics lean slightly to tom, a name the domain does not know.
    lp = spelled("call mom")
    first_m = [i for i in range(len(lp)) if np.argmax(lp[i]) == TOKENS.index("m")][:2]
    for i in first_m:
        lp[i, TOKENS.index("t")], lp[i, TOKENS.index("m")] = -0.6, -0.8
    assert feed(LexiconDecoder(), lp, [len(lp)]).text == "call mom"
    assert feed(LexiconDecoder(python=True), lp, [len(lp)]).text == "call mom"
    assert feed(LexiconDecoder(hints=["call tom"]), lp, [len(lp)]).text == "call tom"


def test_kenlm_and_the_python_language_model_decode_alike():
    """Streams without hints score in KenLM, streams with hints in Python: same n-grams, same results."""
    rng = np.random.default_rng(1)
    for _ in range(5):
        lp = np.log(rng.dirichlet(np.ones(V) * 0.3, size=80))
        decoders = LexiconDecoder(), LexiconDecoder(python=True)
        kenlm, python = (feed(d, lp, [13]) for d in decoders)
        assert kenlm.text == python.text and kenlm.steps == python.steps
        # The whole score too, language model weight included (KenLM's log10 against Python's natural logs).
        scores = [max(h.score for h in d.decoder.get_all_final_hypothesis()) for d in decoders]
        assert scores[0] == pytest.approx(scores[1], rel=1e-5)


def test_domain_ngrams_prefer_what_people_say():
    vocabulary = set(beam_search().words)
    assert {"turn", "kitchen", "timer", "seven", "weather"} <= vocabulary
    assert log_prob(("<s>", "turn"), "on") > log_prob(("<s>", "turn"), "timer") + 10
    # Longer contexts count: after "set an" comes "alarm", after "for an" "hour".
    assert log_prob(("set", "an"), "alarm") > log_prob(("for", "an"), "alarm") + 5
    assert log_prob(("for", "an"), "hour") > log_prob(("set", "an"), "hour") + 5
    # A slot stays open: every one-word city is a likely word after "rain in".
    cities = [c for c in CITIES if " " not in c]
    assert min(log_prob(("it", "rain", "in"), c) for c in cities) > np.log(0.2 / len(cities))
    assert log_prob(("<s>",), "<unk>") > -30  # unseen words keep some probability
    assert sum(np.exp(log_prob(("set", "a"), w)) for w in vocabulary | {"</s>"}) == pytest.approx(1.0, abs=0.01)


def test_spelling_lookahead_is_unigrams_not_first_words():
    """The lexicon trie's scores are the lookahead while a word is spelled: unigrams there, so a word that
    rarely starts a command is not penalised in the middle of one. Decoding starts after <s>."""
    search = beam_search()
    ten = search.words.index("ten")
    assert log_prob(("<s>",), "ten") < log_prob((), "ten") - 5
    # The trie holds the unigram (KenLM's log10), a decoding's start the first-word probability.
    node = search.trie.search([FLASHLIGHT_TOKENS.index(t) for t in spelling("ten")])
    assert list(node.labels) == [ten]
    assert node.scores[0] * np.log(10) == pytest.approx(log_prob((), "ten"), abs=1e-4)
    # The Python model (streams with hints) alike.
    lm = DomainLanguageModel([*search.words, "<unk>"], search.kenlm, search.words, [], 0.0)
    assert lm.score(lm.start(True), ten)[1] == pytest.approx(log_prob((), "ten"))
    assert lm.score(lm.start(False), ten)[1] == pytest.approx(log_prob(("<s>",), "ten"))
