"""`rnnvoice bench`: how many real-time streams a server sustains, GRU beside LSTM, batched beside per-stream.

For each task and cell it ramps the number of concurrent real-time streams (one client process, one event loop)
until the 99th percentile of chunk latency passes the limit, and reports the largest level that stayed within it:
chunk latency as the client sees it, the server process's CPU per second of audio per stream (its own
process_cpu_seconds_total) and the load generator's beside it, its memory per extra stream (the slope of its RSS
over the levels kept), batching's gain in sustained streams over the per-stream path, and how close the batched cell
step comes to the multiply-add rate of plain matrix products of the same shapes on this machine.

At a fixed number of streams per task it also measures the overhead: the server's CPU per second of audio against
the least any server could spend on as many streams, the transport floor (a server that only answers as many of
the chunks, clients/qa/transport_floor.py, measured the same way) plus the engine alone (the server's own streams
stepped together in this process). And the same ramp on servers of several workers (serve --workers), their
streams dealt over several connections as many clients' would be.
"""

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnvoice.clients.client import Audio
from rnnvoice.clients.connection import Connection
from rnnvoice.clients.load import load_config, load_streams
from rnnvoice.clients.qa.local_server import local_server
from rnnvoice.clients.qa.scrape import scrape, value
from rnnvoice.models.audio.pcm import decode
from rnnvoice.models.nets.recurrent import RecurrentModel
from rnnvoice.models.streaming.model_step import ModelLane, step_lanes
from rnnvoice.models.streaming.stream import step_streams
from rnnvoice.models.types import Cell, Task
from rnnvoice.protos import pb, pb_grpc
from rnnvoice.service.registry import ModelRegistry
from rnnvoice.service.requests import parse_config
from rnnvoice.service.sessions import open_stream
from rnnvoice.service.settings import ServerSettings

TASKS = (Task.KEYWORDS, Task.TRANSCRIPTION)
# (key, row label) of the printed table, per task and cell.
ROWS = (
    ("max_realtime_streams", "sustained real-time streams"),
    ("p50_chunk_latency_ms", "chunk latency p50 (ms)"),
    ("p99_chunk_latency_ms", "chunk latency p99 (ms)"),
    ("cpu_ms_per_audio_s", "server CPU ms per audio s"),
    ("client_cpu_ms_per_audio_s", "load generator CPU ms per audio s"),
    ("marginal_bytes_per_stream", "server bytes per extra stream"),
    ("idle_bytes_per_stream", "  the same, streams open and idle"),
    ("per_stream_max_streams", "sustained, --no-batching"),
    ("batched_speedup", "batching's gain (x)"),
    ("cell_step_matmul_fraction", "cell step / matmul rate"),
    ("overhead_streams", "streams, for the overhead:"),
    ("overhead_cpu_ms_per_audio_s", "  server CPU ms per audio s"),
    ("floor_cpu_ms_per_audio_s", "  transport floor"),
    ("engine_alone_cpu_ms_per_audio_s", "  engine alone"),
    ("overhead_ratio", "  server / (floor + engine)"),
)


@dataclass(frozen=True)
class Ramp:
    start: int = 10  # streams at the first level
    growth: float = 1.5  # each level has this many times the streams of the one before
    max_streams: int = 2000
    level_s: float = 5.0  # audio each stream of a level plays, in real time
    chunk_s: float = 0.1
    p99_limit_ms: float = 100.0
    # Once a level misses, levels between it and the last kept halve the gap until it is this share of the kept.
    resolution: float = 0.1
    # Connections the streams are dealt to: the kernel hands each to one worker of a server of several.
    connections: int = 8

    def levels(self):
        n = self.start
        while n <= self.max_streams:
            yield n
            n = max(n + 1, round(n * self.growth))


