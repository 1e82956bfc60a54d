"""Whisper base as the peer: its written text read as words said, and `rnnvoice eval --peer` on real files."""

import json
import shutil
from importlib import resources

import pytest

from rnnvoice.clients.cli import main
from rnnvoice.models.evaluation.whisper_peer import PARTS, spoken_text, whisper_folder
from tests.conftest import FIXTURES


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("Call 555-0199.", "call five five five zero one nine nine"),
        ("Set a timer for 25 minutes!", "set a timer for twenty five minutes"),
        ("Volume to 100%, please", "volume to one hundred percent please"),
        ("It's 7", "it's seven"),
        ("Rock & roll", "rock and roll"),
    ],
)
def test_written_numbers_and_symbols_are_read_as_words_said(written, said):
    assert spoken_text(written) == said


@pytest.mark.slow
def test_whisper_base_is_measured_on_the_same_files_as_ours(tmp_path):
    """The model folder is joined from the two wheels' halves once, then `eval --peer` scores Whisper's transcripts
    of real files as ours are scored."""
    folder = whisper_folder(tmp_path / "whisper")
    halves = [resources.files(name) / "data" / f"model.bin.part{i}" for i, name in enumerate(PARTS, 1)]
    assert (folder / "model.bin").stat().st_size == sum(h.stat().st_size for h in halves)
    assert whisper_folder(tmp_path / "whisper") == folder  # made once
    data = tmp_path / "data"
    (data / "awb").mkdir(parents=True)
    shutil.copy(FIXTURES / "lights_awb.wav", data / "awb" / "lights.wav")
    shutil.copy(FIXTURES / "time_awb.wav", data / "awb" / "time.wav")
    (data / "transcripts.tsv").write_text("awb/lights.wav\tturn on the kitchen lights\nawb/time.wav\twhat time is it\n")
    report = tmp_path / "peer.json"
    assert main(["eval", "--task", "transcription", "--peer", "--data", str(data), "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert result["peer"] == "whisper-base" and result["transcription"]["recordings"] == 2
    assert result["transcription"]["word_error_rate"] == 0.0
    assert result["transcription"]["per_speaker"]["awb"]["sentence_accuracy"] == 1.0
    assert result["transcription"]["intent_accuracy"] == 1.0
