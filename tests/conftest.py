"""Shared fixtures: a real rnnvoice server on loopback, clients, and the real recordings in fixtures/."""

import asyncio
import contextlib
import dataclasses
import shutil
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from rnnvoice.clients.client import VoiceClient, result_dict
from rnnvoice.clients.qa.local_server import free_port
from rnnvoice.models.data.corpus import load_clip
from rnnvoice.models.weights import shipped_models
from rnnvoice.service.registry import ModelRegistry
from rnnvoice.service.server import VoiceServer
from rnnvoice.service.settings import ServerSettings

FIXTURES = Path(__file__).parent / "fixtures"


class ServerThread:
    """A VoiceServer on its own event loop in a background thread, listening on loopback."""

    def __init__(self, settings: ServerSettings, registry: ModelRegistry | None = None):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self.call(self._start(settings, registry))
        self.target = f"127.0.0.1:{self.server.port}"

    @staticmethod
    async def _start(settings: ServerSettings, registry: ModelRegistry | None) -> VoiceServer:
        server = VoiceServer(settings, registry)
        await server.start()
        return server

    @property
    def metrics_url(self) -> str:
        """The metrics endpoint: HTTPS when the server has TLS files, as it serves them there too."""
        scheme = "https" if self.server.settings.tls_cert else "http"
        return f"{scheme}://127.0.0.1:{self.server.settings.metrics_port}/metrics"

    def call(self, coroutine, timeout_s: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def stop(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session")
def settings() -> ServerSettings:
    models = shipped_models()
    assert set(models) == {(t, c) for t in ("keywords", "transcription") for c in ("gru", "lstm")}, (
        "the shipped models are missing"
    )
    return ServerSettings(host="127.0.0.1", port=0, models=models, grace_s=5.0)


@pytest.fixture(scope="session")
def server(settings) -> ServerThread:
    running = ServerThread(settings)
    yield running
    running.stop()


@pytest.fixture()
def client(server) -> VoiceClient:
    with VoiceClient(server.target, timeout_s=60) as c:
        c.wait_ready()
        yield c


@pytest.fixture(scope="session")
def metered_server(settings) -> ServerThread:
    """A server that serves its Prometheus metrics too (at .metrics_url)."""
    running = ServerThread(dataclasses.replace(settings, metrics_port=free_port()))
    yield running
    running.stop()


@pytest.fixture()
def limited_server(settings):
    """A second server with small limits, for the tests of those limits."""
    running = ServerThread(dataclasses.replace(settings, max_streams=2, max_chunk_s=1.0, max_recording_s=5.0))
    yield running
    running.stop()


class Clock:
    """A monotonic clock the test moves by hand (`now`), for limits that count time."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fixture_clip(name: str, rate: int = 16000) -> np.ndarray:
    return load_clip(FIXTURES / name, rate).numpy()


def rpc_error(call) -> grpc.RpcError:
    """Runs a call that must fail; returns its error."""
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if hasattr(result, "__iter__") and not isinstance(result, (bytes, str)):
            list(result)
    return info.value


def wait_until(predicate, timeout_s: float = 10.0) -> bool:
    """Polls until predicate() holds; returns whether it did in time."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="module")
def real_folders(tmp_path_factory):
    """The fixture clips laid out as Speech Commands and FSDD folders."""
    root = tmp_path_factory.mktemp("real")
    for word in ("yes", "stop", "left", "go"):
        (root / "sc" / word).mkdir(parents=True)
        shutil.copy(FIXTURES / f"{word}_sc.wav", root / "sc" / word / "b83c1acf_nohash_0.wav")
    (root / "fsdd").mkdir()
    for digit, word in ((7, "seven"), (3, "three"), (5, "five"), (9, "nine"), (1, "one")):
        for speaker in ("lucas", "george"):
            shutil.copy(FIXTURES / f"{word}_lucas.wav", root / "fsdd" / f"{digit}_{speaker}_0.wav")
    (root / "noise").mkdir()
    shutil.copy(FIXTURES / "noise_dishes.wav", root / "noise")
    return root


@pytest.fixture(scope="module")
def keyword_corpus(real_folders, tmp_path_factory):
    """A keyword corpus of `rnnvoice data` from those folders: a few synthetic voices, half the speakers held out."""
    from rnnvoice.clients.cli import main

    corpus = tmp_path_factory.mktemp("corpus") / "kws"
    assert (
        main(
            [
                "data",
                "--out",
                str(corpus),
                "--speech-commands",
                str(real_folders / "sc"),
                "--fsdd",
                str(real_folders / "fsdd"),
                "--noise",
                str(real_folders / "noise"),
                "--keyword-takes",
                "2",
                "--unknown-takes",
                "0",
                "--phrase-takes",
                "0",
                "--heldout-fraction",
                "0.5",
            ]
        )
        == 0
    )
    return corpus


def results(responses) -> list[dict]:
    """The results as plain values, without the one thing that may differ between runs: compute time."""
    out = [result_dict(r) for r in responses]
    assert out[-1].pop("compute_s") >= 0
    return out


@contextlib.contextmanager
def cutting_every(proxy, cut, interval_s: float = 0.05):
    """While the block runs, a cutting proxy's connections are cut every interval_s: alternately a reset both
    sides see and one only the client sees."""
    done = threading.Event()

    def cutter():
        while not done.wait(interval_s):
            cut(silent=proxy.cuts % 2 == 1)

    thread = threading.Thread(target=cutter)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
