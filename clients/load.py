"""`rnnvoice load` and the benchmark's load: many concurrent streams of one recording from one asyncio event loop,
timing every chunk from its send to its first result."""

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import grpc
import numpy as np

from rnnvoice.clients.client import CELLS, Audio, stream_config
from rnnvoice.clients.connection import Connection
from rnnvoice.models.types import Task
from rnnvoice.protos import pb, pb_grpc


@dataclass
class CellLoad:
    """What the streams of one cell measured; compute and audio come from the server's stream summaries."""

    cell: str
    streams: int
    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    sent: int = 0  # chunks sent
    audio_s: float = 0.0
    compute_s: float = 0.0
    late_s: float = 0.0  # how far behind its schedule the client fell at worst: a slow client, not server
    errors: list[str] = field(default_factory=list)

    def latency_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) * 1000 if self.latencies_s else float("nan")

    @property
    def real_time_factor(self) -> float:
        """Compute seconds per audio second."""
        return self.compute_s / self.audio_s if self.audio_s else float("nan")


async def timed_stream(
    stub: pb_grpc.VoiceStub,
    load: CellLoad,
    config: pb.StreamConfig,
    chunks: list[bytes],
    chunk_s: float,
    realtime: bool,
    delay_s: float,
    metadata=(),
) -> None:
    """One stream of `chunks` (paced as live audio if realtime); adds its chunk latencies and summary to `load`."""
    await asyncio.sleep(delay_s)
    sent: dict[int, float] = {}
    call = stub.StreamAudio(metadata=metadata)

    async def write() -> None:
        await call.write(pb.StreamAudioRequest(config=config))
        started = time.perf_counter()
        for sequence, data in enumerate(chunks):
            if realtime:
                due = started + sequence * chunk_s
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    load.late_s = max(load.late_s, -wait)
            sent[sequence] = time.perf_counter()
            await call.write(pb.StreamAudioRequest(audio=pb.AudioChunk(sequence=sequence, data=data)))
            load.sent += 1
        await call.done_writing()

    writer = asyncio.ensure_future(write())
    answered = -1
    try:
        async for response in call:
            if response.HasField("summary"):
                load.audio_s += response.summary.audio_s
                load.compute_s += response.summary.compute_s
            elif response.sequence > answered and response.sequence in sent:
                answered = response.sequence
                load.latencies_s.append(time.perf_counter() - sent[response.sequence])
        await writer
    except grpc.RpcError as e:
        writer.cancel()
        load.errors.append(f"{e.code().name}: {e.details()}")


def load_config(audio: Audio, task: str, cell: str) -> pb.StreamConfig:
    """The configuration of every load stream. Interim scores (keywords) and results (the recognisers): chunks are
    answered as they complete model steps, so nearly every chunk is timed (a recogniser's chunk only when its
    partial result changes)."""
    return stream_config(
        audio, task=task, cell=cell, interim_scores=task == Task.KEYWORDS, interim_results=task != Task.KEYWORDS
    )


async def load_streams(
    target: str,
    audio: Audio,
    cell: str,
    streams: int,
    chunk_s: float = 0.1,
    realtime: bool = True,
    seconds: float | None = None,
    task: str = Task.KEYWORDS,
    during=None,
    connection: Connection = Connection(),
    connections: int = 1,
) -> CellLoad:
    """`streams` concurrent streams of the recording (looped to `seconds` of audio, default once), their starts
    spread over one chunk, dealt in turn to `connections` connections of their own (as many clients would open:
    a server of several workers takes each connection on one of them). `during`, if given, is awaited while the
    streams run (to sample the server)."""
    load = CellLoad(cell, streams)
    chunks = list(audio.chunks(chunk_s))
    if seconds is not None:
        chunks = [chunks[i % len(chunks)] for i in range(max(1, round(seconds / chunk_s)))]
    config = load_config(audio, task, cell)
    async with contextlib.AsyncExitStack() as channels:
        stubs = []
        for _ in range(connections):
            # A subchannel pool of its own: channels to one target would otherwise share one connection.
            channel = await channels.enter_async_context(
                connection.aio_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
            )
            await asyncio.wait_for(channel.channel_ready(), 30)
            stubs.append(pb_grpc.VoiceStub(channel))
        started = time.perf_counter()
        runs = [
            timed_stream(
                stubs[i % connections],
                load,
                config,
                chunks,
                chunk_s,
                realtime,
                i * chunk_s / streams,
                connection.metadata,
            )
            for i in range(streams)
        ]
        if during is not None:
            runs.append(during())
        await asyncio.gather(*runs)
        load.wall_s = time.perf_counter() - started
    return load


def run_load(
    target: str,
    audio: Audio,
    cell: str,
    streams: int,
    chunk_s: float = 0.1,
    realtime: bool = True,
    loops: int = 1,
    connection: Connection = Connection(),
) -> CellLoad:
    """`streams` concurrent keyword streams through one cell, each playing the recording `loops` times."""
    return asyncio.run(
        load_streams(target, audio, cell, streams, chunk_s, realtime, audio.seconds * loops, connection=connection)
    )


def cells_argument(text: str) -> list[str]:
    cells = [c for c in text.split(",") if c]
    if not cells or set(cells) - set(CELLS):
        raise SystemExit(f"--cells {text!r}: expected a comma-separated list of {', '.join(CELLS)}")
    return cells
