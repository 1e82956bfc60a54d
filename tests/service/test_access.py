"""Who gets in: TLS, mutual TLS and bearer tokens against real servers on loopback; health stays open."""

import dataclasses
import json
import logging
import os
import ssl
import subprocess
import sys
import threading
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rnnvoice.clients.client import Audio, VoiceClient, stream_config
from rnnvoice.clients.connection import Connection
from rnnvoice.service.auth import Access, parse_tokens
from rnnvoice.service.server import warn_if_open
from tests.certificates import make_certificates
from tests.conftest import FIXTURES, ServerThread, free_port, rpc_error, wait_until

ONE_SECOND = Audio.from_array(np.zeros(16000, np.float32), 16000)
KEYWORDS_TOKEN, TRANSCRIPTION_TOKEN = "k" * 24, "t" * 24
TOKENS = f"kiosk {KEYWORDS_TOKEN} keywords 1\nnotes {TRANSCRIPTION_TOKEN} transcription,assistant  # a comment"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def guarded(settings, certificates):
    """A server with TLS, tokens and metrics (over HTTPS)."""
    running = ServerThread(
        dataclasses.replace(
            settings,
            tls_cert=certificates.server_cert,
            tls_key=certificates.server_key,
            metrics_port=free_port(),
            tokens=parse_tokens(TOKENS, "test tokens"),
        )
    )
    yield running
    running.stop()


def client(server, certificates, token=None, **tls) -> VoiceClient:
    return VoiceClient(server.target, timeout_s=30, connection=Connection(ca=certificates.ca, token=token, **tls))


def test_a_token_reaches_the_tasks_it_is_given_and_no_others(guarded, certificates):
    with client(guarded, certificates, KEYWORDS_TOKEN) as c:
        assert list(c.stream_audio(ONE_SECOND))[-1].summary.audio_s == pytest.approx(1.0)
        assert len(c.list_models()) == 4
        error = rpc_error(lambda: c.stream_audio(ONE_SECOND, task="transcription"))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "'kiosk' may not use transcription" in error.details()
    with client(guarded, certificates, TRANSCRIPTION_TOKEN) as c:
        assert c.recognize(ONE_SECOND, task="transcription").summary.audio_s == pytest.approx(1.0)
        assert rpc_error(lambda: c.recognize(ONE_SECOND)).code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("token", [None, "wrong-token-of-24-chars!", KEYWORDS_TOKEN[:-1]])
