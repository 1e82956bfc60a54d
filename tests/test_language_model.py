"""The shipped language model: `rnnvoice lm` makes it again byte for byte, and its ARPA file, read in Python
or by KenLM, gives the probabilities of the Witten-Bell model counted over the same sentences."""

import argparse
import fnmatch
import json
import math
import random
import tomllib
from pathlib import Path

import pytest

from rnnvoice.clients.commands import lm as lm_command
from rnnvoice.models.data.sentences import generate_command
from rnnvoice.models.decoding.ctc import DECODER_FILE, LEXICON_FILE, LM_FILE, beam_search
from rnnvoice.models.decoding.witten_bell import WittenBellNgrams
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
    args = argparse.Namespace(out=tmp_path, sentences=SETTINGS["sentences"], order=SETTINGS["order"],
                              seed=SETTINGS["seed"])
    assert lm_command.run(args) == 0
    for name in (LM_FILE, LEXICON_FILE, DECODER_FILE):
        assert (tmp_path / name).read_text() == (WEIGHTS / name).read_text(), name


def test_the_arpa_file_gives_the_counted_probabilities(counted):
    search = beam_search()
    pairs = queries(counted)
    assert len(pairs) > 300 and sum(h + (w,) not in search.ngrams.entries for h, w in pairs) > 100
    for history, word in pairs:
        assert search.ngrams.log_prob(history, word) == pytest.approx(counted.log_prob(history, word), abs=1e-5)


def test_kenlm_reads_the_arpa_file_as_counted(counted):
    """KenLM (log10) walked word by word, from <s> or from nothing, against the counted model."""
    search = beam_search()
    kenlm, index = search.kenlm, {w: i for i, w in enumerate(search.words)} | {"zebra": len(search.words)}
    for history, word in queries(counted):
        starts = history[:1] == ("<s>",)
        state = kenlm.start(not starts)
        for w in history[starts:]:
            state, _ = kenlm.score(state, index[w])
        _, score = kenlm.finish(state) if word == "</s>" else kenlm.score(state, index[word])
        assert score * math.log(10) == pytest.approx(counted.log_prob(history, word), abs=1e-4), (history, word)


def test_the_files_are_package_data():
    """An installed server (the container's) finds them beside the weights."""
    settings = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = settings["tool"]["setuptools"]["package-data"]["rnnvoice.models.weights"]
    for name in (LM_FILE, LEXICON_FILE, DECODER_FILE):
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
