"""Real spoken keywords streamed to a real server: the right detections, in order, at plausible times."""

import numpy as np
import pytest

from rnnvoice.clients.client import Audio, result_dict
from tests.conftest import fixture_clip

WORDS = ["yes_sc.wav", "seven_lucas.wav", "stop_sc.wav", "left_sc.wav", "three_lucas.wav", "go_sc.wav"]
# Telephone band: words from the same speaker, down to 8 kHz.
NARROWBAND_WORDS = ["right_sc.wav", "stop_sc.wav", "up_sc.wav", "left_sc.wav", "go_sc.wav"]


def joined(rate: int, words: list[str] = WORDS) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The words one after another over kitchen noise, with where each clip sits (seconds)."""
    noise = fixture_clip("noise_dishes.wav", rate)
    pause = int(0.7 * rate)
    parts, spans, pos = [], [], pause
    for name in words:
        clip = fixture_clip(name, rate)
        parts += [np.zeros(pause, np.float32), clip]
        spans.append((pos / rate, (pos + len(clip)) / rate))
        pos += len(clip) + pause
    speech = np.concatenate(parts + [np.zeros(pause, np.float32)])
    background = np.resize(noise, len(speech)) * 0.1
    return speech + background, spans


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize(
    "rate, encoding, channels, words",
    [
        (16000, "pcm_s16le", 1, WORDS),
        (44100, "float32le", 2, WORDS),
        (22050, "pcm_s16le", 1, WORDS),
        (8000, "pcm_s16le", 1, NARROWBAND_WORDS),
    ],
)
def test_spoken_keywords_are_detected_in_order(client, cell, rate, encoding, channels, words):
    audio, spans = joined(rate, words)
    expected = [name.split("_")[0] for name in words]
    samples = np.repeat(audio[:, None], channels, axis=1)
    results = [
        result_dict(r) for r in client.stream_audio(Audio.from_array(samples, rate, encoding), cell, chunk_s=0.1)
    ]
    detections = [r for r in results if r["type"] == "keyword"]
    assert [d["keyword"] for d in detections] == expected
    for d, (start, end) in zip(detections, spans):
        # Each detection lies within its clip, give or take the detector's smoothing.
        assert start - 0.1 <= d["start_s"] < d["end_s"] <= end + 0.35
        assert d["end_s"] - d["start_s"] >= 0.1
        assert 0.0 < d["score"] <= 1.0
    summary = results[-1]
    assert summary["type"] == "summary" and summary["audio_s"] == pytest.approx(len(audio) / rate, abs=1e-3)
    assert summary["detections"] == len(expected)


def test_only_the_requested_keywords_are_reported(client):
    audio, _ = joined(16000)
    results = [
        result_dict(r) for r in client.stream_audio(Audio.from_array(audio, 16000), "gru", keywords=["stop", "three"])
    ]
    assert [r["keyword"] for r in results if r["type"] == "keyword"] == ["stop", "three"]


def test_interim_scores_come_with_every_chunk(client):
    audio, _ = joined(16000)
    results = [
        result_dict(r)
        for r in client.stream_audio(
            Audio.from_array(audio, 16000), "lstm", chunk_s=0.25, keywords=["yes", "go"], interim_scores=True
        )
    ]
    scores = [r for r in results if r["type"] == "scores"]
    assert len(scores) >= int(len(audio) / 16000 / 0.25) - 1
    assert set(scores[0]["scores"]) == {"yes", "go"}
    assert max(s["scores"]["yes"] for s in scores) > 0.6


def test_recognize_gives_the_same_detections_as_streaming(client):
    audio, _ = joined(16000)
    recording = Audio.from_array(audio, 16000)
    streamed = [r.detection for r in client.stream_audio(recording, "gru", chunk_s=0.37) if r.HasField("detection")]
    whole = client.recognize(recording, "gru")
    assert [(d.keyword, d.start_s, d.end_s) for d in whole.detections] == [
        (d.keyword, d.start_s, d.end_s) for d in streamed
    ]
    np.testing.assert_allclose([d.score for d in whole.detections], [d.score for d in streamed], atol=1e-5)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_quiet_speech_is_heard_as_loud_speech(client, cell):
    """The words at -40 dBFS, as from a microphone across a room, give the detections they give at -20 dBFS, both
    sent as 16-bit PCM."""
    audio, _ = joined(16000)
    rms = np.sqrt(np.mean(audio**2))
    heard = {}
    for level_dbfs in (-20.0, -40.0):
        recording = Audio.from_array(audio * (10 ** (level_dbfs / 20) / rms), 16000, "pcm_s16le")
        heard[level_dbfs] = [
            r["keyword"]
            for r in map(result_dict, client.stream_audio(recording, cell, chunk_s=0.1))
            if r["type"] == "keyword"
        ]
    assert heard[-20.0] == heard[-40.0] == [name.split("_")[0] for name in WORDS]
