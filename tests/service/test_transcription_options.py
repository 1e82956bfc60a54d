"""Transcription options against a real server: n-best alternatives with scores, word confidences, and the
endpointing rules beyond trailing silence (a longest utterance, a longer silence before any speech)."""

import grpc
import numpy as np
import pytest
import torch

from rnnvoice.clients.client import Audio
from rnnvoice.models.nets.checkpoint import load_model
from rnnvoice.models.streaming.transcription_stream import Endpointing, transcription_stream
from rnnvoice.models.weights import shipped_models
from rnnvoice.protos import pb
from tests.conftest import fixture_clip, rpc_error
from tests.service.test_bad_input import transcription
from tests.service.test_transcription import TWO_COMMANDS, stream, with_pauses


def finals(results: list[dict]) -> list[dict]:
    return [r for r in results if r["type"] == "final"]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_final_results_carry_alternatives_best_first_with_scores(client, cell):
    [final] = finals(stream(client, with_pauses(["call_mom_norbert.wav"], 0.5, lead_s=0.0), cell, max_alternatives=4))
    alternatives = final["alternatives"]
    assert 2 <= len(alternatives) <= 4
    assert alternatives[0]["text"] == final["text"] == "call mom"
    assert len({a["text"] for a in alternatives}) == len(alternatives)  # distinct texts
    assert [a["score"] for a in alternatives] == sorted((a["score"] for a in alternatives), reverse=True)
    assert sum(a["confidence"] for a in alternatives) <= 1.0 + 1e-4
    assert alternatives[0]["confidence"] > 0.5


@pytest.mark.parametrize("decoder", ["beam", "greedy"])
def test_every_word_has_a_confidence(client, decoder):
    results = stream(client, with_pauses(TWO_COMMANDS, 1.0), "lstm", decoder=decoder)
    words = [w for f in finals(results) for w in f["words"]]
    assert len(words) >= 6
    assert all(0.0 < w["confidence"] <= 1.0 for w in words)
    assert "alternatives" not in finals(results)[0]  # none asked for


def test_a_word_is_as_sure_as_the_alternatives_that_have_it(client):
    five = with_pauses(["five_lucas.wav"], 0.5, lead_s=0.0)  # a real held-out speaker: a rival, "it", has a tenth
    [final] = finals(stream(client, five, "lstm", max_alternatives=10))
    share = {
        w["word"]: sum(a["confidence"] for a in final["alternatives"] if w["word"] in a["text"].split())
        for w in final["words"]
    }
    assert {w["word"]: w["confidence"] for w in final["words"]} == pytest.approx(share, abs=2e-3)
    assert min(share.values()) < 0.99  # the rivals take their share


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_longest_utterance_ends_an_utterance_with_a_final(client, cell):
    audio = with_pauses(["five_lucas.wav", "three_lucas.wav", "nine_lucas.wav", "one_lucas.wav"], 0.12)
    unlimited = finals(stream(client, audio, cell))
    assert any(f["end_s"] - f["start_s"] > 1.0 for f in unlimited)
    limited = finals(stream(client, audio, cell, max_utterance_s=1.0))
    assert len(limited) > len(unlimited)
    assert all(f["end_s"] - f["start_s"] <= 1.0 + 0.031 for f in limited)


def test_a_long_silence_before_speech_restarts_the_decoder_and_loses_nothing(client):
    audio = np.concatenate([np.zeros(16000 * 4, np.float32), with_pauses(["call_mom_norbert.wav"], 0.5, lead_s=0.0)])
    default = finals(stream(client, audio, "gru"))
    short = finals(stream(client, audio, "gru", initial_silence_s=0.5))
    assert [f["text"] for f in short] == [f["text"] for f in default] == ["call mom"]
    assert [f["words"] for f in short] == [f["words"] for f in default]


def test_the_silence_before_speech_is_counted_from_the_utterance_start():
    model = load_model(shipped_models()["transcription", "gru"])
    stream_ = transcription_stream(model, 16000, endpointing=Endpointing(initial_silence_s=1.0))
    stream_.accept(torch.zeros(16000 * 3 + 8000))
    # Restarted at 1, 2 and 3 s of silence: the utterance now starts at 3 s (steps of 30 ms, rounded).
    assert stream_.task.utterance_start == 3 * round(1.0 / stream_.task.step_s)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(max_alternatives=11), "max_alternatives 11 is more than 10"),
        (dict(max_utterance_s=0.5), "max_utterance_s 0.5 is outside 1 to 60 seconds"),
        (dict(initial_silence_s=60.0), "initial_silence_s 60 is outside 0.5 to 30 seconds"),
    ],
)
def test_bad_transcription_options_get_a_clear_error(client, options, message):
    error = rpc_error(lambda: client.stub.StreamAudio(iter(transcription(**options)), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()


def test_recognize_returns_alternatives_too(client):
    response = client.recognize(
        Audio.from_array(fixture_clip("call_mom_norbert.wav"), 16000), "gru", task="transcription", max_alternatives=3
    )
    [final] = response.transcripts
    assert isinstance(final, pb.TranscriptResult) and final.alternatives[0].text == final.text
