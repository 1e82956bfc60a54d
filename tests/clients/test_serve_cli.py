"""`rnnvoice serve` and `rnnvoice stream` as a user runs them: real processes, loopback, signals."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile

from rnnvoice.clients.client import Audio, VoiceClient, stream_config
from rnnvoice.protos import pb
from tests.conftest import FIXTURES, fixture_clip, free_port, wait_until

RNNVOICE = [sys.executable, "-m", "rnnvoice.clients.cli"]


@contextlib.contextmanager
def served(*args: str):
    """`rnnvoice serve` on a free loopback port with these arguments, until the block ends: (process, a client of
    it, its port)."""
    port = free_port()
    process = subprocess.Popen(
        [*RNNVOICE, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = VoiceClient(f"127.0.0.1:{port}", timeout_s=60)
    try:
        client.wait_ready(timeout_s=60)
        yield process, client, port
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
        process.wait(10)


@pytest.fixture()
def serve_process():
    with served("--grace", "5") as running:
        yield running


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_drains_open_streams_with_their_summary_and_says_so(serve_process, sig):
    process, client, _ = serve_process
    gate = threading.Event()
    chunk = np.zeros(1600, "<i2").tobytes()

    def chunks():
        for _ in range(5):
            yield chunk
        gate.wait(30)  # the client keeps the stream open, with more to send; the server ends it

    # Interim scores answer every chunk, so the test knows when all five were processed.
    responses = client.stream(stream_config(Audio(chunk, 16000), interim_scores=True), chunks())
    results, errors = [], []

    def read():
        try:
            results.extend(responses)
        except grpc.RpcError as e:
            errors.append(e)

    reader = threading.Thread(target=read)
    reader.start()
    assert wait_until(lambda: len(results) == 5, timeout_s=30)
    os.kill(process.pid, sig)
    reader.join(30)
    gate.set()
    summary = results[-1].summary
    assert summary.audio_s == pytest.approx(0.5) and summary.end_reason == pb.STREAM_END_DRAINED
    # The status says so too: audio the client still had was not processed, and another server may take it.
    assert errors[0].code() == grpc.StatusCode.UNAVAILABLE and "shutting down" in errors[0].details()
    assert process.wait(30) == 0
    log = process.stdout.read()
    assert "shutting down" in log and "stopped" in log


@pytest.mark.slow
def test_stream_command_prints_json_lines(serve_process, tmp_path):
    _, _, port = serve_process
    wav = tmp_path / "stereo_float.wav"
    rng = np.random.default_rng(0)
    soundfile.write(wav, (rng.standard_normal((44100, 2)) * 0.01).astype(np.float32), 44100, subtype="FLOAT")
    out = subprocess.run(
        [
            *RNNVOICE,
            "stream",
            str(wav),
            "--server",
            f"127.0.0.1:{port}",
            "--cell",
            "lstm",
            "--json",
            "--chunk-ms",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines[-1]["type"] == "summary"
    assert lines[-1]["audio_s"] == pytest.approx(1.0) and lines[-1]["chunks"] == 20


@pytest.mark.slow
def test_stream_command_reports_server_errors(serve_process, tmp_path):
    _, _, port = serve_process
    wav = tmp_path / "odd_rate.wav"
    soundfile.write(wav, np.zeros(12345, np.int16), 12345)
    out = subprocess.run(
        [*RNNVOICE, "stream", str(wav), "--server", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 1
    assert "INVALID_ARGUMENT: unsupported sample rate 12345 Hz" in out.stderr


def test_stream_command_says_what_is_wrong_with_a_recording_without_a_traceback(tmp_path):
    for path, reason in ((tmp_path / "missing.wav", "no such file"), (Path(__file__), "")):
        out = subprocess.run(
            [*RNNVOICE, "stream", str(path), "--server", "127.0.0.1:1"], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert f"error: cannot read the recording {path}: {reason}" in out.stderr


@pytest.mark.slow
def test_stream_command_sets_the_wake_words_sensitivity_in_assistant_mode(serve_process):
    _, _, port = serve_process
    out = subprocess.run(
        [
            *RNNVOICE,
            "stream",
            str(FIXTURES / "computer_awb.wav"),
            "--server",
            f"127.0.0.1:{port}",
            "--task",
            "assistant",
            "--sensitivity",
            "0.7",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["end_reason"] == "completed"


@pytest.mark.slow
def test_serve_loads_contexts_that_assistant_streams_name(tmp_path):
    context = tmp_path / "home.yml"
    context.write_text('context:\n  expressions:\n    call: ["call $contact:who"]\n  slots:\n    contact: [mom, dad]\n')
    broken = tmp_path / "broken.yml"
    broken.write_text("context:\n  expressions:\n    call: ['call $person:who']\n")
    out = subprocess.run(
        [*RNNVOICE, "serve", "--context", f"bad={broken}"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"error: context 'bad' ({broken}): line 3: 'call $person:who' uses slot type 'person'" in out.stderr

    wave = np.concatenate([np.zeros(16000, np.float32), fixture_clip("computer_awb.wav"), np.zeros(4800, np.float32)])
    wave = np.concatenate([wave, fixture_clip("call_mom_norbert.wav"), np.zeros(8000, np.float32)])
    soundfile.write(tmp_path / "command.wav", wave, 16000)
    with served("--context", f"home={context}") as (_, client, port):
        assert list(client.stub.ListModels(pb.ListModelsRequest(), timeout=30).contexts) == ["home"]
        args = ["stream", str(tmp_path / "command.wav"), "--server", f"127.0.0.1:{port}", "--task", "assistant"]
        out = subprocess.run(
            [*RNNVOICE, *args, "--context", "home", "--json"], capture_output=True, text=True, timeout=120
        )
    assert out.returncode == 0, out.stderr
    [command] = [json.loads(line) for line in out.stdout.splitlines() if '"intent"' in line]
    assert command["understood"] and command["intent"] == "call" and command["slots"] == {"who": "mom"}
