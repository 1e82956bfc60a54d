"""Speech recognition and the assistant flow against a real server: digits, intents, partials, endpoints."""

import numpy as np
import pytest

from rnnvoice.clients.client import Audio, result_dict
from tests.conftest import fixture_clip

DIGITS = ["five_lucas.wav", "three_lucas.wav", "nine_lucas.wav", "one_lucas.wav"]


def with_pauses(names: list[str], pause_s: float, rate: int = 16000, lead_s: float = 0.5) -> np.ndarray:
    parts = [np.zeros(int(lead_s * rate), np.float32)]
    for name in names:
        parts += [fixture_clip(name, rate), np.zeros(int(pause_s * rate), np.float32)]
    return np.concatenate(parts + [np.zeros(int(0.5 * rate), np.float32)])


def stream(client, audio: np.ndarray, cell: str, task: str = "transcription", **options) -> list[dict]:
    return [result_dict(r) for r in client.stream_audio(Audio.from_array(audio, 16000), cell, task=task,
                                                         chunk_s=0.1, **options)]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_real_spoken_digits_come_back_as_digits(client, cell):
    results = stream(client, with_pauses(DIGITS, 0.12), cell, interim_results=True)
    finals = [r for r in results if r["type"] == "final"]
    assert " ".join(f["text"] for f in finals) == "five three nine one"
    partials = [r for r in results if r["type"] == "partial"]
    assert partials and results.index(partials[0]) < results.index(finals[0])
    words = [w for f in finals for w in f["words"]]
    assert [w["word"] for w in words] == ["five", "three", "nine", "one"]
    assert all(a["end_s"] <= b["start_s"] for a, b in zip(words, words[1:]))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_two_utterances_in_one_stream_give_two_finals(client, cell):
    results = stream(client, with_pauses(["lights_awb.wav", "time_awb.wav"], 1.0), cell)
    finals = [r["text"] for r in results if r["type"] == "final"]
    assert finals == ["turn on the kitchen lights", "what time is it"]
    assert results[-1]["finals"] == 2


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("wake, command, intent, slots", [
    ("computer_awb.wav", "call_mom_awb.wav", "call", {"contact": "mom"}),
    ("computer_david.wav", "timer_david.wav", "set_timer", {"duration_s": 300}),
])
def test_assistant_hears_the_wake_word_then_the_command(client, cell, wake, command, intent, slots):
    results = stream(client, with_pauses([wake, command], 0.3, lead_s=1.0), cell, task="assistant",
                     interim_results=True)
    kinds = [r["type"] for r in results]
    assert kinds[0] == "keyword" and results[0]["keyword"] == "computer"
    commands = [r for r in results if r["type"] == "intent"]
    assert len(commands) == 1
    assert commands[0]["intent"] == intent and commands[0]["slots"] == slots
    assert commands[0]["wake_word"]["end_s"] <= commands[0]["start_s"]
