"""Voice-activity events from the models a task already runs, and the timeout that ends a silent stream, against a
real server."""

import numpy as np
import pytest

from rnnvoice.clients.client import Audio, result_dict
from rnnvoice.protos import pb
from tests.conftest import fixture_clip

SILENCE = np.zeros(16000 * 5, np.float32)


def results(client, samples: np.ndarray, cell: str = "gru", **options) -> list[dict]:
    audio = Audio.from_array(samples, 16000)
    return [result_dict(r) for r in client.stream_audio(audio, cell, chunk_s=0.1, **options)]


def events(lines: list[dict]) -> list[tuple[str, float]]:
    return [(r["type"], r["time_s"]) for r in lines if r["type"] in ("speech_begin", "speech_end")]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("task", ["keywords", "transcription", "assistant"])
def test_speech_begins_and_ends_around_each_word(client, cell, task):
    # "seven" at about 1.0 to 1.3 s, "yes" at about 2.3 to 2.8 s.
    lines = results(client, fixture_clip("spoken_seven_yes.wav"), cell, task=task, voice_activity_events=True)
    found = events(lines)
    assert [kind for kind, _ in found] == ["speech_begin", "speech_end"] * (len(found) // 2) and found
    spans = list(zip([t for _, t in found[::2]], [t for _, t in found[1::2]]))
    assert all(begin < end for begin, end in spans)
    # A span overlaps each word (a recogniser writes its characters a little after their sound).
    assert any(begin < 1.3 and end > 1.0 for begin, end in spans)  # seven
    assert any(begin < 2.8 and end > 2.3 for begin, end in spans)  # yes
    assert not any(begin < 0.6 for begin, _ in spans)  # the silence before it


def test_no_events_unless_asked(client):
    assert events(results(client, fixture_clip("spoken_seven_yes.wav"))) == []


@pytest.mark.parametrize("task", ["keywords", "transcription"])
def test_a_silent_stream_ends_after_its_voice_activity_timeout(client, task):
    lines = results(client, SILENCE, task=task, voice_activity_timeout_s=1.0)
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["end_reason"] == "voice_activity_timeout"
    assert 1.0 <= summary["audio_s"] <= 1.2  # the chunk that passed the timeout is the last one heard


def test_speech_keeps_a_stream_open_and_the_timeout_counts_from_its_end(client):
    speech = fixture_clip("spoken_seven_yes.wav")  # speech ends at about 2.8 s
    lines = results(client, np.concatenate([speech, SILENCE]), voice_activity_timeout_s=2.0)
    assert [r["keyword"] for r in lines if r["type"] == "keyword"] == ["seven", "yes"]
    assert lines[-1]["end_reason"] == "voice_activity_timeout"
    assert 4.6 <= lines[-1]["audio_s"] <= 5.2


def test_a_stream_that_ends_first_says_it_completed(client):
    lines = results(client, fixture_clip("spoken_seven_yes.wav"), voice_activity_timeout_s=3.0)
    assert lines[-1]["end_reason"] == "completed"


def test_recognize_stops_at_the_timeout_too(client):
    response = client.recognize(
        Audio.from_array(np.concatenate([SILENCE, fixture_clip("yes_sc.wav")]), 16000),
        "gru",
        voice_activity_timeout_s=1.5,
        voice_activity_events=True,
    )
    assert response.summary.end_reason == pb.STREAM_END_VOICE_ACTIVITY_TIMEOUT
    assert response.summary.audio_s == pytest.approx(2.0)  # handed to the engine a second at a time
    assert not response.detections and not response.voice_activity  # the word after the timeout is not heard
