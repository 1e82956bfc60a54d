"""Token guessing costs time: an address that keeps sending bad tokens is held off for the rest of its window, on a
real server on loopback and against a clock the test turns; health stays open; the table of addresses is bounded."""

import dataclasses
import logging
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rnnvoice.clients.client import Audio, VoiceClient
from rnnvoice.clients.connection import Connection
from rnnvoice.service.auth import RefusalLimit, parse_tokens, peer_address
from tests.conftest import Clock, ServerThread, rpc_error

ONE_SECOND = Audio.from_array(np.zeros(16000, np.float32), 16000)
TOKEN, WRONG = "k" * 24, "w" * 24
LIMIT, WINDOW_S = 3, 2.0


@pytest.fixture()
def guarded(settings):
    running = ServerThread(
        dataclasses.replace(
            settings,
            tokens=parse_tokens(f"kiosk {TOKEN} keywords", "test tokens"),
            auth_failures_per_window=LIMIT,
            auth_failure_window_s=WINDOW_S,
        )
    )
    yield running
    running.stop()


def client(server, token: str) -> VoiceClient:
    return VoiceClient(server.target, timeout_s=30, connection=Connection(token=token))


def ended(server, code: str) -> float:
    labels = {"task": "none", "cell": "none", "outcome": "rejected", "code": code}
    return server.server.metrics.registry.get_sample_value("rnnvoice_streams_ended_total", labels) or 0.0


def test_an_address_sending_bad_tokens_is_held_off_with_a_retry_hint_until_its_window_ends(guarded, caplog):
    with client(guarded, WRONG) as guess, client(guarded, TOKEN) as holder, caplog.at_level(logging.INFO):
        started = time.monotonic()
        for _ in range(LIMIT):
            assert rpc_error(lambda: guess.stream_audio(ONE_SECOND)).code() == grpc.StatusCode.UNAUTHENTICATED
        # Every call of the address is held off now, a valid token's too: else its answers would tell a right guess.
        held = [
            lambda: guess.stream_audio(ONE_SECOND),
            lambda: guess.recognize(ONE_SECOND),
            guess.list_models,
            lambda: holder.stream_audio(ONE_SECOND),
            lambda: holder.recognize(ONE_SECOND),
            holder.list_models,
        ]
        hints = []
        for call in held:
            error = rpc_error(call)
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert f"{LIMIT} calls from this address were refused for want of a valid token within 2 s" in (
                error.details()
            )
            hints.append(int(dict(error.trailing_metadata())["retry-after-ms"]) / 1000)
        assert all(0 < hint <= WINDOW_S for hint in hints) and hints == sorted(hints, reverse=True)
        for stub in (health_pb2_grpc.HealthStub(guess.channel), health_pb2_grpc.HealthStub(holder.channel)):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        # Streams and recordings refused count as rejected with their status; ListModels calls, as ever, do not.
        assert ended(guarded, "UNAUTHENTICATED") == LIMIT and ended(guarded, "RESOURCE_EXHAUSTED") == 4
        assert "127.0.0.1: 3 calls refused for want of a valid token within 2 s" in caplog.text
        assert TOKEN not in caplog.text and WRONG not in caplog.text
        # The client that waits as told is answered again: the valid token served, a bad one refused for itself.
        time.sleep(max(0.0, started + hints[0] - time.monotonic()) + 0.05)
        assert list(holder.stream_audio(ONE_SECOND))[-1].summary.audio_s == pytest.approx(1.0)
        assert rpc_error(lambda: guess.stream_audio(ONE_SECOND)).code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_window_holds_off_after_its_limit_and_ends_on_time():
    clock = Clock()
    limit = RefusalLimit(3, 60.0, clock=clock)
    peer = "ipv4:10.0.0.7:53122"
    for _ in range(2):
        limit.refused(peer)
    assert limit.held_off(peer) is None
    clock.now += 10
    limit.refused("ipv4:10.0.0.7:40000")  # another port of the same address
    error = limit.held_off(peer)
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and error.retry_after_s == pytest.approx(50.0)
    assert error.outcome == "rejected" and error.message.endswith("retry in 50 s")
    assert limit.held_off("ipv4:10.0.0.8:53122") is None
    clock.now += 50
    assert limit.held_off(peer) is None  # the window began at the first refusal and has ended
    limit.refused(peer)
    assert limit.windows == {"10.0.0.7": [160.0, 1]}  # a new window, counted from one


def test_the_table_of_addresses_is_bounded_and_forgets_the_oldest_window_first():
    clock = Clock()
    limit = RefusalLimit(1, 60.0, max_addresses=3, clock=clock)
    for n in range(5):
        limit.refused(f"ipv4:10.0.0.{n}:1")
        clock.now += 1
    assert list(limit.windows) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert limit.held_off("ipv4:10.0.0.0:1") is None and limit.held_off("ipv4:10.0.0.4:1") is not None
    clock.now += 60
    limit.refused("ipv4:10.0.0.9:1")  # ended windows go first, whatever the cap
    assert list(limit.windows) == ["10.0.0.9"]


def test_no_limit_keeps_nothing():
    limit = RefusalLimit(0, 60.0)
    for _ in range(100):
        limit.refused("ipv4:10.0.0.7:1")
    assert limit.held_off("ipv4:10.0.0.7:1") is None and not limit.windows


def test_peers_are_counted_by_address_and_ipv6_by_its_64():
    assert peer_address("ipv4:10.0.0.7:53122") == "10.0.0.7"
    assert peer_address("ipv6:[2001:db8:1:2:aaaa::1]:443") == "2001:db8:1:2::/64"
    assert peer_address("ipv6:[2001:db8:1:2:bbbb::9]:80") == "2001:db8:1:2::/64"
    assert peer_address("ipv6:[::ffff:10.0.0.7]:443") == "10.0.0.7"
    assert peer_address("ipv6:[fe80::1%eth0]:443") == "fe80::/64"
    assert peer_address("unix:/run/rnnvoice.sock") == "unix:/run/rnnvoice.sock"
