"""Tokens and TLS files reload without a restart, against real servers on loopback: new calls and handshakes get the
files read last, streams and connections already open go on, and files that do not load change nothing."""

import dataclasses
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import urllib.request

import grpc
import numpy as np
import pytest

from rnnvoice.clients.client import Audio, VoiceClient, stream_config
from rnnvoice.clients.connection import Connection
from tests.certificates import make_certificates
from tests.conftest import ServerThread, free_port, rpc_error, wait_until

ONE_SECOND = Audio.from_array(np.zeros(16000, np.float32), 16000)
CHUNK = np.zeros(1600, "<i2").tobytes()  # 100 ms
KIOSK, NOTES, NEW, FIXED = "k" * 24, "n" * 24, "N" * 24, "f" * 24


def reload(running: ServerThread) -> None:
    async def on_its_loop():
        running.server.reload()

    running.call(on_its_loop())


def held_open(gate: threading.Event):
    """A stream's audio: a chunk, then nothing until the gate opens, then another."""
    yield CHUNK
    gate.wait(30)
    yield CHUNK


def certificates(folder):
    folder.mkdir()
    return make_certificates(folder)


def install(source, folder) -> None:
    """Puts a set of certificates' server files where the server reads its own."""
    shutil.copy(source.server_cert, folder / "server.pem")
    shutil.copy(source.server_key, folder / "server.key")


@pytest.fixture()
def token_file(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"kiosk {KIOSK} keywords\nnotes {NOTES}\n")
    return path


@pytest.fixture()
def reloadable(settings, token_file):
    running = ServerThread(dataclasses.replace(settings, tokens_file=token_file))
    yield running
    running.stop()


def client(server, token: str | None = None, **tls) -> VoiceClient:
    return VoiceClient(server.target, timeout_s=30, connection=Connection(token=token, **tls))


def test_a_reload_refuses_a_revoked_tokens_new_calls_and_takes_a_new_one_while_its_open_stream_goes_on(
    reloadable, token_file, caplog
):
    gate = threading.Event()
    with client(reloadable, KIOSK) as kiosk:
        open_stream = kiosk.stream(stream_config(ONE_SECOND), held_open(gate))
        assert wait_until(lambda: len(reloadable.server.servicer.sessions) == 1)
        token_file.write_text(f"notes {NOTES}\nnew {NEW} keywords\n")
        with caplog.at_level(logging.INFO):
            reload(reloadable)
        assert f"tokens reloaded from {token_file}: 2 in use (added new; removed kiosk)" in caplog.text
        assert KIOSK not in caplog.text and NEW not in caplog.text
        # A new call on the same connection is refused; the stream it opened before goes on to its summary.
        assert rpc_error(lambda: kiosk.stream_audio(ONE_SECOND)).code() == grpc.StatusCode.UNAUTHENTICATED
        gate.set()
        assert list(open_stream)[-1].summary.audio_s == pytest.approx(0.2)
    with client(reloadable, NEW) as new, client(reloadable, NOTES) as notes:
        assert list(new.stream_audio(ONE_SECOND))[-1].summary.audio_s == pytest.approx(1.0)
        assert rpc_error(lambda: new.recognize(ONE_SECOND, task="transcription")).code() == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        assert notes.recognize(ONE_SECOND, task="transcription").summary.audio_s == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        (f"kiosk {KIOSK}\nnotes short\n", "entry 2: the token of 'notes' has 5 characters"),
        (f"kiosk {KIOSK} keywords,nonsense\n", "entry 1: tasks 'keywords,nonsense'"),
        (f"kiosk {KIOSK}\nkiosk {NOTES}\n", "needs a name and a token of its own (RNNVOICE_TOKENS and the token file"),
        ("# every token revoked\n", "has no tokens: a reload cannot let every caller in"),
        (None, "cannot read the token file"),
    ],
    ids=["short token", "unknown task", "same name twice", "no tokens", "missing"],
)
def test_a_reload_that_does_not_load_keeps_the_tokens_in_use_and_says_where(
    reloadable, token_file, caplog, text, logged
):
    if text is None:
        token_file.unlink()
    else:
        token_file.write_text(text)
    with caplog.at_level(logging.INFO):
        reload(reloadable)
    assert "tokens NOT reloaded, the 2 in use are kept" in caplog.text and logged in caplog.text
    assert str(token_file) in caplog.text
    with client(reloadable, KIOSK) as kiosk, client(reloadable) as anonymous:
        assert len(kiosk.list_models()) == 4
        assert rpc_error(anonymous.list_models).code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_reload_cannot_ask_an_open_server_for_tokens(settings, tmp_path, caplog):
    empty = tmp_path / "tokens"
    empty.write_text("# nobody yet\n")
    running = ServerThread(dataclasses.replace(settings, tokens_file=empty))
    try:
        empty.write_text(f"kiosk {KIOSK}\n")
        with caplog.at_level(logging.INFO):
            reload(running)
        assert "this server started without any: a reload cannot ask for tokens; restart" in caplog.text
        with client(running) as anyone:
            assert len(anyone.list_models()) == 4
    finally:
        running.stop()


