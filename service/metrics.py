"""Prometheus metrics of one server: a registry of its own, served on a port of its own."""

from collections.abc import Iterable

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from rnnvoice.models.nets.recurrent import RecurrentModel
from rnnvoice.models.types import Task
from rnnvoice.models.vocabulary import WAKE_WORD
from rnnvoice.service.exposition import serve_http
from rnnvoice.service.tls import ServerTls

LABELS = ("task", "cell")
# Per-chunk compute takes a few milliseconds and a result should reach the client in well under 100 ms;
# the buckets are dense there. Recognize's whole recordings land in the top buckets.
LATENCY_BUCKETS = (
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.004,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Streams in one batched model step: powers of two up to the largest batch worth having.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# Task and cell of a stream refused before its configuration named a loaded model.
NO_MODEL = ("none", "none")

# The detections label of every phrase chosen at run time (keywords streams): their text would make the series
# unbounded.
PHRASES_LABEL = "_phrase_"


class ModelMetrics:
    """The metrics of one (task, cell): the hooks its sessions call."""

    def __init__(self, metrics: "ServerMetrics", task: str, cell: str, keywords: Iterable[str]):
        self.compute = metrics.compute.labels(task, cell)
        self.latency = metrics.latency.labels(task, cell)
        self.audio = metrics.audio.labels(task, cell)
        self.active = metrics.active.labels(task, cell)
        self.resumes = metrics.resumes.labels(task, cell)
        self.final_results = metrics.finals.labels(task, cell)
        # Every keyword's series exists from the start, at zero, so rates over it are defined.
        self.detections = {k: metrics.detections.labels(task, cell, k) for k in keywords}

    def opened(self) -> None:
        self.active.inc()

    def closed(self) -> None:
        self.active.dec()

    def resumed(self) -> None:
        self.resumes.inc()

    def chunk(self, audio_s: float, compute_s: float) -> None:
        """One audio chunk went through features and the model."""
        self.compute.observe(compute_s)
        self.audio.inc(audio_s)

    def detected(self, keywords: Iterable[str]) -> None:
        for keyword in keywords:
            self.detections[keyword if keyword in self.detections else PHRASES_LABEL].inc()

    def finals(self, count: int) -> None:
        """Final transcripts (transcription) or commands (assistant) sent."""
        if count:
            self.final_results.inc(count)

    def results_sent(self, latency_s: float) -> None:
        """A chunk's responses were written, latency_s after the chunk arrived."""
        self.latency.observe(latency_s)


class ServerMetrics:
    """Every metric of one server, in a CollectorRegistry of its own so that servers in one process do not clash."""

    def __init__(self, models: dict[tuple[str, str], RecurrentModel]):
        disable_created_metrics()  # no *_created series beside every counter and histogram: nothing reads them
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.compute = Histogram(
            "rnnvoice_chunk_compute_seconds",
            "Features and model time per audio chunk",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            "rnnvoice_result_latency_seconds",
            "From receiving an audio chunk to having written the responses it produced",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Real-time factor: rate(rnnvoice_chunk_compute_seconds_sum) / rate(rnnvoice_audio_seconds_total).
        self.audio = Counter("rnnvoice_audio_seconds", "Audio processed, in seconds", LABELS, registry=r)
        self.active = Gauge("rnnvoice_active_streams", "Open streams, parked ones included", LABELS, registry=r)
        # Counted when scraped (SessionTable.count_parked): no step of a resume's can leave it wrong.
        self.parked = Gauge(
            "rnnvoice_parked_streams", "Resumable streams whose call was lost, kept for a resume", LABELS, registry=r
        )
        self.resumes = Counter("rnnvoice_stream_resumes", "Calls that resumed a stream", LABELS, registry=r)
        self.ended = Counter(
            "rnnvoice_streams_ended",
            "Streams ended, by outcome and gRPC status code",
            (*LABELS, "outcome", "code"),
            registry=r,
        )
        self.detections = Counter("rnnvoice_detections", "Keywords detected", (*LABELS, "keyword"), registry=r)
        self.finals = Counter(
            "rnnvoice_final_results", "Final transcripts or assistant commands sent", LABELS, registry=r
        )
        parameter_bytes = Gauge(
            "rnnvoice_model_parameter_bytes",
            "Memory of a model's parameters, shared by its streams",
            LABELS,
            registry=r,
        )
        state_bytes = Gauge("rnnvoice_stream_state_bytes", "Recurrent state one stream holds", LABELS, registry=r)
        # Labelled by the model's task and cell (an assistant's steps count under its two models).
        self.batch_size = Histogram(
            "rnnvoice_batch_size", "Streams in one batched model step", LABELS, buckets=BATCH_BUCKETS, registry=r
        )
        self.models = {}
        for (task, cell), model in models.items():
            parameter_bytes.labels(task, cell).set(sum(p.numel() * p.element_size() for p in model.parameters()))
            state_bytes.labels(task, cell).set(model.state_bytes)
        # Streams are labelled by their task: the assistant runs a keyword model and a recogniser together.
        for task, cell in stream_tasks(models):
            if task == Task.KEYWORDS:
                keywords = [*models[task, cell].config.keywords, PHRASES_LABEL]
            else:
                keywords = [WAKE_WORD] if task == Task.ASSISTANT else []
            self.models[task, cell] = ModelMetrics(self, task, cell, keywords)
            self.ended.labels(task, cell, "completed", grpc.StatusCode.OK.name)  # from zero, so its first rise shows
        self.http = None

    def batched(self, model: RecurrentModel, streams: int) -> None:
        """One model step ran over this many streams at once (the embeddings that phrases read are no model step)."""
        if streams and isinstance(model, RecurrentModel):
            self.batch_size.labels(model.config.task, model.config.cell).observe(streams)

    def stream_ended(self, model: tuple[str, str] | None, outcome: str, code: grpc.StatusCode) -> None:
        """outcome: completed (the client half-closed), drained (the server shut down), rejected (a status
        for a bad or unserviceable request), timed_out (idle, or the longest stream), cancelled (the client went
        away), failed (a server error); for resumable streams also parked (the call was lost, the stream kept)
        and expired (no resume in time)."""
        self.ended.labels(*(model or NO_MODEL), outcome, code.name).inc()

    def serve(self, host: str, port: int, tls: ServerTls | None = None) -> None:
        """Serves /metrics on host:port, over HTTPS where the server has TLS files (exposition.serve_http)."""
        self.http = serve_http(self.registry, host, port, tls)

    def close(self) -> None:
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
            self.http = None


def stream_tasks(models: dict[tuple[str, str], RecurrentModel]) -> list[tuple[str, str]]:
    """The (task, cell) pairs streams can ask for: each model's own task, and the assistant where both exist."""
    pairs = list(models)
    pairs += [
        (Task.ASSISTANT, cell)
        for task, cell in models
        if task == Task.KEYWORDS and (Task.TRANSCRIPTION, cell) in models
    ]
    return pairs
