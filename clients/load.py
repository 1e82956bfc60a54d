"""`rnnvoice load`: many concurrent streams of one recording, timing every chunk from its send to its first result."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
import numpy as np

from rnnvoice.clients.client import CELLS, Audio, VoiceClient, paced, stream_config


@dataclass
class CellLoad:
    """What the streams of one cell measured; compute and audio come from the server's stream summaries."""

    cell: str
    streams: int
    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    audio_s: float = 0.0
    compute_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def latency_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) * 1000 if self.latencies_s else float("nan")

    @property
    def real_time_factor(self) -> float:
        """Compute seconds per audio second."""
        return self.compute_s / self.audio_s if self.audio_s else float("nan")

    def add(self, stream: "CellLoad") -> None:
        self.latencies_s += stream.latencies_s
        self.audio_s += stream.audio_s
        self.compute_s += stream.compute_s
        self.errors += stream.errors


def timed_stream(client: VoiceClient, audio: Audio, cell: str, chunk_s: float, realtime: bool, loops: int,
                 delay_s: float) -> CellLoad:
    """Streams the recording `loops` times over: each chunk's latency, and the server's summary."""
    time.sleep(delay_s)
    load = CellLoad(cell, 1)
    chunks = list(audio.chunks(chunk_s)) * loops
    sent: dict[int, float] = {}

    def timed(source):
        for sequence, data in enumerate(paced(source, chunk_s) if realtime else source):
            sent[sequence] = time.perf_counter()
            yield data

    answered = set()
    try:
        # Interim scores: every chunk that completes a model step is answered, so every chunk is timed.
        for response in client.stream(stream_config(audio, cell, interim_scores=True), timed(chunks)):
            if response.HasField("summary"):
                load.audio_s += response.summary.audio_s
                load.compute_s += response.summary.compute_s
            elif response.sequence not in answered:
                answered.add(response.sequence)
                load.latencies_s.append(time.perf_counter() - sent[response.sequence])
    except grpc.RpcError as e:
        load.errors.append(f"{e.code().name}: {e.details()}")
    return load


def run_load(target: str, audio: Audio, cell: str, streams: int, chunk_s: float = 0.1, realtime: bool = True,
             loops: int = 1) -> CellLoad:
    """`streams` concurrent streams through one cell, their starts spread over one chunk."""
    load = CellLoad(cell, streams)
    with VoiceClient(target, timeout_s=600) as client, ThreadPoolExecutor(streams) as pool:
        client.wait_ready(30)
        started = time.perf_counter()
        runs = [pool.submit(timed_stream, client, audio, cell, chunk_s, realtime, loops, i * chunk_s / streams)
                for i in range(streams)]
        for run in runs:
            load.add(run.result())
        load.wall_s = time.perf_counter() - started
    return load


def cells_argument(text: str) -> list[str]:
    cells = [c for c in text.split(",") if c]
    if not cells or set(cells) - set(CELLS):
        raise SystemExit(f"--cells {text!r}: expected a comma-separated list of {', '.join(CELLS)}")
    return cells
