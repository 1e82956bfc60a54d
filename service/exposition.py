"""Serving metrics: a registry over HTTP(S); with `serve --workers N`, each worker's over its Unix socket, and all
of them at the supervisor's one endpoint, labelled by worker."""

import asyncio
import logging
import socket
from collections.abc import Callable
from http.server import HTTPServer

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from rnnvoice.service.tls import ServerTls

log = logging.getLogger(__name__)

# How long the supervisor waits for one worker's metrics before leaving them out of a scrape.
WORKER_SCRAPE_TIMEOUT_S = 5.0


def serve_http(registry: CollectorRegistry, host: str, port: int, tls: ServerTls | None = None) -> HTTPServer:
    """Serves /metrics on host:port ("[::]" as gRPC writes it, or a plain address): over HTTPS with the server's
    certificate where it has one (and client certificates where it asks for them), else HTTP."""
    files = dict(certfile=str(tls.cert), keyfile=str(tls.key)) if tls else {}
    if tls and tls.client_ca:
        files |= dict(client_cafile=str(tls.client_ca), client_auth_required=True)
    http, _ = start_http_server(port, addr=host.strip("[]"), registry=registry, **files)
    if tls:
        # Every handshake then takes the server's TLS files as read last, so that a reload reaches them too.
        http.socket.context.sni_callback = tls.present
    log.info("serving metrics on %s:%d over %s", host, port, "HTTPS" if tls else "HTTP")
    return http


async def serve_unix(registry: CollectorRegistry, path: str) -> asyncio.Server:
    """A worker's metrics for its supervisor: each connection to the socket at path gets the text exposition."""

    async def answer(_, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await asyncio.to_thread(generate_latest, registry))
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_unix_server(answer, path)


def read_unix(path: str, timeout_s: float = WORKER_SCRAPE_TIMEOUT_S) -> str:
    """The text a worker's metrics socket answers."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout_s)
        s.connect(path)
        parts = []
        while part := s.recv(1 << 16):
            parts.append(part)
    return b"".join(parts).decode()


class Labelled:
    """A collector of the samples of several sources (each a function that returns a text exposition), every
    sample labelled worker=its source's name unless it has a worker label of its own. A source that does not
    answer (a worker starting again) is left out of that scrape."""

    def __init__(self, sources: dict[str, Callable[[], str]]):
        self.sources = sources

    def collect(self) -> list[Metric]:
        families: dict[str, Metric] = {}
        for name, read in self.sources.items():
            try:
                read_families = list(text_string_to_metric_families(read()))
            except (OSError, ValueError) as e:  # not there, or gone in the middle of its answer
                log.debug("no metrics from worker %s: %s", name, e)
                continue
            for family in read_families:
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type, family.unit)
                )
                merged.samples += [s._replace(labels={"worker": name, **s.labels}) for s in family.samples]
        return list(families.values())
