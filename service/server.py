"""The gRPC server: the Voice service, health checking, reflection, who gets in, reloads, and graceful shutdown."""

import asyncio
import gc
import logging
import signal

import grpc
import torch
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rnnvoice.protos import SERVICE_NAME
from rnnvoice.service.auth import Access, RefusalLimit, TokenCheck, is_loopback, load_tokens
from rnnvoice.service.errors import StartupError, StreamError
from rnnvoice.service.exposition import serve_unix
from rnnvoice.service.limits import keepalive_options
from rnnvoice.service.metrics import ServerMetrics
from rnnvoice.service.registry import ModelRegistry
from rnnvoice.service.relay import Relay
from rnnvoice.service.servicer import VoiceServicer
from rnnvoice.service.settings import ServerSettings
from rnnvoice.service.shared_limits import SharedRefusalLimit, SharedState, SharedStreamCounts
from rnnvoice.service.tls import ServerTls
from rnnvoice.service.wire import add_voice_service
from rnnvoice.service.workers import WorkerLink, WorkerPlace

log = logging.getLogger(__name__)

# Allocations before a young collection, then young collections per middle one and middle ones per full one.
GC_THRESHOLDS = (50_000, 20, 100)
# The Voice methods whose every end the metrics count.
STREAM_METHODS = ("StreamAudio", "Recognize")
# After the grace period, for the statuses of the streams cut off then to go out, and for calls of other methods.
CUT_OFF_GRACE_S = 1.0


