"""Evaluation reports: word errors from jiwer's alignment, and `rnnvoice eval --phrases` on real clips."""

import json
import shutil

import pytest
import torchaudio
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnvoice.clients.cli import main
from rnnvoice.models.evaluation.transcription import error_rates, word_error_rate, word_errors
from tests.conftest import FIXTURES

words = st.lists(st.sampled_from(["call", "mom", "turn", "on", "the", "lights"]), max_size=8)


def test_word_errors_are_broken_down_by_kind():
    assert word_errors("Call mom now", "call tom") == {"substitutions": 1, "deletions": 1, "insertions": 0, "words": 3}
    assert word_errors("lights on", "the lights are on")["insertions"] == 2
    assert word_errors("", "hello there") == {"substitutions": 0, "deletions": 0, "insertions": 2, "words": 0}
    rates = error_rates([word_errors("call mom now", "call tom"), word_errors("lights on", "lights on please")])
    assert rates == {"word_error_rate": 0.6, "substitutions_rate": 0.2, "deletions_rate": 0.2, "insertions_rate": 0.2}


@settings(max_examples=50, deadline=None)
@given(reference=words.filter(bool), hypothesis=words)
def test_the_kinds_add_up_to_the_edit_distance(reference, hypothesis):
    errors = word_errors(" ".join(reference), " ".join(hypothesis))
    distance = torchaudio.functional.edit_distance(reference, hypothesis)
    assert errors["substitutions"] + errors["deletions"] + errors["insertions"] == distance
    assert word_error_rate([" ".join(reference)], [" ".join(hypothesis)]) == pytest.approx(distance / len(reference),
                                                                                           abs=1e-4)


def test_eval_phrases_sweeps_thresholds_on_a_stream_of_real_clips(tmp_path, capsys):
    folder = tmp_path / "sc"
    for word in ("yes", "stop", "left", "go", "up", "right"):
        (folder / word).mkdir(parents=True)
        for speaker in ("aaaa1111", "bbbb2222"):
            shutil.copy(FIXTURES / f"{word}_sc.wav", folder / word / f"{speaker}_nohash_0.wav")
    report_path = tmp_path / "phrases.json"
    assert main(["eval", "--cell", "gru", "--data", str(folder), "--speakers", "all", "--phrases", "stop,go",
                 "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["phrases"] == ["stop", "go"] and report["clips"] == 12
    assert report["default"]["phrases"]["stop"]["spoken"] == 2
    rates = [t["detection_rate"] for t in report["sweep"]]
    false_accepts = [t["false_accepts_per_hour"] for t in report["sweep"]]
    # A higher threshold detects no more and accepts no more falsely.
    assert rates == sorted(rates, reverse=True) and false_accepts == sorted(false_accepts, reverse=True)
    assert rates[0] > 0  # the recogniser spells some of these real words well enough at the lowest threshold
    assert "false accepts per hour" in capsys.readouterr().out
