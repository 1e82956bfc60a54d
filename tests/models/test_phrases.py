"""Keywords chosen at run time by text: the phrase spotter's decisions on scores spelled out step by step, phrases
enrolled from text-to-speech and heard in real recordings, and phrases through a real server, the Python client and
`rnnvoice stream`."""

import json

import grpc
import numpy as np
import pytest
import torch

from rnnvoice.clients import cli
from rnnvoice.clients.client import Audio, result_dict, stream_config
from rnnvoice.models.evaluation.keywords import run_stream
from rnnvoice.models.nets.speech_embedding import DIM
from rnnvoice.models.streaming.keyword_stream import keyword_stream
from rnnvoice.models.streaming.phrase_spotter import (
    DEFAULT_Z,
    REST_S,
    STEP_S,
    PhraseModel,
    PhraseSpotter,
    enrol,
    threshold_z,
)
from rnnvoice.protos import pb
from tests.conftest import FIXTURES, fixture_clip, rpc_error, wait_until


def along(axis: int, text: str) -> PhraseModel:
    """A phrase whose z is an embedding's value on one axis."""
    direction = torch.zeros(DIM, dtype=torch.float64)
    direction[axis] = 1.0
    return PhraseModel(text, direction, torch.zeros(DIM, dtype=torch.float64), 1.0, 0.5, 1)


def spot(z: dict[int, list[float]], threshold: float = 0.5, chunk: int | None = None):
    """Detections of phrases on axes 0, 1, ... whose z at each step is given (axis -> z per step)."""
    steps = len(next(iter(z.values())))
    embeddings = torch.zeros(steps, DIM, dtype=torch.float64)
    for axis, values in z.items():
        embeddings[:, axis] = torch.tensor(values)
    spotter = PhraseSpotter([(along(axis, f"phrase {axis}"), threshold) for axis in z])
    chunk = chunk or steps
    return [d for i in range(0, steps, chunk) for d in spotter.accept(embeddings[i : i + chunk])[0]]


def lifted(values: list[float]) -> list[float]:
    """z values given relative to the default threshold's (0: it, 1: one above)."""
    return [DEFAULT_Z + v for v in values]


def test_a_phrase_fires_once_at_its_peak_with_its_times():
    quiet = [-8.0] * 10
    [detection] = spot(
        {0: lifted(quiet + [-4, -2, 0.5, 1.5, 1, -2, -8, -8]), 1: lifted(quiet + [-0.5, -0.2, -4, -8, -8, -8, -8, -8])}
    )
    assert detection.keyword == "phrase 0"
    assert detection.score == pytest.approx(1 / (1 + np.exp(-2.0 * 1.5)), abs=1e-4)
    # The peak's step 13 ends at 1.12 s; the phrase itself a little before (the steps enrolled lag its end).
    assert detection.end_s == pytest.approx(14 * STEP_S - 0.12)
    assert detection.start_s == pytest.approx(detection.end_s - 0.5)  # the phrase's enrolled length
    assert detection.detected_s == pytest.approx(15 * STEP_S)  # once the score falls


def test_the_threshold_follows_the_sensitivity():
    assert threshold_z(0.5) == pytest.approx(DEFAULT_Z)
    assert threshold_z(0.8) > DEFAULT_Z > threshold_z(0.2)
    z = {0: lifted([-8, 0.7, -8, -8])}
    assert len(spot(z, threshold=0.5)) == 1
    assert spot(z, threshold=0.9) == []  # z 1.1 above the default's and up


def test_a_phrase_rests_after_it_fires():
    rest = round(REST_S / STEP_S)
    near = lifted([-8, 1, -8] + [-8] * (rest - 3) + [1, -8, -8])
    far = lifted([-8, 1, -8] + [-8] * (rest + 2) + [1, -8, -8])
    assert len(spot({0: near})) == 1
    assert len(spot({0: far})) == 2


def test_chunking_changes_no_detection():
    rng = np.random.default_rng(0)
    z = {axis: lifted((rng.random(200) * 4 - 3).tolist()) for axis in range(3)}
    whole = spot(z)
    assert len(whole) > 5
    for chunk in (1, 2, 7):
        assert spot(z, chunk=chunk) == whole


def heard(phrases: list[str], clip: str, rate: int) -> list[str]:
    stream = keyword_stream(None, rate, phrases=dict.fromkeys(phrases, 0.5))
    detections, _ = run_stream(stream, torch.from_numpy(fixture_clip(clip, rate)))
    return [d.keyword for d in detections]


