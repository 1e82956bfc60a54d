"""The gRPC server: the Voice service, health checking, reflection and graceful shutdown."""

import asyncio
import logging
import signal

import grpc
import torch
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rnnvoice.protos import SERVICE_NAME, pb_grpc
from rnnvoice.service.metrics import ServerMetrics
from rnnvoice.service.registry import ModelRegistry
from rnnvoice.service.servicer import VoiceServicer
from rnnvoice.service.settings import ServerSettings

log = logging.getLogger(__name__)


class VoiceServer:
    """A started server; `stop()` lets in-flight streams send their final results first."""

    def __init__(self, settings: ServerSettings, registry: ModelRegistry | None = None):
        self.settings = settings
        self.registry = registry or ModelRegistry(settings.models, settings.device)
        limit = settings.max_message_bytes
        self.server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ])
        self.metrics = ServerMetrics(self.registry.models)
        self.servicer = VoiceServicer(self.registry, settings, self.metrics)
        pb_grpc.add_VoiceServicer_to_server(self.servicer, self.server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        self.port = self.server.add_insecure_port(f"{settings.host}:{settings.port}")
        if self.port == 0:
            raise OSError(f"cannot listen on {settings.host}:{settings.port}")

    async def start(self) -> None:
        await self.server.start()
        if self.settings.metrics_port:
            self.metrics.serve(self.settings.host, self.settings.metrics_port)
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving %s on port %d", SERVICE_NAME, self.port)

    async def stop(self) -> None:
        """Stops taking new work, ends every stream with its final results, then closes."""
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.servicer.drain()
        await self.server.stop(self.settings.grace_s)
        self.servicer.engine.close()
        self.metrics.close()
        log.info("stopped")


async def serve(settings: ServerSettings) -> None:
    """Runs until SIGTERM or SIGINT, then shuts down gracefully."""
    torch.set_num_threads(settings.intra_op_threads)
    server = VoiceServer(settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: finishing %d open streams", len(server.servicer.sessions))
    await server.stop()
