"""Server settings: one frozen dataclass, filled from flags and the environment at the entry point."""

from dataclasses import dataclass, field
from pathlib import Path

from rnnvoice.models.weights import shipped_models


@dataclass(frozen=True)
class ServerSettings:
    host: str = "[::]"
    port: int = 50051
    # (task, cell) -> weights file; the shipped GRU and LSTM keyword models by default.
    models: dict[tuple[str, str], Path] = field(default_factory=shipped_models)
    max_streams: int = 256
    # Longest audio one chunk may carry, and one Recognize call.
    max_chunk_s: float = 10.0
    max_recording_s: float = 600.0
    # How long a resumable stream whose call was lost is kept (and counted against max_streams) for a resume.
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
    # Seconds in-flight streams get to finish on shutdown.
    grace_s: float = 10.0
    # Port of the Prometheus /metrics endpoint, on the same host; 0 serves none.
    metrics_port: int = 0

    @property
    def max_message_bytes(self) -> int:
        """Enough for a whole recording of max_recording_s at 48 kHz float stereo."""
        return int(self.max_recording_s * 48000 * 4 * 2) + 65536
