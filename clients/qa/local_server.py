"""`rnnvoice serve` as a child process on free loopback ports, for the benchmark and the tests."""

import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from rnnvoice.clients.client import VoiceClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class LocalServer:
    process: subprocess.Popen
    target: str
    metrics_url: str


@contextlib.contextmanager
def local_server(
    *serve_args: str, ready_timeout_s: float = 120.0, program: tuple[str, ...] = ("rnnvoice.clients.cli", "serve")
) -> Iterator[LocalServer]:
    """Starts a server with metrics, waits until it serves, and stops it gracefully (SIGTERM) at the end.
    program: the module (and its arguments) that serves, given --host, --port and --metrics-port."""
    port, metrics_port = free_port(), free_port()
    command = [
        sys.executable,
        "-m",
        *program,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        *serve_args,
    ]
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: nobody has to keep reading it
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True)
        try:
            with VoiceClient(f"127.0.0.1:{port}") as client:
                try:
                    client.wait_ready(ready_timeout_s)
                except grpc.FutureTimeoutError:
                    process.kill()
                    process.wait()
                    log.seek(0)
                    raise RuntimeError(f"the server did not start:\n{log.read()[-2000:]}") from None
            yield LocalServer(process, f"127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics")
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
