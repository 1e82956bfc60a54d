"""`rnnvoice serve --workers N`: N server processes on one port (SO_REUSEPORT), each with its own scheduler, and
the supervisor that starts them together, forwards its signals to them, starts again one that dies and serves
their metrics as one endpoint. The workers share their limits (service.shared_limits) and relay resumes to one
another (service.relay) over Unix sockets in a folder only this user can enter."""

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, ProcessCollector, disable_created_metrics, generate_latest

from rnnvoice.protos import SERVICE_NAME
from rnnvoice.service.auth import load_tokens
from rnnvoice.service.errors import StartupError
from rnnvoice.service.exposition import Labelled, read_unix, serve_http
from rnnvoice.service.settings import ServerSettings
from rnnvoice.service.shared_limits import SharedState
from rnnvoice.service.tls import ServerTls

log = logging.getLogger(__name__)

SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch threads or gRPC state forked
# A worker that dies within this long of its start is started again after a wait, doubling up to the longest.
SHORT_LIFE_S = 10.0
FIRST_RESTART_WAIT_S = 1.0
LONGEST_RESTART_WAIT_S = 30.0
# After SIGTERM, how long past its grace period a worker may take to stop before it is killed.
STOP_MARGIN_S = 30.0
# What a worker tells its supervisor once it can serve, and what it is told once every worker can.
READY, SERVE = "ready", "serve"
# The limits the workers share, in the supervisor's folder (service/shared_limits.py).
SHARED_FILE = "shared"


@dataclass(frozen=True)
class WorkerPlace:
    """What a worker process knows of its place: its index, the number of its process (unique over the
    supervisor's life: resume tokens begin with it) and the supervisor's folder."""

    index: int
    incarnation: int
    workers: int
    folder: Path

    @property
    def sockets(self) -> list[str]:
        """Each worker's Unix socket, by index: where the others relay resumes to it."""
        return [str(self.folder / f"worker-{index}.sock") for index in range(self.workers)]

    @property
    def metrics_socket(self) -> str:
        return metrics_socket(self.folder, self.index)

    @property
    def shared_file(self) -> Path:
        return self.folder / SHARED_FILE

    @property
    def token_prefix(self) -> str:
        return f"{self.incarnation}."


def metrics_socket(folder: Path, index: int) -> str:
    """Where worker index answers its supervisor's scrapes."""
    return str(folder / f"metrics-{index}.sock")


