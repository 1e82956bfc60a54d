"""Speech recognition and the assistant flow against a real server: digits, intents, partials, endpoints."""

import grpc
import numpy as np
import pytest

from rnnvoice.clients.client import Audio, result_dict, stream_config
from rnnvoice.protos import pb
from tests.conftest import fixture_clip, rpc_error, wait_until

DIGITS = ["five_lucas.wav", "three_lucas.wav", "nine_lucas.wav", "one_lucas.wav"]
# Two commands, both cells hear each word for word (flite awb's, before, the recognisers on the speech embedding
# do not: docs/models.md measures synthetic voices).
TWO_COMMANDS = ["timer_david.wav", "call_mom_norbert.wav"]

# Where the shipped recognisers are known to get a recording wrong (docs/models.md
# measures how often): strict, so the mark must go once a model gets it right.
SHORT_OF_TARGET = pytest.mark.xfail(strict=True, reason="the shipped recogniser mishears this held-out recording")


def both_cells(*values, short: tuple[str, ...] = ()) -> list:
    """The test case for each cell, marked for the cells in `short`."""
    return [pytest.param(*values, cell, marks=SHORT_OF_TARGET if cell in short else ()) for cell in ("gru", "lstm")]


def with_pauses(names: list[str], pause_s: float, rate: int = 16000, lead_s: float = 0.5) -> np.ndarray:
    parts = [np.zeros(int(lead_s * rate), np.float32)]
    for name in names:
        parts += [fixture_clip(name, rate), np.zeros(int(pause_s * rate), np.float32)]
    return np.concatenate(parts + [np.zeros(int(0.5 * rate), np.float32)])


def stream(client, audio: np.ndarray, cell: str, task: str = "transcription", **options) -> list[dict]:
    return [
        result_dict(r)
        for r in client.stream_audio(Audio.from_array(audio, 16000), cell, task=task, chunk_s=0.1, **options)
    ]


def digit_results(client, cell: str) -> list[dict]:
    return stream(client, with_pauses(DIGITS, 0.12), cell, interim_results=True)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_partials_come_before_the_final_with_words_in_order(client, cell):
    results = digit_results(client, cell)
    finals = [r for r in results if r["type"] == "final"]
    partials = [r for r in results if r["type"] == "partial"]
    assert finals and partials and results.index(partials[0]) < results.index(finals[0])
    assert all(0 <= p["stability"] <= 1 for p in partials)
    for final in finals:
        words = final["words"]
        assert [w["word"] for w in words] == final["text"].split()
        assert final["start_s"] == words[0]["start_s"] and words[-1]["end_s"] <= final["end_s"] + 1e-6
        assert all(w["start_s"] < w["end_s"] <= v["start_s"] for w, v in zip(words, words[1:]))


@pytest.mark.parametrize("cell", both_cells(short=("gru",)))  # the GRU hears "eight three nine one"
def test_real_spoken_digits_come_back_as_digits_with_their_times(client, cell):
    """Four digits by the FSDD speaker held out of training: heard word for word, with word times on the
    40 ms grid of the recognisers' frames (two CTC frames for each 80 ms step of the speech embedding)."""
    audio = with_pauses(DIGITS, 0.12)
    finals = [r for r in stream(client, audio, cell, interim_results=True) if r["type"] == "final"]
    words = [w for f in finals for w in f["words"]]
    assert [w["word"] for w in words] == ["five", "three", "nine", "one"]
    assert all(0 <= w["start_s"] < w["end_s"] <= len(audio) / 16000 for w in words)
    assert all(round(t / 0.04, 6).is_integer() for w in words for t in (w["start_s"], w["end_s"]))


def two_utterances(client, cell: str) -> list[dict]:
    return stream(client, with_pauses(TWO_COMMANDS, 1.0), cell)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_two_utterances_in_one_stream_give_two_finals(client, cell):
    results = two_utterances(client, cell)
    finals = [r for r in results if r["type"] == "final"]
    assert len(finals) == 2 and results[-1]["finals"] == 2
    # A second of silence lies between the two utterances.
    assert finals[0]["end_s"] < finals[1]["start_s"] - 0.5


@pytest.mark.parametrize("cell", both_cells())
def test_two_utterances_are_transcribed_word_for_word(client, cell):
    finals = [r["text"] for r in two_utterances(client, cell) if r["type"] == "final"]
    assert finals == ["set a timer for five minutes", "call mom"]


@pytest.mark.parametrize(
    "wake, command, intent, slots, cell",
    [
        *both_cells("computer_awb.wav", "call_mom_norbert.wav", "call", {"contact": "mom"}),
        *both_cells("computer_david.wav", "timer_david.wav", "set_timer", {"duration_s": 300}),
    ],
)
def test_assistant_hears_the_wake_word_then_the_command(client, wake, command, intent, slots, cell):
    results = stream(
        client, with_pauses([wake, command], 0.3, lead_s=1.0), cell, task="assistant", interim_results=True
    )
    kinds = [r["type"] for r in results]
    assert kinds[0] == "keyword" and results[0]["keyword"] == "computer"
    commands = [r for r in results if r["type"] == "intent"]
    assert len(commands) == 1
    assert commands[0]["intent"] == intent and commands[0]["slots"] == slots
    assert commands[0]["wake_word"]["end_s"] <= commands[0]["start_s"]


HOME_CONTEXT = """\
context:
  expressions:
    call:
      - "call $contact:who"
    setTimer:
      - "set a timer for $pv.TwoDigitInteger:minutes minutes"
  slots:
    contact: ["mom", "dad"]
"""


@pytest.mark.parametrize(
    "wake, command, intent, slots, cell",
    [
        *both_cells("computer_awb.wav", "call_mom_norbert.wav", "call", {"who": "mom"}),
        *both_cells("computer_david.wav", "timer_david.wav", "setTimer", {"minutes": 5}),
    ],
)
def test_assistant_reads_commands_within_an_inline_context(client, wake, command, intent, slots, cell):
    results = stream(
        client, with_pauses([wake, command], 0.3, lead_s=1.0), cell, task="assistant", context_yaml=HOME_CONTEXT
    )
    [found] = [r for r in results if r["type"] == "intent"]
    assert found["understood"] and found["intent"] == intent and found["slots"] == slots  # minutes a number


def test_a_command_the_context_cannot_say_is_not_understood(client):
    results = stream(
        client,
        with_pauses(["computer_awb.wav", "lights_awb.wav"], 0.3, lead_s=1.0),
        "gru",
        task="assistant",
        context_yaml=HOME_CONTEXT,
    )
    [found] = [r for r in results if r["type"] == "intent"]
    assert not found["understood"] and found["intent"] == "" and found["slots"] == {}
    assert "kitchen lights" in found["text"]  # the transcript is there all the same


def test_a_bad_context_is_refused_with_its_line(client, server):
    config = stream_config(Audio(b"", 16000), task="assistant", cell="gru", context_yaml="context:\n  slots: {}\n")
    error = rpc_error(lambda: client.stub.StreamAudio(iter([pb.StreamAudioRequest(config=config)]), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "assistant.context_yaml: line 2: `expressions:` is missing" in error.details()
    config = stream_config(Audio(b"", 16000), task="assistant", cell="gru", context="kitchen")
    error = rpc_error(lambda: client.stub.StreamAudio(iter([pb.StreamAudioRequest(config=config)]), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown context 'kitchen'; this server has none" in error.details()
    assert wait_until(lambda: len(server.server.servicer.sessions) == 0)
