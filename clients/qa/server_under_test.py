"""The server `rnnvoice fuzz` and `rnnvoice soak` work on: one they start on loopback, or a running one on loopback."""

import contextlib
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass

from rnnvoice.clients.connection import Connection
from rnnvoice.clients.qa.local_server import local_server
from rnnvoice.clients.qa.scrape import scrape, value


@dataclass(frozen=True)
class ServerUnderTest:
    target: str
    metrics_url: str | None
    pid: int | None = None  # where the server is a child of this process
    connection: Connection = Connection()  # TLS and the token of a running server

    def alive(self) -> bool:
        return self.pid is None or os.path.exists(f"/proc/{self.pid}") and _state(self.pid) not in ("Z", "X")

    def rss_bytes(self) -> int | None:
        """The server's resident memory: from /proc for a child (with its own children: a server of several
        workers is a supervisor and its worker processes), else from its metrics (None without them)."""
        if self.pid is not None:
            return sum(_rss_bytes(pid) for pid in _process_tree(self.pid))
        return int(value(scrape(self.metrics_url), "process_resident_memory_bytes")) if self.metrics_url else None

    def gauge(self, name: str) -> float | None:
        """A metric summed over its labels (e.g. rnnvoice_active_streams); None without metrics."""
        return value(scrape(self.metrics_url), name) if self.metrics_url else None


def _process_tree(pid: int) -> Iterator[int]:
    yield pid
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            for child in children.read().split():
                yield from _process_tree(int(child))
    except FileNotFoundError:  # it ended meanwhile
        return


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return 1024 * int(next((line.split()[1] for line in status if line.startswith("VmRSS:")), 0))
    except FileNotFoundError:
        return 0


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0]


def loopback(target: str) -> str:
    """target itself, if it is a loopback host:port; these commands attack what they talk to."""
    host = target.rpartition(":")[0].strip("[]")
    try:
        is_loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = False
    if not is_loopback:
        raise SystemExit(f"--server {target}: only a server on loopback (127.0.0.1, [::1], localhost) may be used")
    return target


@contextlib.contextmanager
def server_under_test(
    server: str | None, metrics_url: str | None, *serve_args: str, connection: Connection = Connection()
) -> Iterator[ServerUnderTest]:
    """The server at `server` (loopback only; reached with connection), or one started with serve_args and stopped
    at the end."""
    if server:
        yield ServerUnderTest(loopback(server), metrics_url, connection=connection)
        return
    with local_server(*serve_args) as started:
        yield ServerUnderTest(started.target, started.metrics_url, started.process.pid)