@pytest.fixture()
def rotating(settings, tmp_path):
    """A server with TLS and HTTPS metrics whose files are certificates.old's, in a folder of their own."""
    old, new = certificates(tmp_path / "old"), certificates(tmp_path / "new")
    live = tmp_path / "live"
    live.mkdir()
    install(old, live)
    running = ServerThread(
        dataclasses.replace(
            settings, tls_cert=live / "server.pem", tls_key=live / "server.key", metrics_port=free_port()
        )
    )
    yield running, old, new, live
    running.stop()


def metrics_served(server: ServerThread, ca, signed=None) -> bool:
    """Whether the metrics endpoint answers a client that trusts ca (and shows signed's client certificate)."""
    url = f"https://127.0.0.1:{server.server.settings.metrics_port}/metrics"
    context = ssl.create_default_context(cafile=str(ca))
    if signed is not None:
        context.load_cert_chain(signed.client_cert, signed.client_key)
    try:
        with urllib.request.urlopen(url, context=context, timeout=30) as response:
            return b"rnnvoice_active_streams" in response.read()
    except OSError:  # the certificate is not one the CA signed
        return False


def test_a_reload_presents_a_new_certificate_to_new_connections_while_open_ones_go_on(rotating, caplog):
    running, old, new, live = rotating
    gate = threading.Event()
    with client(running, ca=old.ca) as before:
        open_stream = before.stream(stream_config(ONE_SECOND), held_open(gate))
        assert wait_until(lambda: len(running.server.servicer.sessions) == 1)
        install(new, live)  # another CA's certificate
        with caplog.at_level(logging.INFO):
            reload(running)
        assert "TLS files reloaded" in caplog.text
        with client(running, ca=new.ca) as after:
            assert list(after.stream_audio(ONE_SECOND))[-1].summary.audio_s == pytest.approx(1.0)
        with client(running, ca=old.ca) as stale:
            assert rpc_error(stale.list_models).code() == grpc.StatusCode.UNAVAILABLE
        # The connection made before keeps its session: its open stream and new calls on it go on.
        assert len(before.list_models()) == 4
        gate.set()
        assert list(open_stream)[-1].summary.audio_s == pytest.approx(0.2)
    assert metrics_served(running, new.ca) and not metrics_served(running, old.ca)


def test_a_reload_of_tls_files_that_do_not_load_keeps_the_certificate_in_use(rotating, caplog):
    running, old, new, live = rotating
    shutil.copy(new.server_cert, live / "server.pem")  # the new certificate, the old key: a rotation half done
    with caplog.at_level(logging.INFO):
        reload(running)
    assert "TLS files NOT reloaded, new connections keep getting the certificate in use" in caplog.text
    assert f"{live / 'server.pem'} and key file {live / 'server.key'} do not load" in caplog.text
    with client(running, ca=old.ca) as c:
        assert len(c.list_models()) == 4
    assert metrics_served(running, old.ca)
    shutil.copy(new.server_key, live / "server.key")  # the rotation completed
    reload(running)
    with client(running, ca=new.ca) as c:
        assert len(c.list_models()) == 4


