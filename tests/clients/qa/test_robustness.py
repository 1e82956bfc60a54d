"""Short passes of `rnnvoice fuzz` and `rnnvoice soak` against real servers on loopback."""

import dataclasses

import pytest

from rnnvoice.clients.client import read_audio
from rnnvoice.clients.connection import Connection
from rnnvoice.clients.qa.fuzz import fuzz
from rnnvoice.clients.qa.local_server import free_port
from rnnvoice.clients.qa.server_under_test import ServerUnderTest, loopback
from rnnvoice.clients.qa.soak import Soak, SoakPlan, first_difference, same_results
from rnnvoice.service.auth import parse_tokens
from tests.conftest import FIXTURES, ServerThread


@pytest.fixture(scope="module")
def fuzzed(metered_server):
    return fuzz(ServerUnderTest(metered_server.target, metered_server.metrics_url), inputs=400, seed=10)


@pytest.mark.slow
def test_fuzz_finds_no_crash_or_hang(fuzzed):
    assert fuzzed.inputs == 400
    assert fuzzed.crashes == 0 and fuzzed.hangs == 0
    methods = {key.split(" ")[0] for key in fuzzed.statuses}
    assert methods == {"stream", "recognize", "raw", "resumable"}
    assert fuzzed.statuses["stream accept OK"] > 0 and fuzzed.statuses["stream reject INVALID_ARGUMENT"] > 0
    assert fuzzed.rss_growth_bytes is not None


@pytest.mark.slow
def test_fuzz_finds_no_wrong_status(fuzzed):
    assert fuzzed.wrong_status == 0, fuzzed.wrong
    # Undecodable bytes and absurd float samples are refused as bad requests, not failed as server errors.
    assert fuzzed.statuses["raw stream either INVALID_ARGUMENT"] > 0


@pytest.fixture(scope="module")
def soak_server(settings):
    running = ServerThread(dataclasses.replace(settings, resume_window_s=1.0, metrics_port=free_port()))
    yield running
    running.stop()


@pytest.mark.slow
def test_soak_leaves_nothing_behind(soak_server):
    plan = SoakPlan(streams=40, concurrency=8, cut_every_s=0.5, silent_s=1.0, seed=3)
    report = Soak(
        ServerUnderTest(soak_server.target, soak_server.metrics_url),
        read_audio(FIXTURES / "spoken_seven_yes.wav"),
        plan,
    ).run()
    assert report.failed == 0, report.failures
    assert report.streams == 40 and set(report.kinds) == {
        "complete",
        "slow reader",
        "cancel",
        "disconnect",
        "silent peer",
        "oversized chunk",
    }
    assert report.completed > 10 and report.resumes > 0
    assert set(report.tasks) == {"keywords", "transcription", "assistant"}
    assert report.lost_chunks == 0 and report.duplicated_chunks == 0
    assert report.mismatched_results == 0, report.mismatches
    assert report.oversized_refused == report.kinds["oversized chunk"]
    assert report.leaked_sessions == 0 and report.parked_sessions == 0
    assert len(soak_server.server.servicer.sessions) == 0


def test_fuzz_and_soak_attack_only_loopback():
    assert loopback("127.0.0.1:50051") == "127.0.0.1:50051" and loopback("[::1]:1") == "[::1]:1"
    with pytest.raises(SystemExit, match="only a server on loopback"):
        loopback("10.0.0.1:50051")


def test_fuzz_reaches_a_server_that_asks_for_a_token(settings):
    token = "f" * 24
    guarded = ServerThread(dataclasses.replace(settings, tokens=parse_tokens(f"fuzzer {token}", "test tokens")))
    try:
        report = fuzz(ServerUnderTest(guarded.target, None, connection=Connection(token=token)), inputs=40, seed=1)
    finally:
        guarded.stop()
    assert report.inputs == 40 and report.crashes == 0 and report.hangs == 0
    assert report.wrong_status == 0, report.wrong  # no UNAUTHENTICATED: every call carried the token
    assert sum(n for key, n in report.statuses.items() if key.endswith(" OK")) > 0


def test_soak_takes_batching_rounding_and_nothing_else_for_the_same_results():
    scores = {"type": "scores", "time_s": 1.26, "scores": {"go": 0.0136, "yes": 0.75}}
    summary = {"type": "summary", "chunks": 35, "end_reason": "completed"}
    # One step of the wire's rounding apart, as two batches of other sizes can leave a score: the same results.
    assert same_results([scores, summary], [{**scores, "scores": {"go": 0.0137, "yes": 0.75}}, summary])
    # Anything more is not.
    assert not same_results([scores], [{**scores, "scores": {"go": 0.0139, "yes": 0.75}}])
    assert not same_results([scores], [{**scores, "scores": {"no": 0.0136, "yes": 0.75}}])
    assert not same_results([summary], [{**summary, "chunks": 34}])
    assert not same_results([scores, summary], [summary])
    assert "'go': (0.0136, 0.0139)" in first_difference([scores], [{**scores, "scores": {"go": 0.0139, "yes": 0.75}}])
