"""`rnnvoice soak`: hundreds of streams that end every way a stream can (completed through connections cut again and
again, cancelled, disconnected, silent, slow to read, sent an oversized chunk); then nothing may be left behind.
Keyword, transcription and assistant streams take turns, the assistant's with an inline context.

Every completed stream's results must equal those of the same stream sent once, uncut, and its summary must count
each chunk once. Resumable streams go through a proxy that cuts all its connections every `cut_every_s`
(alternately a reset both sides see and a silent one only the client sees); plain streams that may be disconnected
through a second proxy that only resets. Afterwards (once the resume window has passed) the server's
active-streams gauge must be back to zero.
"""

import math
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from enum import StrEnum

import grpc

from rnnvoice.clients.client import Audio, VoiceClient, result_dict, stream_config
from rnnvoice.clients.qa.cutting_proxy import cutting_proxy
from rnnvoice.clients.qa.fuzz import REFUSALS
from rnnvoice.clients.resumable import ResumableStream
from rnnvoice.models.types import Cell, Task
from rnnvoice.protos import pb


class Ending(StrEnum):
    """How a stream of the soak ends."""

    COMPLETE = "complete"
    SLOW_READER = "slow reader"
    CANCEL = "cancel"
    DISCONNECT = "disconnect"
    SILENT_PEER = "silent peer"
    OVERSIZED_CHUNK = "oversized chunk"


# How often each ending is drawn.
ENDINGS = {
    Ending.COMPLETE: 10,
    Ending.SLOW_READER: 2,
    Ending.CANCEL: 2,
    Ending.DISCONNECT: 2,
    Ending.SILENT_PEER: 1,
    Ending.OVERSIZED_CHUNK: 1,
}
TASKS = tuple(Task)
# The assistant's streams each send this context inline: compiled once, shared by the streams open with it.
CONTEXT = """context:
  expressions:
    lights:
      - "[turn, switch] $state:state the (kitchen) lights"
    dial:
      - "call $pv.SingleDigitInteger:first $pv.SingleDigitInteger:second"
  slots:
    state: ["on", "off"]
"""
CELLS = tuple(Cell)
OVERSIZED_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class SoakPlan:
    streams: int = 500
    concurrency: int = 16
    chunk_s: float = 0.1
    speed: float = 4.0  # audio sent at this many times real time
    cut_every_s: float = 1.5
    silent_s: float = 5.0  # how long a silent peer is left before the soak itself cancels it
    slow_read_s: float = 0.05  # a slow reader's pause before each response
    seed: int = 0


@dataclass
class SoakReport:
    streams: int = 0
    kinds: Counter = field(default_factory=Counter)
    tasks: Counter = field(default_factory=Counter)
    completed: int = 0
    resumes: int = 0
    cuts: int = 0
    disconnected: int = 0
    silent_peers_ended_by_server: int = 0
    oversized_refused: int = 0
    lost_chunks: int = 0
    duplicated_chunks: int = 0
    mismatched_results: int = 0
    mismatches: list[str] = field(default_factory=list)  # where the first few differed, for whoever must find out why
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    leaked_sessions: float | None = None
    parked_sessions: float | None = None
    rss_baseline_bytes: int | None = None
    rss_final_bytes: int | None = None
    rss_growth_bytes: int | None = None
    seconds: float = 0.0

    def fail(self, text: str) -> None:
        self.failed += 1
        if len(self.failures) < 20:
            self.failures.append(text)

    def as_dict(self) -> dict:
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in self.__dict__.items()}


def comparable(responses) -> list[dict]:
    """Results as plain values, without compute time (the one thing two identical runs do not share)."""
    out = [result_dict(r) for r in responses]
    if out and out[-1]["type"] == "summary":
        out[-1].pop("compute_s")
    return out


# Two runs of a stream are batched with other streams each time, and a batch's float rounding depends on its size:
# their scores agree to 1e-5 (tests/service/test_batching.py), and rounded to 1e-4 (`result_dict`) may land one
# step apart.
NUMBER_SLACK = 1.5e-4


def same_results(expected, got) -> bool:
    """Equal results: the same kinds, texts, keywords and counts, and numbers within NUMBER_SLACK."""
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(same_results(expected[k], got[k]) for k in expected)
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(same_results(a, b) for a, b in zip(expected, got))
    if isinstance(expected, float) and isinstance(got, float):
        return math.isclose(expected, got, rel_tol=0, abs_tol=NUMBER_SLACK)
    return expected == got


