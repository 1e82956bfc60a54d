"""Faults: a model that raises on one stream fails that stream alone; bad weight files stop start-up with a clear
message that names them."""

import dataclasses
import logging
import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest

from rnnvoice.clients.client import Audio, VoiceClient, stream_config
from rnnvoice.protos import pb
from rnnvoice.service.registry import ModelRegistry
from tests.conftest import ServerThread, rpc_error, wait_until

RNNVOICE = [sys.executable, "-m", "rnnvoice.clients.cli"]
RATE = 16000
# The faulty model raises on a step of at least FAULT_S of audio: the fault stream's one chunk of 5 s, never the
# healthy streams' chunks of 100 ms.
FAULT_S = 2.5
FAULT_CHUNK = np.zeros(RATE * 5, "<i2").tobytes()


def faulty_registry(settings) -> ModelRegistry:
    """The GRU keyword model of a registry of its own, broken for any stream whose chunk brings FAULT_S of steps."""
    registry = ModelRegistry({("keywords", "gru"): settings.models["keywords", "gru"]})
    model = registry.models["keywords", "gru"]
    encode = model.encode_padded
    fault_steps = round(FAULT_S / model.config.features.step_s)

    def encode_padded(x, lengths, state):
        if max(lengths) >= fault_steps:
            raise RuntimeError("injected fault")
        return encode(x, lengths, state)

    model.encode_padded = encode_padded
    return registry


@pytest.mark.parametrize("batching", [True, False])
def test_a_model_that_raises_on_one_stream_fails_that_stream_alone(settings, batching, caplog):
    server = ServerThread(dataclasses.replace(settings, batching=batching, batch_wait_ms=20), faulty_registry(settings))
    chunk = np.zeros(RATE // 10, "<i2").tobytes()
    config = stream_config(Audio(chunk, RATE))
    results, gate = {}, threading.Event()

    def healthy(name):
        def chunks():
            for i in range(20):
                if i == 5:
                    gate.wait(30)  # from here on the fault stream's chunk is among theirs
                yield chunk

        try:
            results[name] = list(c.stream(config, chunks(), pace_s=0.02))[-1].summary
        except grpc.RpcError as e:
            results[name] = e.code()

    try:
        with caplog.at_level(logging.ERROR), VoiceClient(server.target, timeout_s=60) as c:
            threads = [threading.Thread(target=healthy, args=(n,)) for n in range(3)]
            for t in threads:
                t.start()
            gate.set()
            error = rpc_error(lambda: c.stream(config, [FAULT_CHUNK]))
            for t in threads:
                t.join(60)
            assert error.code() == grpc.StatusCode.INTERNAL and "other streams go on" in error.details()
            assert all(isinstance(r, pb.StreamSummary) and r.audio_s == pytest.approx(2.0) for r in results.values()), (
                results
            )
            assert "injected fault" in caplog.text and "failed" in caplog.text
            assert list(c.stream(config, [chunk]))[-1].HasField("summary")  # and the server goes on
        assert wait_until(lambda: len(server.server.servicer.sessions) == 0)
    finally:
        server.stop()


def serve_error(*flags) -> str:
    """What `rnnvoice serve` says when it cannot start (it must exit 2, without a traceback)."""
    out = subprocess.run([*RNNVOICE, "serve", "--port", "0", *flags], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    return out.stderr


@pytest.mark.slow
def test_missing_or_corrupt_weights_stop_start_up_with_a_message_naming_the_file(tmp_path):
    assert "the keywords gru model file /missing.pt does not exist" in serve_error(
        "--model", "keywords:gru=/missing.pt"
    )
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    assert f"the keywords gru model file {corrupt} is not a readable rnnvoice model" in serve_error(
        "--model", f"keywords:gru={corrupt}"
    )


def test_a_speech_embedding_that_does_not_load_stops_start_up_not_the_streams(settings, tmp_path, monkeypatch):
    """A keyword model over the speech embedding loads the embedding with it: a damaged embedding file is a start-up
    error that says what to do, not a failure of every stream."""
    from rnnvoice.models.nets.speech_embedding import EMBEDDING_FILE, SpeechEmbedding
    from rnnvoice.models.streaming import embedding_front
    from rnnvoice.models.weights import WEIGHTS
    from rnnvoice.service.errors import StartupError

    damaged = tmp_path / EMBEDDING_FILE
    data = bytearray((WEIGHTS / EMBEDDING_FILE).read_bytes())
    data[-100] ^= 1
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(embedding_front, "speech_embedding", lambda: SpeechEmbedding.load(damaged))
    with pytest.raises(StartupError, match=r"reads the speech embedding, which did not load \(ValueError: .*SHA-256"):
        ModelRegistry({("keywords", "gru"): settings.models["keywords", "gru"]})
    monkeypatch.undo()
    assert ModelRegistry({("keywords", "gru"): settings.models["keywords", "gru"]}).models


@pytest.mark.slow
def test_bad_tls_and_token_files_stop_start_up_with_a_message_naming_them(tmp_path):
    assert "cannot read the TLS key file /missing.key: No such file" in serve_error(
        "--tls-cert", "/missing.pem", "--tls-key", "/missing.key"
    )
    assert "TLS needs both --tls-cert and --tls-key" in serve_error("--tls-cert", "/missing.pem")
    tokens = tmp_path / "tokens"
    tokens.write_text("kiosk short keywords\n")
    assert f"{tokens}, entry 1: the token of 'kiosk' has 5 characters" in serve_error("--tokens", str(tokens))
    tokens.write_text(f"kiosk {'k' * 20}\nkiosk {'q' * 20}\n")
    assert "every token entry needs a name and a token of its own" in serve_error("--tokens", str(tokens))
