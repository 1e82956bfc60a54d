"""The log-mel recognisers (shipped beside the defaults on the speech embedding) served by a real server: the same
streaming path on the other front end, one CTC frame for each 30 ms step."""

import dataclasses

import pytest

from rnnvoice.clients.client import VoiceClient
from rnnvoice.models.weights import WEIGHTS
from tests.conftest import ServerThread
from tests.service.test_transcription import stream, with_pauses

CELLS = ("gru", "lstm")


@pytest.fixture(scope="module")
def log_mel_client(settings):
    models = {**settings.models} | {("transcription", c): WEIGHTS / f"transcription_{c}_log_mels.pt" for c in CELLS}
    server = ServerThread(dataclasses.replace(settings, models=models))
    with VoiceClient(server.target, timeout_s=60) as client:
        yield client
    server.stop()


@pytest.mark.parametrize("cell", CELLS)
def test_two_commands_of_a_held_out_voice_are_heard_with_their_times(log_mel_client, cell):
    """Flite awb's commands, which the log-mel recognisers hear word for word: two finals, word times on the 30 ms
    grid of their steps."""
    audio = with_pauses(["lights_awb.wav", "time_awb.wav"], 1.0)
    finals = [r for r in stream(log_mel_client, audio, cell) if r["type"] == "final"]
    assert [f["text"] for f in finals] == ["turn on the kitchen lights", "what time is it"]
    words = [w for f in finals for w in f["words"]]
    assert all(0 <= w["start_s"] < w["end_s"] <= len(audio) / 16000 for w in words)
    assert all(round(t / 0.03, 6).is_integer() for w in words for t in (w["start_s"], w["end_s"]))
