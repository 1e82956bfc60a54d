"""Evaluation reports: word errors from jiwer's alignment, closed-set keyword accuracy, and `rnnvoice eval` on real
clips, with and without the plots extra."""

import json
import shutil
import sys

import numpy as np
import pytest
import torchaudio
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnvoice.clients.cli import main
from rnnvoice.models.data.corpus import Clip
from rnnvoice.models.evaluation.keywords import closed_set_accuracy
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
    assert word_error_rate([" ".join(reference)], [" ".join(hypothesis)]) == pytest.approx(
        distance / len(reference), abs=1e-4
    )


def test_closed_set_accuracy_counts_the_likeliest_of_the_scored_keywords():
    labels = ("yes", "no", "up", "_silence_", "_unknown_")
    clips = [
        Clip("a.wav", "yes", "yes", "s1", "speech_commands"),
        Clip("b.wav", "no", "no", "s1", "speech_commands"),
        Clip("c.wav", "_unknown_", "tree", "s2", "speech_commands"),
        Clip("d.wav", "up", "up", "s2", "fsdd"),
    ]
    peaks = [
        np.array([0.3, 0.1, 0.0, 0.0, 0.9]),  # yes likeliest of yes and no: unknown speech is set aside
        np.array([0.5, 0.4, 0.0, 0.1, 0.2]),  # no taken for yes
        np.array([0.9, 0.0, 0.0, 0.0, 0.9]),  # not a scored keyword's clip: not counted
        np.array([0.0, 0.0, 0.9, 0.0, 0.0]),
    ]  # up is not scored here: not counted
    assert closed_set_accuracy(labels, ("yes", "no"), clips, peaks) == 0.5
    assert closed_set_accuracy(labels, ("yes", "no", "up"), clips, peaks) == pytest.approx(2 / 3, abs=1e-4)
    assert closed_set_accuracy(labels, ("yes", "no"), clips[2:], peaks[2:]) is None


def _real_word_folder(tmp_path):
    folder = tmp_path / "sc"
    for word in ("yes", "stop", "left", "go", "up", "right"):
        (folder / word).mkdir(parents=True)
        for speaker in ("aaaa1111", "bbbb2222"):
            shutil.copy(FIXTURES / f"{word}_sc.wav", folder / word / f"{speaker}_nohash_0.wav")
    return folder


def _eval_real_words(tmp_path, report_path) -> int:
    """`rnnvoice eval` of the shipped GRU on the folder of real words, every speaker, its report at report_path."""
    data = str(_real_word_folder(tmp_path))
    return main(["eval", "--cell", "gru", "--data", data, "--speakers", "all", "--json", str(report_path)])


def test_eval_reports_the_closed_set_accuracy_beside_the_detectors(tmp_path, capsys):
    report_path = tmp_path / "clips.json"
    assert _eval_real_words(tmp_path, report_path) == 0
    clips = json.loads(report_path.read_text())["clips"]
    assert clips["clips"] == 12 and 0.0 <= clips["closed_set_accuracy"] <= 1.0
    # These six real words are ones the shipped model hears: the likeliest keyword is the spoken one for most.
    assert clips["closed_set_accuracy"] >= 0.5
    assert "closed set" in capsys.readouterr().out


def test_eval_without_matplotlib_writes_its_report_and_says_how_to_get_the_plot(tmp_path, capsys, monkeypatch):
    """The base install has no matplotlib (the `plots` extra): the numbers come all the same, the figure does not."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: importing it fails
    report_path = tmp_path / "clips.json"
    assert _eval_real_words(tmp_path, report_path) == 0
    assert json.loads(report_path.read_text())["clips"]["clips"] == 12
    assert not report_path.with_suffix(".png").exists()
    out = capsys.readouterr().out
    assert "accuracy" in out and "no plots: matplotlib is not installed (pip install 'rnnvoice[plots]'" in out


def test_eval_phrases_sweeps_thresholds_on_a_stream_of_real_clips(tmp_path, capsys):
    folder = _real_word_folder(tmp_path)
    report_path = tmp_path / "phrases.json"
    assert (
        main(
            [
                "eval",
                "--data",
                str(folder),
                "--speakers",
                "all",
                "--phrases",
                "yes,stop",
                "--json",
                str(report_path),
            ]
        )
        == 0
    )
    report = json.loads(report_path.read_text())
    assert report["phrases"] == ["yes", "stop"] and report["clips"] == 12
    assert report["default"]["phrases"]["stop"]["said"] == 2
    assert sum(s["said"] for s in report["default"]["per_speaker"].values()) == 4  # yes and stop, by each speaker
    rates = [t["detection_rate"] for t in report["sweep"]]
    false_accepts = [t["false_accepts_per_hour"] for t in report["sweep"]]
    # A higher threshold detects no more and accepts no more falsely.
    assert rates == sorted(rates, reverse=True) and false_accepts == sorted(false_accepts, reverse=True)
    assert rates[0] > 0  # the spotter hears some of these real words at the lowest threshold
    assert "false accepts per hour" in capsys.readouterr().out


def test_eval_transcription_scores_intents_from_the_transcript_and_as_the_assistant_reads_them(tmp_path, capsys):
    """Flite awb's "what time is it", which the GRU writes "what time": the transcript's grammar misses its intent,
    the assistant, reading the posteriors within its built-in context, understands it."""
    folder = tmp_path / "commands"
    (folder / "voices").mkdir(parents=True)
    said = {"time_awb.wav": "what time is it", "timer_david.wav": "set a timer for five minutes"}
    for name in said:
        shutil.copy(FIXTURES / name, folder / "voices" / name)
    (folder / "transcripts.tsv").write_text("".join(f"voices/{n}\t{t}\n" for n, t in said.items()))
    report_path = tmp_path / "transcription.json"
    args = ["eval", "--task", "transcription", "--cell", "gru", "--data", str(folder), "--json", str(report_path)]
    assert main(args) == 0
    result = json.loads(report_path.read_text())["transcription"]
    assert result["intent_accuracy"] == 0.5 and result["assistant_intent_accuracy"] == 1.0
    assert "as the assistant reads them" in capsys.readouterr().out
