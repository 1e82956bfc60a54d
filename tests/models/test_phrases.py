"""Keywords chosen at run time by text: the phrase spotter on paths spelled out step by step, and phrases through
a real server, the Python client and `rnnvoice stream`."""

import json

import grpc
import numpy as np
import pytest

from rnnvoice.clients import cli
from rnnvoice.clients.client import Audio, result_dict, stream_config
from rnnvoice.models.nets.speech_recognizer import INDEX, TOKENS
from rnnvoice.models.streaming.phrase_spotter import Phrase, PhraseSpotter
from rnnvoice.protos import pb
from tests.conftest import FIXTURES, fixture_clip, rpc_error, wait_until

STEP_S = 0.03


def spelled(path: str, sure: float = 0.9) -> np.ndarray:
    """Log-probabilities (S, V) whose most likely token at each step is the path's ("_" the blank)."""
    rest = (1 - sure) / (len(TOKENS) - 1)
    probs = np.full((len(path), len(TOKENS)), rest)
    probs[np.arange(len(path)), [INDEX[c] for c in path]] = sure
    return np.log(probs)


def spot(phrases: list[str], path: str, threshold: float = 0.5, chunk: int | None = None):
    spotter = PhraseSpotter([Phrase(p, threshold) for p in phrases], STEP_S)
    log_probs = spelled(path)
    chunk = chunk or len(log_probs)
    return [d for i in range(0, len(log_probs), chunk) for d in spotter.accept(log_probs[i : i + chunk])]


def test_a_phrase_spelled_by_the_recogniser_is_detected_with_its_times():
    path = "_____ca_l_l_ __mo_m________"
    [detection] = spot(["call mom", "jarvis"], path)
    assert detection.keyword == "call mom"
    assert detection.score == pytest.approx(1.0)
    assert detection.start_s == pytest.approx(path.index("c") * STEP_S)
    assert detection.end_s == pytest.approx((path.rindex("m") + 1) * STEP_S)
    assert detection.detected_s > detection.end_s


def test_a_repeated_letter_needs_a_blank_between_its_two():
    assert [d.keyword for d in spot(["call"], "___ca_l_l_____")] == ["call"]
    assert spot(["call"], "___ca_ll______") == []  # one l, as CTC reads it


def test_phrases_are_whole_words():
    assert spot(["no"], "____n_i_n_e______") == []
    assert spot(["no"], "____n_o_n_e______") == []  # the beginning of a longer word
    assert spot(["one"], "____n_o_n_e______") == []  # the end of one
    assert [d.keyword for d in spot(["no"], "___ye_s _n_o_____")] == ["no"]  # after a space


def test_a_forced_phrase_scores_lower_and_a_threshold_decides():
    path = "____ma_r_b_i_n_______"  # one letter wrong
    [detection] = spot(["marvin"], path, threshold=0.3)
    assert 0.3 < detection.score < 0.9
    assert spot(["marvin"], path, threshold=detection.score + 0.01) == []


def test_chunking_changes_no_detection():
    path = "___ca_l_l_ __mo_m_____ ___t_ur_n o_n t_he li_gh_ts______"
    whole = spot(["call mom", "lights", "turn on"], path)
    assert [d.keyword for d in whole] == ["call mom", "turn on", "lights"]
    for chunk in (1, 2, 7):
        assert spot(["call mom", "lights", "turn on"], path, chunk=chunk) == whole


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
        "lights on=0.9",
    )
    detections = [line for line in lines if line["type"] == "keyword"]
    assert [d["keyword"] for d in detections] == ["call mom"]
    assert 0.05 < detections[0]["start_s"] < detections[0]["end_s"] < 0.8  # spoken from 0.05 to 0.77 s
    assert 0.5 < detections[0]["score"] <= 1.0
    assert lines[-1]["type"] == "summary" and lines[-1]["detections"] == 1


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_phrases_and_trained_keywords_side_by_side(client, cell):
    audio = Audio.from_array(fixture_clip("spoken_seven_yes.wav"), 16000)
    results = [result_dict(r) for r in client.stream_audio(audio, cell, keywords=["yes"], phrases={"seven": None})]
    heard = sorted(r["keyword"] for r in results if r["type"] == "keyword")
    assert heard == ["seven", "yes"]  # seven by the recogniser, yes by the keyword model


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
    # A chunk's last step, not the peak: a phrase that fired is spent, its score back to 0.
    assert max(s["call mom"] for s in scores) > 0.2 > max(s["jarvis"] for s in scores)