def test_calls_without_a_valid_token_are_unauthenticated_and_health_stays_open(guarded, certificates, token):
    with client(guarded, certificates, token) as c:
        for call in (lambda: c.stream_audio(ONE_SECOND), lambda: c.recognize(ONE_SECOND), c.list_models):
            assert rpc_error(call).code() == grpc.StatusCode.UNAUTHENTICATED
        reply = health_pb2_grpc.HealthStub(c.channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert wait_until(lambda: len(guarded.server.servicer.sessions) == 0)


def test_a_tokens_stream_limit_is_resource_exhausted_with_a_retry_hint(guarded, certificates):
    gate = threading.Event()

    def held_open():
        yield np.zeros(1600, "<i2").tobytes()
        gate.wait(20)

    with client(guarded, certificates, KEYWORDS_TOKEN) as c:
        open_stream = c.stream(stream_config(ONE_SECOND), held_open())
        assert wait_until(lambda: len(guarded.server.servicer.sessions) == 1)
        error = rpc_error(lambda: c.stream_audio(ONE_SECOND))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "'kiosk' has its limit of 1 streams open; retry in 1 s" in error.details()
        assert dict(error.trailing_metadata())["retry-after-ms"] == "1000"
        # Another token's streams are not counted against it.
        with client(guarded, certificates, TRANSCRIPTION_TOKEN) as other:
            assert list(other.stream_audio(ONE_SECOND, task="transcription"))[-1].HasField("summary")
        gate.set()
        assert list(open_stream)[-1].HasField("summary")


def test_tls_refuses_plaintext_clients_and_untrusted_servers(guarded, certificates, tmp_path):
    with VoiceClient(guarded.target, timeout_s=10, connection=Connection(token=KEYWORDS_TOKEN)) as plain:
        assert rpc_error(plain.list_models).code() == grpc.StatusCode.UNAVAILABLE
    stranger = make_certificates(tmp_path)  # another CA, which did not sign the server's certificate
    with VoiceClient(guarded.target, timeout_s=10, connection=Connection(ca=stranger.ca, token=KEYWORDS_TOKEN)) as c:
        assert rpc_error(c.list_models).code() == grpc.StatusCode.UNAVAILABLE


def test_metrics_are_served_over_https_with_the_servers_certificate(guarded, certificates):
    context = ssl.create_default_context(cafile=str(certificates.ca))
    url = f"https://127.0.0.1:{guarded.server.settings.metrics_port}/metrics"
    with urllib.request.urlopen(url, context=context, timeout=30) as response:
        assert b"rnnvoice_active_streams" in response.read()
    with pytest.raises(OSError):  # the TLS endpoint drops a plain HTTP request
        urllib.request.urlopen(url.replace("https", "http"), timeout=30).read()


@pytest.mark.slow
def test_bench_measures_a_server_with_tls_and_tokens_through_its_https_metrics(guarded, certificates, tmp_path):
    report = tmp_path / "bench.json"
    metrics = f"https://127.0.0.1:{guarded.server.settings.metrics_port}/metrics"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnvoice.clients.cli",
            "bench",
            str(FIXTURES / "spoken_seven_yes.wav"),
            "--server",
            guarded.target,
            "--metrics",
            metrics,
            "--tls-ca",
            str(certificates.ca),
            "--tasks",
            "keywords",
            "--cells",
            "gru",
            "--start-streams",
            "1",
            "--max-streams",
            "1",
            "--level-s",
            "1",
            "--step-batch",
            "4",
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RNNVOICE_TOKEN": KEYWORDS_TOKEN},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    [level] = json.loads(report.read_text())["gru"]["levels"]
    # The server's own CPU and audio came through its HTTPS endpoint: the chunks it counted are the client's.
    assert level["failed_streams"] == 0 and level["server_chunks"] == level["chunks"] == 10
    assert 0 < level["cpu_ms_per_audio_s"] < 1000 and level["rss_bytes"] > 10_000_000


def test_mutual_tls_needs_a_client_certificate_the_ca_signed(settings, certificates):
    server = ServerThread(
        dataclasses.replace(
            settings, tls_cert=certificates.server_cert, tls_key=certificates.server_key, tls_client_ca=certificates.ca
        )
    )
    try:
        with client(server, certificates) as anonymous:
            assert rpc_error(anonymous.list_models).code() == grpc.StatusCode.UNAVAILABLE
        with client(server, certificates, cert=certificates.client_cert, key=certificates.client_key) as known:
            assert list(known.stream_audio(ONE_SECOND))[-1].summary.audio_s == pytest.approx(1.0)
    finally:
        server.stop()


def test_tokens_are_never_logged(guarded, certificates, caplog):
    with caplog.at_level(logging.DEBUG):
        for token in (KEYWORDS_TOKEN, "x" * 30):
            with client(guarded, certificates, token) as c:
                rpc_error(lambda: c.stream_audio(ONE_SECOND, task="transcription"))
    assert caplog.records and "kiosk" in caplog.text
    assert KEYWORDS_TOKEN not in caplog.text and "x" * 30 not in caplog.text


def test_a_public_address_without_tokens_is_warned_about_loudly(settings, caplog):
    with caplog.at_level(logging.WARNING):
        warn_if_open(dataclasses.replace(settings, host="[::]"), Access(()))
        assert "NO AUTHENTICATION" in caplog.text
        caplog.clear()
        warn_if_open(dataclasses.replace(settings, host="0.0.0.0"), Access(parse_tokens(TOKENS, "t")))
        assert "without TLS" in caplog.text
        caplog.clear()
        warn_if_open(dataclasses.replace(settings, host="127.0.0.1"), Access(()))
        assert caplog.text == ""


@pytest.mark.slow
def test_the_command_line_speaks_tls_and_tokens(certificates, tmp_path):
    """`rnnvoice serve` with TLS and a token file, `rnnvoice stream` and `rnnvoice health` against it."""
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKENS)
    port = free_port()
    command = [sys.executable, "-m", "rnnvoice.clients.cli"]
    server = subprocess.Popen(
        [
            *command,
            "serve",
            "--port",
            str(port),
            "--tls-cert",
            str(certificates.server_cert),
            "--tls-key",
            str(certificates.server_key),
            "--tokens",
            str(tokens),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        target, tls = f"localhost:{port}", ["--tls-ca", str(certificates.ca)]
        with VoiceClient(target, connection=Connection(ca=certificates.ca)) as c:
            c.wait_ready(60)
        health = subprocess.run(
            [*command, "health", "--server", target, *tls], capture_output=True, text=True, timeout=60
        )
        assert health.returncode == 0 and "SERVING" in health.stdout
        wav = str(FIXTURES / "spoken_seven_yes.wav")
        refused = subprocess.run(
            [*command, "stream", wav, "--server", target, *tls], capture_output=True, text=True, timeout=120
        )
        assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr
        allowed = subprocess.run(
            [*command, "stream", wav, "--server", target, *tls, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "RNNVOICE_TOKEN": KEYWORDS_TOKEN},
        )
        assert allowed.returncode == 0, allowed.stderr
        assert '"type": "summary"' in allowed.stdout.splitlines()[-1]
    finally:
        server.terminate()
        server.wait(30)
    assert KEYWORDS_TOKEN not in server.stderr.read()
