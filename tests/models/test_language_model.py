"""The shipped language model (and the built-in context beside it): `rnnvoice lm` makes them again byte for byte,
and the ARPA file, read by KenLM (alone, or from Python for streams with hints), gives the probabilities of the
Witten-Bell model counted over the same sentences."""

import argparse
import fnmatch
import json
import math
import random
import tomllib
from pathlib import Path

import pytest

from rnnvoice.clients.cli.commands import lm as lm_command
from rnnvoice.models.data.sentences import generate_command
from rnnvoice.models.decoding.ctc import DECODER_FILE, LEXICON_FILE, LM_FILE, beam_search
from rnnvoice.models.decoding.language_model import DomainLanguageModel
from rnnvoice.models.decoding.witten_bell import WittenBellNgrams
from rnnvoice.models.nlu.assistant_context import ASSISTANT_CONTEXT_FILE
from rnnvoice.models.weights import WEIGHTS

SETTINGS = json.loads((WEIGHTS / DECODER_FILE).read_text())["language_model"]


@pytest.fixture(scope="module")
def counted() -> WittenBellNgrams:
    rng = random.Random(SETTINGS["seed"])
    return WittenBellNgrams((generate_command(rng)[0] for _ in range(SETTINGS["sentences"])), SETTINGS["order"])


def queries(counted: WittenBellNgrams) -> list[tuple[tuple[str, ...], str]]:
    """(history, word) pairs: every step of new commands from <s> to </s>, word salad (mostly unseen
    n-grams, so backoff), and words the domain never says."""
    rng, pairs = random.Random(7), []
    for _ in range(40):
        words = ["<s>", *generate_command(rng)[0].split(), "</s>"]
        pairs += [(tuple(words[max(0, i - 3) : i]), words[i]) for i in range(1, len(words))]
    vocabulary = sorted(counted.vocabulary)
    for _ in range(150):
        history = tuple(rng.choice(vocabulary) for _ in range(rng.randint(0, 3)))
        pairs.append((history, rng.choice([*vocabulary, "</s>", "zebra"])))
    return pairs


def test_the_command_writes_the_shipped_files_again(tmp_path):
    args = argparse.Namespace(
        out=tmp_path, sentences=SETTINGS["sentences"], order=SETTINGS["order"], seed=SETTINGS["seed"]
    )
    assert lm_command.run(args) == 0
    for name in (LM_FILE, LEXICON_FILE, DECODER_FILE, ASSISTANT_CONTEXT_FILE):
        assert (tmp_path / name).read_text() == (WEIGHTS / name).read_text(), name


def walk(lm, words: list[str], history: tuple[str, ...], word: str) -> float:
    """A language model's score of `word` after `history`, walked word by word from <s> or from nothing: KenLM (in
    log10) or the Python model of streams with hints (natural logs); words are indices into `words`."""
    starts = history[:1] == ("<s>",)
    state = lm.start(not starts)
    for w in history[starts:]:
        state, _ = lm.score(state, words.index(w))
    return (lm.finish(state) if word == "</s>" else lm.score(state, words.index(word)))[1]


def kenlm_log_prob(history: tuple[str, ...], word: str) -> float:
    """ln P(word | history) from the shipped n-grams, as the beam search's KenLM scores it."""
    search = beam_search()
    return walk(search.kenlm, [*search.words, "<unk>"], history, word) * math.log(10)


def test_kenlm_reads_the_arpa_file_as_counted(counted):
    for history, word in queries(counted):
        assert kenlm_log_prob(history, word.replace("zebra", "<unk>")) == pytest.approx(
            counted.log_prob(history, word), abs=1e-4
        ), (history, word)


def test_the_model_of_streams_with_hints_scores_as_counted_and_adds_their_bonus(counted):
    search = beam_search()
    words = [*search.words, "zebra", "<unk>"]  # a hint word the domain never says
    plain = DomainLanguageModel(words, search.kenlm, search.words, [], 0.0)
    pairs = queries(counted)
    assert sum(h + (w,) not in counted.counts for h, w in pairs) > 100  # backing off
    for history, word in pairs:
        assert walk(plain, words, history, word) == pytest.approx(counted.log_prob(history, word), abs=1e-4)
    hinted = DomainLanguageModel(words, search.kenlm, search.words, [("call", "zebra")], 3.0)
    # A hint's word is as likely as an average word; the whole phrase earns its bonus, 3 a word.
    assert walk(hinted, words, ("<s>", "call"), "zebra") == pytest.approx(-math.log(len(words)) + 6.0)
    assert walk(hinted, words, ("<s>", "turn"), "zebra") == pytest.approx(-math.log(len(words)))


def test_the_files_are_package_data():
    """An installed server (the container's) finds them beside the weights."""
    settings = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = settings["tool"]["setuptools"]["package-data"]["rnnvoice.models.weights"]
    for name in (LM_FILE, LEXICON_FILE, DECODER_FILE, ASSISTANT_CONTEXT_FILE):
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