def first_difference(expected: list[dict], got: list[dict]) -> str:
    """Where two runs' results part: the first result that differs, both ways, or which run has more."""
    for i, (a, b) in enumerate(zip(expected, got)):
        if not same_results(a, b):
            return f"result {i} ({a.get('type')}), expected against got: {_differing(a, b)}"
    return f"{len(expected)} results expected, {len(got)} got"


def _differing(a, b):
    """Only what differs between two values, in dicts as deep as they go."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _differing(a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    return (a, b)


class Soak:
    def __init__(self, sut, audio: Audio, plan: SoakPlan, progress=None):
        self.sut, self.audio, self.plan, self.progress = sut, audio, plan, progress
        self.report = SoakReport()
        self.lock = threading.Lock()
        self.chunks = list(audio.chunks(plan.chunk_s))
        # Every result as it comes: a keyword stream's scores, a recogniser's partial results.
        self.configs = {
            (task, cell): stream_config(
                audio,
                task=task,
                cell=cell,
                interim_scores=task == Task.KEYWORDS,
                interim_results=task != Task.KEYWORDS,
                context_yaml=CONTEXT if task == Task.ASSISTANT else "",
            )
            for task in TASKS
            for cell in CELLS
        }
        self.expected: dict[tuple[str, str], list[dict]] = {}
        self.window_s = 0.0

    def run(self) -> SoakReport:
        started = time.monotonic()
        rng = random.Random(self.plan.seed)
        kinds = rng.choices(list(ENDINGS), weights=list(ENDINGS.values()), k=self.plan.streams)
        with ExitStack() as stack:
            direct = stack.enter_context(VoiceClient(self.sut.target, connection=self.sut.connection))
            direct.wait_ready(30)
            for task in TASKS:
                for cell in CELLS:
                    self.expected[task, cell] = comparable(
                        direct.stream(self.configs[task, cell], self.chunks, resumable=False)
                    )
            resuming_proxy, cut_resuming = stack.enter_context(cutting_proxy(self.sut.target))
            plain_proxy, cut_plain = stack.enter_context(cutting_proxy(self.sut.target))
            self.clients = {
                "direct": direct,
                **{
                    name: stack.enter_context(VoiceClient(proxy.target, connection=self.sut.connection))
                    for name, proxy in (("resuming", resuming_proxy), ("plain", plain_proxy))
                },
            }
            done = threading.Event()
            cutter = threading.Thread(target=self._cut, args=(done, cut_resuming, cut_plain), daemon=True)
            cutter.start()
            with ThreadPoolExecutor(self.plan.concurrency) as pool:
                for i, _ in enumerate(pool.map(self._stream, kinds, range(len(kinds)), [rng.random() for _ in kinds])):
                    if i + 1 == max(1, len(kinds) // 10):
                        self.report.rss_baseline_bytes = self.sut.rss_bytes()
            done.set()
            cutter.join()
            self.report.cuts = resuming_proxy.cuts + plain_proxy.cuts
        # Every parked stream's window passes; then nothing may be open.
        time.sleep(self.window_s + 1.0)
        self.report.leaked_sessions = self.sut.gauge("rnnvoice_active_streams")
        self.report.parked_sessions = self.sut.gauge("rnnvoice_parked_streams")
        self.report.rss_final_bytes = self.sut.rss_bytes()
        if self.report.rss_baseline_bytes and self.report.rss_final_bytes:
            self.report.rss_growth_bytes = self.report.rss_final_bytes - self.report.rss_baseline_bytes
        self.report.seconds = round(time.monotonic() - started, 1)
        return self.report

    def _cut(self, done: threading.Event, cut_resuming, cut_plain) -> None:
        silent = False
        while not done.wait(self.plan.cut_every_s):
            cut_resuming(silent)
            cut_plain()
            silent = not silent

    def _stream(self, kind: Ending, index: int, draw: float) -> None:
        task, cell = TASKS[index % len(TASKS)], CELLS[index // len(TASKS) % len(CELLS)]
        end = {
            Ending.COMPLETE: self._complete,
            Ending.SLOW_READER: self._slow_reader,
            Ending.CANCEL: self._cancel,
            Ending.DISCONNECT: self._disconnect,
            Ending.SILENT_PEER: self._silent_peer,
            Ending.OVERSIZED_CHUNK: self._oversized_chunk,
        }[kind]
        try:
            end(task, cell, draw)
        except grpc.RpcError as e:
            self.report.fail(f"{kind} {task} {cell}: {e.code().name}: {e.details()}")
        except Exception as e:  # a soak reports what went wrong with a stream and goes on
            self.report.fail(f"{kind} {task} {cell}: {type(e).__name__}: {e}")
        with self.lock:
            self.report.streams += 1
            self.report.kinds[kind] += 1
            self.report.tasks[task] += 1
            if self.progress is not None:
                self.progress(self.report)

    def _resumable(self, task: str, cell: str) -> ResumableStream:
        return self.clients["resuming"].stream(self.configs[task, cell], self._paced())

    def _paced(self):
        pace_s = self.plan.chunk_s / self.plan.speed
        for chunk in self.chunks:
            time.sleep(pace_s)
            yield chunk

    def _check(self, task: str, cell: str, results: list[dict]) -> None:
        """A completed stream: each chunk counted once, results as sent uncut."""
        summary = results[-1] if results and results[-1]["type"] == "summary" else {"chunks": 0}
        with self.lock:
            self.report.completed += 1
            self.report.lost_chunks += max(0, len(self.chunks) - summary["chunks"])
            self.report.duplicated_chunks += max(0, summary["chunks"] - len(self.chunks))
            if not same_results(self.expected[task, cell], results):
                self.report.mismatched_results += 1
                if len(self.report.mismatches) < 5:
                    self.report.mismatches.append(
                        f"{task} {cell}: {first_difference(self.expected[task, cell], results)}"
                    )

    def _complete(self, task: str, cell: str, draw: float, read_pause_s: float = 0.0) -> None:
        stream = self._resumable(task, cell)
        results = []
        for response in stream:
            time.sleep(read_pause_s)
            results.append(response)
            self.window_s = max(self.window_s, stream.window_s)
        with self.lock:
            self.report.resumes += stream.resumes
        self._check(task, cell, comparable(results))

    def _slow_reader(self, task: str, cell: str, draw: float) -> None:
        self._complete(task, cell, draw, self.plan.slow_read_s)

    def _cancel(self, task: str, cell: str, draw: float) -> None:
        """Cancelled after a share of its results: a resumable one is parked for its window, a plain one freed."""
        client = self.clients["direct"]
        stream = (
            self._resumable(task, cell)
            if draw < 0.5
            else client.stream(self.configs[task, cell], self._paced(), resumable=False)
        )
        try:
            for i, _ in enumerate(stream):
                if i >= 2 + draw * 10:
                    stream.cancel()
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise
        self.window_s = max(self.window_s, getattr(stream, "window_s", 0.0))

    def _disconnect(self, task: str, cell: str, draw: float) -> None:
        """A plain stream through the proxy that resets: it completes, or its connection is cut under it."""
        client = self.clients["plain"]
        try:
            results = comparable(client.stream(self.configs[task, cell], self._paced(), resumable=False))
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            with self.lock:
                self.report.disconnected += 1
            return
        self._check(task, cell, results)

    def _silent_peer(self, task: str, cell: str, draw: float) -> None:
        """Its configuration and a chunk or two, then nothing; ended by the server (an idle timeout) or, after
        silent_s, cancelled by the soak."""
        quiet = threading.Event()

        def requests():
            yield pb.StreamAudioRequest(config=self.configs[task, cell])
            for sequence, data in enumerate(self.chunks[: int(draw * 3)]):
                yield pb.StreamAudioRequest(audio=pb.AudioChunk(sequence=sequence, data=data))
            quiet.wait()

        direct = self.clients["direct"]
        call = direct.stub.StreamAudio(requests(), metadata=direct.metadata)
        timer = threading.Timer(self.plan.silent_s, call.cancel)
        timer.start()
        try:
            for _ in call:
                pass
            ended_by_server = True
        except grpc.RpcError as e:
            ended_by_server = e.code() != grpc.StatusCode.CANCELLED
        finally:
            timer.cancel()
            quiet.set()
        with self.lock:
            self.report.silent_peers_ended_by_server += ended_by_server

    def _oversized_chunk(self, task: str, cell: str, draw: float) -> None:
        """A chunk far beyond the limit must be refused with a status that says so."""
        requests = [
            pb.StreamAudioRequest(config=self.configs[task, cell]),
            pb.StreamAudioRequest(audio=pb.AudioChunk(sequence=0, data=bytes(OVERSIZED_BYTES))),
        ]
        try:
            direct = self.clients["direct"]
            for _ in direct.stub.StreamAudio(iter(requests), metadata=direct.metadata):
                pass
        except grpc.RpcError as e:
            if e.code() not in REFUSALS:
                raise
            with self.lock:
                self.report.oversized_refused += 1
            return
        self.report.fail(f"oversized chunk {task} {cell}: accepted")
