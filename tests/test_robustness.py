"""Short passes of `rnnvoice fuzz` and `rnnvoice soak` against real servers on loopback."""

import dataclasses

import pytest

from rnnvoice.clients.client import read_audio
from rnnvoice.clients.fuzz import fuzz
from rnnvoice.clients.local_server import free_port
from rnnvoice.clients.server_under_test import ServerUnderTest, loopback
from rnnvoice.clients.soak import Soak, SoakPlan
from tests.conftest import FIXTURES, ServerThread

# What today's server still answers wrongly; validating requests and samples fixes both (then this and the xfail go).
OPEN_PROBLEMS = {("raw stream", "bytes", "UNKNOWN"), ("raw recognize", "bytes", "UNKNOWN"),
                 ("stream", "absurd", "OK"), ("recognize", "absurd", "OK")}


@pytest.fixture(scope="module")
def fuzzed(metered_server):
    return fuzz(ServerUnderTest(metered_server.target, metered_server.metrics_url), inputs=400, seed=10)


def test_fuzz_finds_no_crash_or_hang(fuzzed):
    assert fuzzed.inputs == 400
    assert fuzzed.crashes == 0 and fuzzed.hangs == 0
    methods = {key.split(" ")[0] for key in fuzzed.statuses}
    assert methods == {"stream", "recognize", "raw", "resumable"}
    assert fuzzed.statuses["stream accept OK"] > 0 and fuzzed.statuses["stream reject INVALID_ARGUMENT"] > 0
    assert {(w["method"], w["input"], w["code"]) for w in fuzzed.wrong} <= OPEN_PROBLEMS, fuzzed.wrong
    assert fuzzed.rss_growth_bytes is not None


@pytest.mark.xfail(strict=True, reason="undecodable requests get UNKNOWN and absurd float samples are accepted, "
                                       "until requests and samples are validated as the hardening work plans")
def test_fuzz_finds_no_wrong_status(fuzzed):
    assert fuzzed.wrong_status == 0, fuzzed.wrong


@pytest.fixture(scope="module")
def soak_server(settings):
    running = ServerThread(dataclasses.replace(settings, resume_window_s=1.0, metrics_port=free_port()))
    yield running
    running.stop()


def test_soak_leaves_nothing_behind(soak_server):
    plan = SoakPlan(streams=40, concurrency=8, cut_every_s=0.5, silent_s=1.0, seed=3)
    report = Soak(ServerUnderTest(soak_server.target, soak_server.metrics_url),
                  read_audio(FIXTURES / "spoken_seven_yes.wav"), plan).run()
    assert report.failed == 0, report.failures
    assert report.streams == 40 and set(report.kinds) == {"complete", "slow reader", "cancel", "disconnect",
                                                          "silent peer", "oversized chunk"}
    assert report.completed > 10 and report.resumes > 0
    assert report.lost_chunks == 0 and report.duplicated_chunks == 0 and report.mismatched_results == 0
    assert report.oversized_refused == report.kinds["oversized chunk"]
    assert report.leaked_sessions == 0 and report.parked_sessions == 0
    assert len(soak_server.server.servicer.sessions) == 0


def test_fuzz_and_soak_attack_only_loopback():
    assert loopback("127.0.0.1:50051") == "127.0.0.1:50051" and loopback("[::1]:1") == "[::1]:1"
    with pytest.raises(SystemExit, match="only a server on loopback"):
        loopback("10.0.0.1:50051")