def test_a_phrase_enrolled_from_text_is_heard_in_a_real_speakers_recording():
    # seven_lucas: a real speaker (FSDD, 8 kHz), whom no enrolment voice resembles
    assert enrol("seven") is enrol("seven")  # enrolled once, then kept
    assert enrol("seven").renditions >= 20
    assert heard(["seven", "three"], "seven_lucas.wav", 8000) == ["seven"]
    for other in ("three_lucas.wav", "five_lucas.wav", "nine_lucas.wav", "one_lucas.wav"):
        assert "seven" not in heard(["seven"], other, 8000), other


def stream_cli(capsys, server, *args) -> list[dict]:
    assert cli.main(["stream", *map(str, args), "--server", server.target, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_stream_command_detects_phrases_chosen_at_run_time(capsys, server, cell):
    lines = stream_cli(
        capsys,
        server,
        FIXTURES / "call_mom_norbert.wav",
        "--cell",
        cell,
        "--phrase",
        "call mom",
        "--phrase",
        "jarvis",
        "--phrase",
        "lights on=0.3",
    )
    detections = [line for line in lines if line["type"] == "keyword"]
    assert [d["keyword"] for d in detections] == ["call mom"]
    assert 0.0 <= detections[0]["start_s"] < detections[0]["end_s"] < 1.0  # spoken from 0.05 to 0.77 s
    assert 0.5 < detections[0]["score"] <= 1.0
    assert lines[-1]["type"] == "summary" and lines[-1]["detections"] == 1


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_phrases_and_trained_keywords_side_by_side(client, cell):
    audio = Audio.from_array(fixture_clip("spoken_seven_yes.wav"), 16000)
    results = [result_dict(r) for r in client.stream_audio(audio, cell, keywords=["yes"], phrases={"seven": None})]
    heard = sorted(r["keyword"] for r in results if r["type"] == "keyword")
    assert heard == ["seven", "yes"]  # seven by the phrase spotter, yes by the keyword model, on one embedding


def phrase_config(task=pb.TASK_KEYWORDS, **phrases) -> pb.StreamConfig:
    c = stream_config(Audio(b"", 16000), cell="gru")
    c.task = task
    for text, sensitivity in phrases.items():
        c.keywords.phrases.add(phrase=text, sensitivity=sensitivity)
    return c


@pytest.mark.parametrize(
    "config, message",
    [
        (phrase_config(**{f"name{'x' * i}": 0.5 for i in range(21)}), "21 phrases; send at most 20"),
        (phrase_config(**{"12 !!": 0.5}), "phrase 0 ('12 !!') has no letters"),
        (phrase_config(**{"y" * 51: 0.5}), "phrase 0 has 51 characters; at most 50"),
        (phrase_config(**{"Jarvis": 0.5, "jarvis!": 0.5}), "phrase 'jarvis!' is listed twice"),
        (phrase_config(jarvis=2.0), "sensitivity 2.0 for phrase 'jarvis' is outside 0 to 1"),
        (
            phrase_config(pb.TASK_TRANSCRIPTION, jarvis=0.5),
            "phrases are keywords chosen at run time, for TASK_KEYWORDS",
        ),
    ],
)
def test_bad_phrases_get_a_clear_error(client, server, config, message):
    error = rpc_error(lambda: client.stub.StreamAudio(iter([pb.StreamAudioRequest(config=config)]), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()
    assert wait_until(lambda: len(server.server.servicer.sessions) == 0)


def test_interim_scores_carry_the_phrases_scores(client):
    audio = Audio.from_array(fixture_clip("call_mom_norbert.wav"), 16000)
    scores = [
        r.scores.scores
        for r in client.stream_audio(audio, "gru", phrases={"call mom": None, "jarvis": None}, interim_scores=True)
        if r.HasField("scores")
    ]
    assert scores and all(set(s) == {"call mom", "jarvis"} for s in scores)
    assert max(s["call mom"] for s in scores) > 0.5 > max(s["jarvis"] for s in scores)


def test_a_server_without_text_to_speech_says_so(client, server, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # neither espeak-ng nor flite to be found, as on a server without them
    audio = Audio.from_array(fixture_clip("yes_sc.wav"), 16000)
    error = rpc_error(lambda: list(client.stream_audio(audio, "gru", phrases={"never enrolled before": None})))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no text-to-speech voice on the server to enrol phrases with; install espeak-ng or flite" in error.details()
    assert wait_until(lambda: len(server.server.servicer.sessions) == 0)
    monkeypatch.undo()
    results = [result_dict(r) for r in client.stream_audio(audio, "gru", keywords=["yes"])]
    assert [r["keyword"] for r in results if r["type"] == "keyword"] == ["yes"]  # the server goes on
