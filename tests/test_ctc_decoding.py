"""Streaming CTC decoding on made-up posteriors: text, word times, chunking and phrase hints."""

import numpy as np

from rnnvoice.models.asr_model import TOKENS, encode_text
from rnnvoice.models.ctc_decoding import BeamDecoder, GreedyDecoder, PhraseTrie

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
    return decoder.best


def test_greedy_and_beam_read_clear_speech_with_word_times():
    lp = spelled("call mom")
    for decoder in (GreedyDecoder(), BeamDecoder()):
        best = feed(decoder, lp, [len(lp)])
        assert best.text == "call mom"
        words = best.words()
        assert [w.text for w in words] == ["call", "mom"]
        assert words[0].start_step == 0 and words[1].start_step == 15 and words[1].end_step == 21
        assert best.confidence > 0.9


def test_chunking_does_not_change_the_decoding():
    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet(np.ones(V) * 0.3, size=120))
    for make in (GreedyDecoder, lambda: BeamDecoder(hints=["turn on the lights"])):
        whole = feed(make(), lp, [len(lp)])
        for sizes in ([1], [7, 3], [50]):
            assert feed(make(), lp, sizes) == whole


def test_phrase_hints_tip_an_ambiguous_word():
    # "call mom" or "call tom": the acoustics lean slightly to tom.
    lp = spelled("call mom")
    m_rows = [i for i in range(len(lp)) if np.argmax(lp[i]) == TOKENS.index("m")][:2]
    for i in m_rows:
        lp[i, TOKENS.index("t")], lp[i, TOKENS.index("m")] = -0.6, -0.8
    assert feed(BeamDecoder(), lp, [len(lp)]).text == "call tom"
    assert feed(BeamDecoder(hints=["call mom"]), lp, [len(lp)]).text == "call mom"


def test_partial_phrase_matches_earn_nothing_once_they_break():
    trie = PhraseTrie(["turn on the lights"], boost=1.0)
    assert trie.bonus("turn on the lights") == len("turn on the lights")
    assert trie.bonus("turn on") == len("turn on")
    assert trie.bonus("turn off") == 0.0
    assert trie.bonus("return on") == 0.0
