"""`rnnvoice load`: many concurrent streams of one recording, timing every chunk from its send to its first result."""

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
import numpy as np

from rnnvoice.clients.client import CELLS, Audio, VoiceClient, paced, read_audio, stream_config


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


def load_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recording", help="a real recording (any format soundfile reads), streamed by every stream")
    p.add_argument("--server", default="localhost:50051", help="host:port of the server or load balancer")
    p.add_argument("--cells", default="gru,lstm", help="comma-separated cells, run one after the other")
    p.add_argument("--streams", type=int, default=8, help="concurrent streams per cell")
    p.add_argument("--chunk-ms", type=float, default=100.0)
    p.add_argument("--fast", action="store_true", help="send as fast as the server takes it, not at the audio's pace")
    p.add_argument("--loops", type=int, default=1, help="times each stream plays the recording")


def cells_argument(text: str) -> list[str]:
    cells = [c for c in text.split(",") if c]
    if not cells or set(cells) - set(CELLS):
        raise SystemExit(f"--cells {text!r}: expected a comma-separated list of {', '.join(CELLS)}")
    return cells


def load_command(args) -> int:
    audio = read_audio(args.recording)
    failed = False
    for cell in cells_argument(args.cells):
        load = run_load(args.server, audio, cell, args.streams, args.chunk_ms / 1000, not args.fast, args.loops)
        print(f"{cell}: {load.streams} streams, {len(load.latencies_s)} chunks in {load.wall_s:.1f} s, latency "
              f"median {load.latency_ms(50):.1f} ms, p90 {load.latency_ms(90):.1f} ms, p99 {load.latency_ms(99):.1f} ms, "
              f"real-time factor {load.real_time_factor:.4f}, {len(load.errors)} failed streams")
        for error in sorted(set(load.errors)):
            print(f"  {error}", file=sys.stderr)
        failed |= bool(load.errors)
    return 1 if failed else 0