def test_a_reload_changes_the_ca_that_signs_client_certificates(settings, tmp_path):
    old, new = certificates(tmp_path / "old"), certificates(tmp_path / "new")
    client_ca = tmp_path / "client_ca.pem"
    shutil.copy(old.ca, client_ca)
    running = ServerThread(
        dataclasses.replace(
            settings,
            tls_cert=old.server_cert,
            tls_key=old.server_key,
            tls_client_ca=client_ca,
            metrics_port=free_port(),
        )
    )
    try:
        assert metrics_served(running, old.ca, signed=old) and not metrics_served(running, old.ca, signed=new)
        shutil.copy(new.ca, client_ca)
        reload(running)
        with client(running, ca=old.ca, cert=new.client_cert, key=new.client_key) as signed_by_new:
            assert len(signed_by_new.list_models()) == 4
        with client(running, ca=old.ca, cert=old.client_cert, key=old.client_key) as signed_by_old:
            assert rpc_error(signed_by_old.list_models).code() == grpc.StatusCode.UNAVAILABLE
        assert metrics_served(running, old.ca, signed=new) and not metrics_served(running, old.ca, signed=old)
    finally:
        running.stop()


class Log:
    """A process's stderr, read line by line on a thread of its own."""

    def __init__(self, stream):
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(stream), daemon=True).start()

    def shows(self, text: str, timeout_s: float = 30.0) -> bool:
        return wait_until(lambda: any(text in line for line in self.lines), timeout_s)

    @property
    def text(self) -> str:
        return "".join(self.lines)


@pytest.mark.slow
def test_sighup_reloads_the_tokens_and_certificate_of_rnnvoice_serve(tmp_path):
    """The command as an operator runs it: TLS, a token file and RNNVOICE_TOKENS; files rewritten, then SIGHUP."""
    old, new = certificates(tmp_path / "old"), certificates(tmp_path / "new")
    live = tmp_path / "live"
    live.mkdir()
    install(old, live)
    tokens = tmp_path / "tokens"
    tokens.write_text(f"kiosk {KIOSK} keywords\n")
    port = free_port()
    server = subprocess.Popen(
        [
            *[sys.executable, "-m", "rnnvoice.clients.cli", "serve", "--port", str(port)],
            *["--tls-cert", str(live / "server.pem"), "--tls-key", str(live / "server.key"), "--tokens", str(tokens)],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RNNVOICE_TOKENS": f"fixed {FIXED}"},
    )
    log = Log(server.stderr)
    target = f"127.0.0.1:{port}"

    def connect(token, ca):
        return VoiceClient(target, timeout_s=30, connection=Connection(token=token, ca=ca))

    try:
        gate = threading.Event()
        with connect(KIOSK, old.ca) as kiosk:
            kiosk.wait_ready(60)
            # Interim scores answer every chunk: the stream is open once its first is answered.
            open_stream = iter(kiosk.stream(stream_config(ONE_SECOND, interim_scores=True), held_open(gate)))
            assert next(open_stream).HasField("scores")
            tokens.write_text(f"new {NEW}\n")
            install(new, live)
            server.send_signal(signal.SIGHUP)
            assert log.shows("TLS files reloaded"), log.text
            assert "tokens reloaded" in log.text and "the 1 tokens of RNNVOICE_TOKENS stay as they are" in log.text
            assert rpc_error(lambda: kiosk.stream_audio(ONE_SECOND)).code() == grpc.StatusCode.UNAUTHENTICATED
            gate.set()
            assert list(open_stream)[-1].summary.audio_s == pytest.approx(0.2)
        for token in (NEW, FIXED):
            with connect(token, new.ca) as c:
                assert list(c.stream_audio(ONE_SECOND))[-1].summary.audio_s == pytest.approx(1.0)
        with connect(NEW, old.ca) as stale:
            assert rpc_error(stale.list_models).code() == grpc.StatusCode.UNAVAILABLE
        tokens.write_text(f"new {NEW}\nbroken\n")
        server.send_signal(signal.SIGHUP)
        assert log.shows(f"tokens NOT reloaded, the 2 in use are kept: {tokens}, entry 2: expected NAME TOKEN"), (
            log.text
        )
        with connect(NEW, new.ca) as c:
            assert len(c.list_models()) == 4
    finally:
        server.terminate()
        assert server.wait(30) == 0
    assert all(token not in log.text for token in (KIOSK, NEW, FIXED))
