"""How sessions' chunks reach the engine: batched across streams by one scheduler, or each stream on its own.

The scheduler is Triton's sequence batcher in small: sessions hand it a chunk and await the output; a worker
thread takes every chunk pending (waiting at most `batch_wait_ms` for more once one arrives, at most
`max_batch` a step), runs them through `step_streams` (each model stepped once over all their streams, the
states gathered and scattered back) and hands all the outputs back to the event loop in one call. Once it has had
nothing to run for `IDLE_TRIM_S`, it gives back the memory its work freed (service/memory.py).
"""

import asyncio
import collections
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from rnnvoice.models.streaming.stream import Stream, StreamOutput, step_streams
from rnnvoice.service.memory import give_back_freed_memory

log = logging.getLogger(__name__)

# What a chunk's run gives back: the output and the compute it was charged.
Ran = tuple[StreamOutput, float]
# Idle this long after work, the scheduler trims: under load its waits between steps are far shorter.
IDLE_TRIM_S = 0.25


def _run_alone(stream: Stream, samples: torch.Tensor | None) -> Ran:
    compute_s = stream.compute_s
    out = stream.accept(samples) if samples is not None else stream.finish()
    return out, stream.compute_s - compute_s


class PerStreamRunner:
    """Each chunk through its own stream's models on a thread pool (`--no-batching`): the path to compare with."""

    def __init__(self, threads: int):
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="inference")

    async def run(self, stream: Stream, samples: torch.Tensor | None) -> Ran:
        """samples (T,), or None for the end of the stream."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, _run_alone, stream, samples)

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class BatchScheduler:
    """Gathers the pending chunks of all streams and runs each model once over them; see the module's doc."""

    def __init__(self, batch_wait_ms: float, max_batch: int, observe_batch=None):
        self.wait_s = batch_wait_ms / 1000
        self.max_batch = max_batch
        self.observe_batch = observe_batch  # (model, streams in its step) -> None
        self.pending: collections.deque = collections.deque()
        self.ready = threading.Condition(threading.Lock())  # not re-entered: a plain lock costs each chunk less
        self.closed = False
        self.worked = False  # since the last trim
        self.trims = 0
        self.worker = threading.Thread(target=self._work, name="batch-scheduler", daemon=True)
        self.worker.start()

    async def run(self, stream: Stream, samples: torch.Tensor | None) -> Ran:
        """samples (T,), or None for the end of the stream; at most one chunk of a stream at a time."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self.ready:
            if self.closed:
                raise RuntimeError("the batch scheduler is closed")
            self.pending.append((stream, samples, loop, future))
            # Wake the worker for the first chunk of a batch or a full one; between them it sleeps out its wait.
            if len(self.pending) == 1 or len(self.pending) >= self.max_batch:
                self.ready.notify()
        return await future

    def _take(self) -> list | None:
        with self.ready:
            while not self.pending and not self.closed:
                if not self.ready.wait(IDLE_TRIM_S if self.worked else None) and not self.pending:
                    self.worked = False
                    self.ready.release()  # sessions handing in chunks need not wait for the trim
                    try:
                        self.trims += give_back_freed_memory()
                    finally:
                        self.ready.acquire()
            if not self.pending:
                return None
            # A few milliseconds for more streams to join this step; under load they are already waiting.
            deadline = time.monotonic() + self.wait_s
            while len(self.pending) < self.max_batch and (left := deadline - time.monotonic()) > 0 and not self.closed:
                self.ready.wait(left)
            return [self.pending.popleft() for _ in range(min(self.max_batch, len(self.pending)))]

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            before = [stream.compute_s for stream, _, _, _ in batch]
            try:
                outputs = step_streams(
                    [(stream, samples) for stream, samples, _, _ in batch], self.max_batch, self.observe_batch
                )
            except Exception as e:  # a failed step fails the chunks in it, not the scheduler
                log.exception("batched step failed")
                outputs = [e] * len(batch)
            results = [
                (future, out if isinstance(out, Exception) else (out, stream.compute_s - spent))
                for (stream, _, _, future), out, spent in zip(batch, outputs, before)
            ]
            self.worked = True
            by_loop = collections.defaultdict(list)
            for (_, _, loop, _), result in zip(batch, results):
                by_loop[loop].append(result)
            for loop, done in by_loop.items():  # one hop back to each event loop per batch
                loop.call_soon_threadsafe(_resolve, done)

    def close(self) -> None:
        """Runs what is pending, then stops the worker."""
        with self.ready:
            self.closed = True
            self.ready.notify()
        self.worker.join()


def _resolve(done: list) -> None:
    for future, result in done:
        if future.cancelled():
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)
