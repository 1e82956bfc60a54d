"""The recognisers on the speech embedding (shipped beside the log-mel ones) served by a real server: the same
streaming path, two CTC frames for each 80 ms step, and real digits said by a speaker no model trained on."""

import dataclasses

import pytest

from rnnvoice.clients.client import VoiceClient
from rnnvoice.models.weights import WEIGHTS
from tests.conftest import ServerThread
from tests.service.test_transcription import DIGITS, both_cells, stream, with_pauses

CELLS = ("gru", "lstm")


@pytest.fixture(scope="module")
def embedding_client(settings):
    models = {**settings.models} | {("transcription", c): WEIGHTS / f"transcription_{c}_embedding.pt" for c in CELLS}
    server = ServerThread(dataclasses.replace(settings, models=models))
    with VoiceClient(server.target, timeout_s=60) as client:
        yield client
    server.stop()


@pytest.mark.parametrize("cell", both_cells(short=("gru",)))  # the GRU hears "eight three nine one"
def test_real_digits_of_a_held_out_speaker_are_heard_with_their_times(embedding_client, cell):
    """Four digits by the FSDD speaker held out of training, which both log-mel recognisers mishear
    (test_transcription.py marks them): heard word for word, with word times on the 40 ms grid of the frames."""
    audio = with_pauses(DIGITS, 0.12)
    results = stream(embedding_client, audio, cell, interim_results=True)
    finals = [r for r in results if r["type"] == "final"]
    words = [w for f in finals for w in f["words"]]
    assert [w["word"] for w in words] == ["five", "three", "nine", "one"]
    assert any(r["type"] == "partial" for r in results)
    assert all(0 <= w["start_s"] < w["end_s"] <= len(audio) / 16000 for w in words)
    assert all(round(t / 0.04, 6).is_integer() for w in words for t in (w["start_s"], w["end_s"]))
    assert all(w["end_s"] <= v["start_s"] for w, v in zip(words, words[1:]))