class VoiceServer:
    """A started server; `reload()` reads its token and TLS files again; `stop()` lets in-flight streams send their
    final results first."""

    def __init__(
        self, settings: ServerSettings, registry: ModelRegistry | None = None, place: WorkerPlace | None = None
    ):
        """place: this server is one of several workers (`serve --workers N`)."""
        self.settings = settings
        self.place = place
        self.tls = ServerTls.from_files(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
        window = (settings.auth_failures_per_window, settings.auth_failure_window_s)
        if place is None:
            refusals, counts = RefusalLimit(*window), None
        else:  # the limits hold for the whole server, whichever worker a call reaches
            shared = SharedState(place.shared_file, place.workers, settings.max_streams)
            refusals = SharedRefusalLimit(shared, *window)
            counts = SharedStreamCounts(shared, place.index, settings.max_streams, settings.retry_after_s)
        tokens = load_tokens(settings.tokens_file, settings.tokens)
        self.access = access = Access(tokens, refusals, relays=place is not None)
        self.registry = registry or ModelRegistry(settings.models, settings.device, settings.contexts)
        self.metrics = ServerMetrics(self.registry.models)
        limit = settings.max_message_bytes + 65536  # the configuration and framing beside the audio
        # Workers share the port; the kernel spreads new connections over them.
        shared_port = [("grpc.so_reuseport", 1)] if place else []
        self.server = grpc.aio.server(
            interceptors=[TokenCheck(access, self._refused)] if access.required else [],
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                *keepalive_options(settings),
                *shared_port,
            ],
        )
        self.relay = Relay(shared, place.index, place.sockets, self.metrics.registry) if place else None
        self.servicer = VoiceServicer(
            self.registry,
            settings,
            self.metrics,
            access,
            counts,
            place.token_prefix if place else "",
            self.relay,
        )
        add_voice_service(
            self.servicer,
            self.server,
            {"StreamAudio": settings.max_stream_message_bytes, "Recognize": settings.max_recognize_bytes},
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        address = f"{settings.host}:{settings.port}"
        self.port = (
            self.server.add_secure_port(address, self.tls.credentials)
            if self.tls
            else self.server.add_insecure_port(address)
        )
        if self.port == 0:
            raise StartupError(f"cannot listen on {address}")
        # Where the other workers relay resumes of this one's streams: plaintext, in the supervisor's folder.
        if place and not self.server.add_insecure_port(f"unix:{place.sockets[place.index]}"):
            raise StartupError(f"cannot listen on {place.sockets[place.index]}")
        self.exposition: asyncio.Server | None = None
        if place is None or place.index == 0:
            warn_if_open(settings, access)

    async def start(self) -> None:
        await self.server.start()
        s = self.settings
        if self.place is not None:
            self.exposition = await serve_unix(self.metrics.registry, self.place.metrics_socket)
        elif s.metrics_port:
            self.metrics.serve(s.metrics_host, s.metrics_port, self.tls)
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving %s on %s:%d (%s)", SERVICE_NAME, s.host, self.port, "TLS" if s.tls_cert else "plaintext")

    def _refused(self, method: str, error: StreamError) -> None:
        """Counts a call the token check refused, as the servicer counts those it ends: the calls that open a
        stream (a ListModels call is not counted, answered or refused)."""
        if method.rpartition("/")[2] in STREAM_METHODS:
            self.metrics.stream_ended(None, error.outcome, error.code)

    def reload(self) -> None:
        """Reads the token file and the TLS files again (SIGHUP). New calls and handshakes get what was read; calls
        and connections already open go on as they began. A file that does not load changes nothing: what is in
        use is kept, and the error logged."""
        s = self.settings
        if s.tokens_file is None and self.tls is None:
            log.warning("reload: nothing to read again (no --tokens file, no TLS)")
        if s.tokens_file is not None:
            try:
                self.access.replace(load_tokens(s.tokens_file, s.tokens), str(s.tokens_file))
            except StartupError as e:
                log.error("tokens NOT reloaded, the %d in use are kept: %s", len(self.access.grants), e)
            if s.tokens:
                log.info("the %d tokens of RNNVOICE_TOKENS stay as they are until a restart", len(s.tokens))
        if self.tls is not None:
            try:
                self.tls.reload()
            except StartupError as e:
                log.error("TLS files NOT reloaded, new connections keep getting the certificate in use: %s", e)

    async def stop(self) -> None:
        """Stops taking new work, ends every stream with its final results, then closes."""
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.servicer.drain()
        await self.servicer.end_drain(self.settings.grace_s)
        await self.server.stop(CUT_OFF_GRACE_S)
        self.servicer.engine.close()
        self.metrics.close()
        if self.exposition is not None:
            self.exposition.close()
        if self.relay is not None:
            await self.relay.close()
        log.info("stopped")


def warn_if_open(settings: ServerSettings, access: Access) -> None:
    """Says loudly when anyone who can reach the port may use the server, or read its tokens on the wire."""
    if is_loopback(settings.host):
        return
    if not access.required:
        log.warning(
            "!!! listening on %s with NO AUTHENTICATION: anyone who can reach port %d can use every model "
            "and every stream slot; give --tokens (and --tls-cert/--tls-key), or bind to 127.0.0.1 !!!",
            settings.host,
            settings.port,
        )
    elif settings.tls_cert is None:
        log.warning(
            "!!! listening on %s without TLS: tokens and audio cross the network in clear text; give "
            "--tls-cert and --tls-key !!!",
            settings.host,
        )


async def serve(settings: ServerSettings, worker: WorkerLink | None = None) -> None:
    """Runs until SIGTERM or SIGINT, then shuts down gracefully; reloads its token and TLS files on SIGHUP.
    worker: one of several (`serve --workers N`), which starts when its supervisor says."""
    torch.set_num_threads(settings.intra_op_threads)
    if settings.device.startswith("cuda"):
        # cuDNN's recurrent kernels round through TF32 by default: batched results would then differ from a
        # stream stepped alone by up to 1e-2 in log-probabilities (measured on an H200), not 1e-5.
        torch.backends.cudnn.allow_tf32 = False
    server = VoiceServer(settings, place=worker and worker.place)
    stop = asyncio.Event()
    if worker is None:
        await server.start()
        _on_signals(server, stop)
    else:
        # Its port listens already (connections wait); it serves once every worker can, so that they begin together.
        _on_signals(server, stop)
        if await worker.ready(stop):
            await server.start()
    # What start-up made (models, gRPC, torch's modules) lives as long as the server: the collector need not
    # walk it again on every full collection, each of which would stall the event loop and the batch for a while.
    gc.freeze()
    # Every chunk makes a few hundred short-lived objects (messages, futures, arrays' wrappers): with the default
    # young generation of 700 the collector ran every few chunks, and its older generations, which hold every
    # open stream, every few hundred. Fewer collections took about a tenth off the server's CPU per second of
    # audio at 250 keyword streams (3.3-3.7 ms against 4.0-4.1, alternating runs); the garbage waiting for
    # them is at most a few megabytes.
    gc.set_threshold(*GC_THRESHOLDS)
    await stop.wait()
    log.info("shutting down: finishing %d open streams", len(server.servicer.sessions))
    await server.stop()


def _on_signals(server: VoiceServer, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, server.reload)
