"""The gRPC server: the Voice service, health checking, reflection, who gets in, and graceful shutdown."""

import asyncio
import gc
import logging
import signal

import grpc
import torch
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rnnvoice.protos import SERVICE_NAME
from rnnvoice.service.auth import Access, TokenCheck, is_loopback, server_credentials
from rnnvoice.service.errors import StartupError
from rnnvoice.service.limits import keepalive_options
from rnnvoice.service.metrics import ServerMetrics
from rnnvoice.service.registry import ModelRegistry
from rnnvoice.service.servicer import VoiceServicer
from rnnvoice.service.settings import ServerSettings
from rnnvoice.service.wire import add_voice_service

log = logging.getLogger(__name__)

# Allocations before a young collection, then young collections per middle one and middle ones per full one.
GC_THRESHOLDS = (50_000, 20, 100)


class VoiceServer:
    """A started server; `stop()` lets in-flight streams send their final results first."""

    def __init__(self, settings: ServerSettings, registry: ModelRegistry | None = None):
        self.settings = settings
        credentials = server_credentials(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
        access = Access(settings.tokens)
        self.registry = registry or ModelRegistry(settings.models, settings.device)
        limit = settings.max_message_bytes + 65536  # the configuration and framing beside the audio
        self.server = grpc.aio.server(
            interceptors=[TokenCheck(access)] if access.required else [],
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                *keepalive_options(settings),
            ],
        )
        self.metrics = ServerMetrics(self.registry.models)
        self.servicer = VoiceServicer(self.registry, settings, self.metrics, access)
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
            self.server.add_secure_port(address, credentials) if credentials else self.server.add_insecure_port(address)
        )
        if self.port == 0:
            raise StartupError(f"cannot listen on {address}")
        warn_if_open(settings, access)

    async def start(self) -> None:
        await self.server.start()
        s = self.settings
        if s.metrics_port:
            self.metrics.serve(s.metrics_host, s.metrics_port, s.tls_cert, s.tls_key, s.tls_client_ca)
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving %s on %s:%d (%s)", SERVICE_NAME, s.host, self.port, "TLS" if s.tls_cert else "plaintext")

    async def stop(self) -> None:
        """Stops taking new work, ends every stream with its final results, then closes."""
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.servicer.drain()
        await self.server.stop(self.settings.grace_s)
        self.servicer.engine.close()
        self.metrics.close()
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


async def serve(settings: ServerSettings) -> None:
    """Runs until SIGTERM or SIGINT, then shuts down gracefully."""
    torch.set_num_threads(settings.intra_op_threads)
    if settings.device.startswith("cuda"):
        # cuDNN's recurrent kernels round through TF32 by default: batched results would then differ from a
        # stream stepped alone by up to 1e-2 in log-probabilities (measured on an H200), not 1e-5.
        torch.backends.cudnn.allow_tf32 = False
    server = VoiceServer(settings)
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: finishing %d open streams", len(server.servicer.sessions))
    await server.stop()