class WorkerLink:
    """A worker's end of the pipe to its supervisor."""

    def __init__(self, place: WorkerPlace, connection: Connection):
        self.place = place
        self.connection = connection

    async def ready(self, stop: asyncio.Event) -> bool:
        """Tells the supervisor that this worker can serve, and waits for the word to (every worker is ready);
        False when stop was set first. stop is set whenever the supervisor goes away."""
        loop = asyncio.get_running_loop()
        told = loop.create_future()

        def readable() -> None:
            try:
                if self.connection.recv() == SERVE and not told.done():
                    told.set_result(True)
            except (EOFError, OSError):
                loop.remove_reader(self.connection.fileno())
                log.warning("the supervisor is gone: stopping")
                stop.set()

        loop.add_reader(self.connection.fileno(), readable)
        self.connection.send((READY, ""))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([told, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        return told.done()


def run_worker(settings: ServerSettings, place: WorkerPlace, connection: Connection, log_level: int) -> None:
    """A worker process: a VoiceServer until SIGTERM; a reason it cannot start goes to the supervisor."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until it can reload: the supervisor signals again once it can
    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s worker {place.index} %(name)s: %(message)s")
    from rnnvoice.service.server import serve  # torch and the models: the worker's, not the supervisor's

    try:
        asyncio.run(serve(settings, WorkerLink(place, connection)))
    except StartupError as e:
        connection.send(("error", str(e)))
        sys.exit(2)
    except KeyboardInterrupt:  # a terminal's Ctrl-C before it could drain: nothing was open
        sys.exit(130)


@dataclass
class Worker:
    """The supervisor's side of one worker process."""

    place: WorkerPlace
    process: multiprocessing.process.BaseProcess
    link: Connection
    started_s: float
    ready: bool = False
    reload_due: bool = False  # SIGHUP came before it could reload: it gets one once ready


class Supervisor:
    """The `serve` process of N workers: starts them, lets them serve once all can, starts again one that dies,
    passes its signals on, serves their metrics, and returns once all have stopped after SIGTERM or SIGINT."""

    def __init__(self, settings: ServerSettings, folder: Path):
        self.settings = settings
        self.folder = folder
        # Workers serve no metrics endpoint of their own: the supervisor serves theirs.
        self.worker_settings = dataclasses.replace(settings, metrics_port=0)
        self.state = SharedState(folder / SHARED_FILE, settings.workers, settings.max_streams)
        self.workers: list[Worker | None] = [None] * settings.workers
        self.incarnations = itertools.count(1)
        self.waits = [0.0] * settings.workers  # before each worker's next restart
        self.restarting: dict[int, asyncio.TimerHandle] = {}
        self.stopping = False
        self.started = False  # every worker served: one started again serves as soon as it is ready
        self.failure: str | None = None
        self.changed = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.tls = ServerTls.from_files(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
        disable_created_metrics()
        own = CollectorRegistry()
        ProcessCollector(registry=own)
        self.restarts = Counter(
            "rnnvoice_worker_restarts", "Workers started again after they died", ["worker"], registry=own
        )
        sources: dict[str, Callable[[], str]] = {"supervisor": lambda: generate_latest(own).decode()}
        for index in range(settings.workers):
            self.restarts.labels(str(index))
            sources[str(index)] = lambda i=index: read_unix(metrics_socket(folder, i))
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(Labelled(sources))

    async def run(self) -> None:
        """Starts the workers; once all are ready, lets them serve together; runs until they stopped."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.stop)
        self.loop.add_signal_handler(signal.SIGHUP, self.reload)
        s, http = self.settings, None
        if s.metrics_port:  # first: a port in use stops the server before any worker starts
            try:
                http = serve_http(self.registry, s.metrics_host, s.metrics_port, self.tls)
            except OSError as e:
                raise StartupError(f"cannot serve metrics on {s.metrics_host}:{s.metrics_port}: {e.strerror}") from None
        for index in range(len(self.workers)):
            self._start(index)
        await self._until(lambda: self.failure or self.stopping or all(w and w.ready for w in self.workers))
        if self.failure:
            self.stop()
        elif not self.stopping:
            for worker in self.workers:
                with contextlib.suppress(OSError):  # it died meanwhile: its exit says so
                    worker.link.send(SERVE)
            self.started = True
            log.info("serving %s on %s:%d with %d workers", SERVICE_NAME, s.host, s.port, len(self.workers))
        await self._until(lambda: self.stopping and not any(self.workers))
        if http is not None:
            http.shutdown()
            http.server_close()
        self.state.close()
        if self.failure:
            raise StartupError(self.failure)
        log.info("stopped")

    async def _until(self, done: Callable[[], object]) -> None:
        while not done():
            self.changed.clear()
            await self.changed.wait()

    def _start(self, index: int) -> None:
        self.restarting.pop(index, None)
        incarnation = next(self.incarnations)
        self.state.begin(index, incarnation)
        place = WorkerPlace(index, incarnation, len(self.workers), self.folder)
        link, theirs = SPAWN.Pipe()
        process = SPAWN.Process(
            target=run_worker,
            args=(self.worker_settings, place, theirs, logging.getLogger().level),
            name=f"rnnvoice-worker-{index}",
        )
        process.start()
        theirs.close()
        worker = self.workers[index] = Worker(place, process, link, time.monotonic())
        self.loop.add_reader(link.fileno(), self._heard, worker)
        self.loop.add_reader(process.sentinel, self._exited, worker)

    def _heard(self, worker: Worker) -> None:
        try:
            message = worker.link.recv()
        except (EOFError, OSError):
            self.loop.remove_reader(worker.link.fileno())
            return
        self._note(worker, *message)

    def _note(self, worker: Worker, kind: str, text: str) -> None:
        if kind == "error":
            log.error("worker %d cannot start: %s", worker.place.index, text)
            if not self.started:  # the server does not start; later, the worker is tried again
                self.failure = self.failure or text
        elif kind == READY:
            worker.ready = True
            with contextlib.suppress(OSError):  # it died meanwhile: its exit says so
                if self.started:
                    worker.link.send(SERVE)
                if worker.reload_due:
                    os.kill(worker.process.pid, signal.SIGHUP)
        self.changed.set()

    def _exited(self, worker: Worker) -> None:
        index, process = worker.place.index, worker.process
        self.loop.remove_reader(process.sentinel)
        if not worker.link.closed:
            self.loop.remove_reader(worker.link.fileno())
            with contextlib.suppress(EOFError, OSError):
                while worker.link.poll():  # what it said before it went: why it could not start
                    self._note(worker, *worker.link.recv())
            worker.link.close()
        process.join()
        self.state.end(index)
        self.workers[index] = None
        self.changed.set()
        code = process.exitcode
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        if self.stopping:
            log.info("worker %d (pid %d) stopped", index, process.pid)
            return
        if not self.started:
            self.failure = self.failure or f"worker {index} {how} before it could serve"
            return
        lived_s = time.monotonic() - worker.started_s
        wait_s = min(max(2 * self.waits[index], FIRST_RESTART_WAIT_S), LONGEST_RESTART_WAIT_S)
        self.waits[index] = 0.0 if lived_s > SHORT_LIFE_S else wait_s
        self.restarts.labels(str(index)).inc()
        log.warning(
            "worker %d (pid %d) %s after %.0f s; its streams are gone (resumes of its parked streams get "
            "NOT_FOUND); starting it again%s",
            index,
            process.pid,
            how,
            lived_s,
            f" in {self.waits[index]:g} s" if self.waits[index] else "",
        )
        self.restarting[index] = self.loop.call_later(self.waits[index], self._start, index)

    def stop(self) -> None:
        """SIGTERM or SIGINT: every worker drains its streams and stops; so does the supervisor after them."""
        if not self.stopping:
            log.info("shutting down: stopping %d workers", sum(w is not None for w in self.workers))
            self.loop.call_later(self.settings.grace_s + STOP_MARGIN_S, self._kill)
        self.stopping = True
        for timer in self.restarting.values():
            timer.cancel()
        self.restarting.clear()
        for worker in filter(None, self.workers):
            os.kill(worker.process.pid, signal.SIGTERM)
        self.changed.set()

    def _kill(self) -> None:
        for worker in filter(None, self.workers):
            log.error("worker %d did not stop in time: killing it", worker.place.index)
            worker.process.kill()

    def reload(self) -> None:
        """SIGHUP: every worker reads its token and TLS files again, and the supervisor its TLS files (metrics)."""
        log.info("reloading: signalling %d workers", sum(w is not None for w in self.workers))
        if self.tls is not None:
            try:
                self.tls.reload()
            except StartupError as e:
                log.error("TLS files NOT reloaded for the metrics endpoint: %s", e)
        for worker in filter(None, self.workers):
            if worker.ready:
                os.kill(worker.process.pid, signal.SIGHUP)
            else:
                worker.reload_due = True


async def supervise(settings: ServerSettings) -> None:
    """Runs settings.workers worker processes on one port until SIGTERM or SIGINT (serve --workers N)."""
    if settings.workers < 1:
        raise StartupError(f"--workers {settings.workers}: give 1 or more")
    if settings.port == 0:
        raise StartupError("--workers needs a --port: the workers share it, so it cannot be drawn at random")
    if settings.host.startswith("unix"):
        raise StartupError("--workers shares a TCP port: give --host an address, not a Unix socket")
    load_tokens(settings.tokens_file, settings.tokens)  # what the workers would fail on, said once, before them
    with tempfile.TemporaryDirectory(prefix="rnnvoice-") as folder:  # mode 0700: this user's only
        await Supervisor(settings, Path(folder)).run()