def _delta(before: list, after: list, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def measure_level(
    target: str,
    metrics_url: str,
    audio: Audio,
    task: str,
    cell: str,
    streams: int,
    ramp: Ramp,
    connection: Connection = Connection(),
) -> dict:
    """One level: `streams` real-time streams at once; latency, server CPU and memory while they ran."""
    rss = []
    context = connection.ssl_context() if metrics_url.startswith("https:") else None

    def metrics():
        return scrape(metrics_url, context=context)

    async def sample_memory():  # halfway through, when every stream is open
        await asyncio.sleep(ramp.level_s / 2)
        rss.append(value(await asyncio.to_thread(metrics), "process_resident_memory_bytes"))

    before = await asyncio.to_thread(metrics)
    client_cpu_s = time.process_time()  # this process: the load generator, on the same cores as the server
    load = await load_streams(
        target,
        audio,
        cell,
        streams,
        ramp.chunk_s,
        True,
        ramp.level_s,
        task,
        sample_memory,
        connection,
        ramp.connections,
    )
    client_cpu_s = time.process_time() - client_cpu_s
    after = await asyncio.to_thread(metrics)
    labels = {"task": task, "cell": cell}
    audio_s = _delta(before, after, "rnnvoice_audio_seconds_total", **labels)
    cpu_s = _delta(before, after, "process_cpu_seconds_total")
    return {
        "streams": streams,
        "p50_chunk_latency_ms": load.latency_ms(50),
        "p99_chunk_latency_ms": load.latency_ms(99),
        "chunks": len(load.latencies_s),  # answered, as the client timed them
        "sent_chunks": load.sent,
        "server_chunks": _delta(before, after, "rnnvoice_result_latency_seconds_count", **labels),
        "cpu_ms_per_audio_s": cpu_s * 1000 / audio_s if audio_s else math.nan,
        "client_cpu_ms_per_audio_s": client_cpu_s * 1000 / audio_s if audio_s else math.nan,
        "rss_bytes": rss[0] if rss else math.nan,
        "client_late_ms": load.late_s * 1000,
        "failed_streams": len(load.errors),
    }


# Streams held open and idle this long after the server heard their audio before its memory is read.
IDLE_S = 1.0


async def idle_memory(
    target: str, metrics_url: str, audio: Audio, task: str, cell: str, counts: tuple[int, ...], chunks: int = 10
) -> dict:
    """Server memory per open stream, away from any backlog: at each count, that many streams open at once, each
    sends `chunks` chunks of the recording and then waits, open, until the server has heard them all and IDLE_S
    more, and its RSS is read; then all end. The slope of RSS against streams over the counts (`memory_slope`)."""
    config = load_config(audio, task, cell)
    requests = [pb.StreamAudioRequest(config=config)] + [
        pb.StreamAudioRequest(audio=pb.AudioChunk(sequence=i, data=data))
        for i, data in enumerate(list(audio.chunks(0.1))[:chunks])
    ]
    heard_s = sum(len(r.audio.data) for r in requests[1:]) / audio.frame_bytes / audio.sample_rate

    def heard() -> float:
        return value(scrape(metrics_url), "rnnvoice_audio_seconds_total", task=task, cell=cell)

    levels = []
    async with Connection().aio_channel(target) as channel:
        stub = pb_grpc.VoiceStub(channel)
        for streams in counts:
            before = await asyncio.to_thread(heard)
            calls = [stub.StreamAudio() for _ in range(streams)]
            for call in calls:
                for request in requests:
                    await call.write(request)
            try:
                async with asyncio.timeout(120):
                    while await asyncio.to_thread(heard) - before < streams * heard_s - 1e-6:
                        await asyncio.sleep(0.2)
            except TimeoutError:
                raise RuntimeError(f"the server did not hear {streams} idle streams' audio within 120 s") from None
            await asyncio.sleep(IDLE_S)  # idle streams: a server's memory once it has had nothing to do for a while
            rss = value(await asyncio.to_thread(scrape, metrics_url), "process_resident_memory_bytes")
            levels.append({"streams": streams, "rss_bytes": rss})
            for call in calls:
                call.cancel()
            await asyncio.sleep(1.0)  # the server closes them
    return {"levels": levels, "bytes_per_stream": memory_slope(levels)}


def sustained(level: dict, ramp: Ramp) -> bool:
    return level["failed_streams"] == 0 and level["p99_chunk_latency_ms"] <= ramp.p99_limit_ms


async def search(ramp: Ramp, measure: Callable[[int], Awaitable[dict]]) -> list[dict]:
    """The levels measured: more and more streams until one misses the latency limit twice running, then levels
    between the last kept and that one, halving the gap down to the ramp's resolution; in order of streams."""

    async def twice(streams: int) -> dict:
        level = await measure(streams)
        if not sustained(level, ramp):  # once more: one stall of a busy machine is not the server's limit
            level = await measure(streams)
        return level

    levels = []
    for streams in ramp.levels():
        levels.append(await twice(streams))
        if not sustained(levels[-1], ramp):
            break
    kept = [lv["streams"] for lv in levels if sustained(lv, ramp)]
    if kept and not sustained(levels[-1], ramp):
        low, high = kept[-1], levels[-1]["streams"]
        while high - low > max(1, round(low * ramp.resolution)):
            middle = (low + high) // 2
            levels.append(await twice(middle))
            low, high = (middle, high) if sustained(levels[-1], ramp) else (low, middle)
    return sorted(levels, key=lambda lv: lv["streams"])


async def ramp_up(
    target: str,
    metrics_url: str,
    audio: Audio,
    task: str,
    cell: str,
    ramp: Ramp,
    progress: Callable[[dict], None],
    connection: Connection = Connection(),
) -> dict:
    """`search` on this server, task and cell; the report of the most streams kept within the limit."""

    async def measure(streams: int) -> dict:
        level = await measure_level(target, metrics_url, audio, task, cell, streams, ramp, connection)
        progress(level)
        return level

    levels = await search(ramp, measure)
    kept = [lv for lv in levels if sustained(lv, ramp)]
    best = max(kept, key=lambda lv: lv["streams"]) if kept else None
    report = {"max_realtime_streams": best["streams"] if best else 0, "levels": levels}
    for key in ("p50_chunk_latency_ms", "p99_chunk_latency_ms", "cpu_ms_per_audio_s", "client_cpu_ms_per_audio_s"):
        report[key] = best[key] if best else math.nan
    # Levels kept only: one that falls behind holds a backlog of chunks and results, not more streams' state.
    report["marginal_bytes_per_stream"] = memory_slope(kept)
    return report


def memory_slope(levels: list[dict]) -> float:
    """Server bytes per extra stream: the slope of RSS against streams over these levels (NaN for fewer than two)."""
    memory = [(lv["streams"], lv["rss_bytes"]) for lv in levels if not math.isnan(lv["rss_bytes"])]
    return float(np.polyfit(*zip(*memory), 1)[0]) if len({n for n, _ in memory}) >= 2 else math.nan


def served_cpu(
    model: Path, cell: str, audio: Audio, streams: int, batched: bool, repeats: int = 3, level_s: float = 5.0
) -> dict:
    """A keyword model served alone by a server of its own, batched or not (`--no-batching`): `repeats` levels of
    `streams` real-time streams, each measured as the ramp measures one; their server CPU per second of audio per
    stream (mean and spread), worst p99 chunk latency and failed streams."""
    flags = ["--model", f"{Task.KEYWORDS}:{cell}={model}", "--max-streams", str(streams + 16)]
    ramp = Ramp(level_s=level_s)
    with local_server(*flags, *([] if batched else ["--no-batching"])) as server:
        levels = [
            asyncio.run(measure_level(server.target, server.metrics_url, audio, Task.KEYWORDS, cell, streams, ramp))
            for _ in range(repeats)
        ]
    cpu = [lv["cpu_ms_per_audio_s"] for lv in levels]
    return {
        "streams": streams,
        "cpu_ms_per_audio_s": float(np.mean(cpu)),
        "cpu_ms_per_audio_s_std": float(np.std(cpu, ddof=1)) if len(cpu) > 1 else 0.0,
        "p99_chunk_latency_ms": max(lv["p99_chunk_latency_ms"] for lv in levels),
        "failed_streams": sum(lv["failed_streams"] for lv in levels),
    }


def engine_cpu(
    registry: ModelRegistry, audio: Audio, task: str, cell: str, streams: int, chunk_s: float, seconds: float
) -> float:
    """The engine alone, in this process, as the server's scheduler runs it: `streams` of the server's own streams
    of the load's configuration (each at another place in the recording), one chunk of each stepped together per
    round, for `seconds` of audio; its CPU ms per second of audio per stream. With the transport floor beside it,
    the least a server could spend before any work of its sessions, servicer and scheduler."""
    samples = decode(audio.data, audio.encoding, audio.channels)
    size = round(chunk_s * audio.sample_rate)
    chunks = [samples[i : i + size] for i in range(0, len(samples) - size + 1, size)]
    params = parse_config(load_config(audio, task, cell), registry)
    engine = [open_stream(params, registry) for _ in range(streams)]
    rounds = max(1, round(seconds / chunk_s))
    started = time.process_time()
    for r in range(rounds):
        step_streams([(s, chunks[(r + b) % len(chunks)]) for b, s in enumerate(engine)], ServerSettings.max_batch)
    return (time.process_time() - started) * 1000 / (rounds * size / audio.sample_rate * streams)


def answer_share(level: dict) -> float:
    """The share of the chunks sent in a level that the server answered, for the floor to answer as many."""
    return level["server_chunks"] / level["sent_chunks"] if level["sent_chunks"] else 1.0


def overhead(server: dict, floor: dict, engine_ms: float) -> dict:
    """The server's CPU per second of audio against the least any server could spend on as many streams in the
    same run: the transport floor's (answering as many chunks) plus the engine alone."""
    least = floor["cpu_ms_per_audio_s"] + engine_ms
    return {
        "overhead_streams": server["streams"],
        "overhead_cpu_ms_per_audio_s": server["cpu_ms_per_audio_s"],
        "floor_cpu_ms_per_audio_s": floor["cpu_ms_per_audio_s"],
        "engine_alone_cpu_ms_per_audio_s": engine_ms,
        "overhead_ratio": server["cpu_ms_per_audio_s"] / least if least else math.nan,
        "overhead_level": server,
        "floor_level": floor,
    }


def _timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def cell_step_matmul_fraction(model: RecurrentModel, batch: int, steps: int = 3, repeats: int = 20) -> float:
    """The batched step's multiply-add rate (`step_lanes` over `batch` streams of `steps` steps, gathering and
    scattering state included) as a fraction of plain matrix products of the same shapes: the projection and
    each layer's input products over all steps at once, its recurrent product step by step, the head."""
    c = model.config
    hidden, gates = c.hidden_size, 3 if c.cell == Cell.GRU else 4
    lanes = [ModelLane(model) for _ in range(batch)]
    features = [torch.randn(steps, c.features.dim) for _ in range(batch)]
    step_s = _timed(lambda: step_lanes(lanes, features), repeats)
    rows = batch * steps
    shapes = [(rows, c.features.dim, hidden), (rows, hidden, model.head.out_features)]
    shapes += [(rows, hidden, gates * hidden)] * c.num_layers + [(batch, hidden, gates * hidden)] * (
        steps * c.num_layers
    )
    operands = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in shapes]

    def products():
        for a, b in operands:
            torch.mm(a, b)

    with torch.inference_mode():
        matmul_s = _timed(products, repeats)
    return matmul_s / step_s


def table(report: dict) -> str:
    lines = []
    for task in TASKS:
        cells = report.get(task, {})
        if not cells:
            continue
        lines.append(f"{task:34}" + "".join(f"{c.upper():>12}" for c in cells))
        for key, label in ROWS:
            row = [cells[c].get(key) for c in cells]
            lines.append(f"  {label:32}" + "".join(f"{_number(v):>12}" for v in row))
    return "\n".join(lines)


def workers_table(report: dict) -> str:
    """Sustained streams and server CPU per worker count (serve --workers), and the most workers' gain over one."""
    counts = list(report["max_realtime_streams"])
    lines = [f"{report['task']} {report['cell'].upper()}, workers" + "".join(f"{n:>10}" for n in counts)]
    lines.append(
        f"  {'sustained real-time streams':32}"
        + "".join(f"{_number(report['max_realtime_streams'][n]):>10}" for n in counts)
    )
    lines.append(
        f"  {'server CPU ms per audio s':32}"
        + "".join(f"{_number(report['cpu_ms_per_audio_s'][n]):>10}" for n in counts)
    )
    lines.append(f"  {'most workers over one (x)':32}{_number(report['streams_ratio']):>10}")
    return "\n".join(lines)


def _number(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:#.3g}"
