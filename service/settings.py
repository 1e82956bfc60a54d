"""Server settings: one frozen dataclass, filled from flags and the environment at the entry point."""

from dataclasses import dataclass, field
from pathlib import Path

from rnnvoice.models.weights import shipped_models
from rnnvoice.service.auth import Grant

MIB = 1 << 20


@dataclass(frozen=True)
class ServerSettings:
    # Loopback unless told otherwise: a public address is a decision (the container makes it).
    host: str = "127.0.0.1"
    port: int = 50051
    # (task, cell) -> weights file; the shipped GRU and LSTM keyword models by default.
    models: dict[tuple[str, str], Path] = field(default_factory=shipped_models)
    # Contexts streams may name (AssistantConfig.context): name -> Rhino context YAML, compiled at start-up.
    contexts: dict[str, Path] = field(default_factory=dict)
    # TLS: the server's certificate chain and key (PEM); with client_ca, clients must show a certificate it signed.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # Bearer tokens and what each may do, and a file of more, read at start and again on SIGHUP (tokens stay as
    # they are: RNNVOICE_TOKENS's); none in either: every caller may do everything.
    tokens: tuple[Grant, ...] = ()
    tokens_file: Path | None = None
    # An address from which this many calls were refused UNAUTHENTICATED within the window gets RESOURCE_EXHAUSTED
    # for every call until the window ends (0: never).
    auth_failures_per_window: int = 20
    auth_failure_window_s: float = 60.0
    max_streams: int = 256
    # The retry hint of a refusal for capacity (the stream limit, overall or a token's).
    retry_after_s: float = 1.0
    # A stream that sends no audio for this long ends with DEADLINE_EXCEEDED; none lasts longer than max_stream_s.
    idle_timeout_s: float = 30.0
    max_stream_s: float = 4 * 3600.0
    # HTTP/2 pings after this long without traffic find a silent peer; it has keepalive_timeout_s to answer.
    keepalive_s: float = 60.0
    keepalive_timeout_s: float = 20.0
    # Audio one stream may send ahead of real time: burst_s at once, then realtime_factor seconds per second;
    # beyond that the server stops reading it and HTTP/2 flow control holds the client back.
    realtime_factor: float = 10.0
    burst_s: float = 10.0
    # Longest audio one chunk may carry, and one Recognize call.
    max_chunk_s: float = 10.0
    max_recording_s: float = 600.0
    # Largest request message per method: a StreamAudio request, and a Recognize call's whole recording.
    max_stream_message_bytes: int = 1 * MIB
    max_recognize_bytes: int = 3 * MIB
    # How long a resumable stream whose call was lost is kept (and counted against max_streams and its token's
    # limit) for a resume; never longer than idle_timeout_s, the longest a stream may hold its slot without audio.
    resume_window_s: float = 30.0
    # Steps of all streams batched by one scheduler (False: each stream on its own, on inference_threads).
    batching: bool = True
    # How long the scheduler waits for more streams once one has a chunk, and the most streams in one step.
    batch_wait_ms: float = 2.0
    max_batch: int = 512
    # Threads running model steps of the per-stream path; streams queue for them.
    inference_threads: int = 2
    # Threads inside one torch operation: many small streams parallelise across streams, not inside a product.
    intra_op_threads: int = 1
    # Where the models run: "cpu", or "cuda" where a GPU exists.
    device: str = "cpu"
    # Server processes on the one port, each with its own scheduler and event loop, the limits shared (one process
    # stays near one core); above 1 a supervisor process starts them (service/workers.py).
    workers: int = 1
    # Seconds in-flight streams get to finish on shutdown.
    grace_s: float = 10.0
    # The Prometheus /metrics endpoint (HTTPS with the server's TLS settings); port 0 serves none.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0

    @property
    def max_message_bytes(self) -> int:
        """What gRPC itself receives: the largest request of any method (it refuses more from the length prefix,
        before the message arrives); each method's own limit is checked before its message is parsed."""
        return max(self.max_stream_message_bytes, self.max_recognize_bytes)
