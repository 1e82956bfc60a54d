"""A resumable stream, client side: audio kept until the server acknowledges it, results counted, lost calls resumed."""

import collections
import logging
import random
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import grpc

from rnnvoice.protos import DRAINED_METADATA, pb, pb_grpc

log = logging.getLogger(__name__)

# How a lost connection shows; anything else is the server's answer and is not retried.
LOST = {grpc.StatusCode.UNAVAILABLE}
# Chunks sent ahead of the server's acknowledgements (10 s of 100 ms chunks).
MAX_IN_FLIGHT = 100
# Tries to start a stream whose first call was lost before the server's token came (a server that is not there).
FRESH_STARTS = 3
# Metadata every call of one stream carries with the same random value, so that a load balancer sends them all to
# the replica holding the stream (deploy/nginx/nginx.conf hashes it).
ROUTE_METADATA = "rnnvoice-route"


@dataclass(frozen=True)
class Backoff:
    """Waits between tries to resume: first_s, doubling up to max_s, each drawn from its upper half (jitter)."""

    first_s: float = 0.05
    max_s: float = 1.0

    def delays(self) -> Iterator[float]:
        delay = self.first_s
        while True:
            yield random.uniform(delay / 2, delay)
            delay = min(2 * delay, self.max_s)


class ResumableStream:
    """The results of one stream (acknowledgements and resumptions left out), across as many lost calls as the
    server's resume window allows: the protocol of `StreamConfig.resumable` in voice.proto.

    Every chunk is kept until the server acknowledges it and sent again after a resume from the server's
    `next_sequence`; the results received are counted, so that the server sends again exactly those that were lost.
    """

    def __init__(
        self,
        stub: pb_grpc.VoiceStub,
        config: pb.StreamConfig,
        chunks: Iterable[bytes],
        timeout_s: float | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
        backoff: Backoff = Backoff(),
    ):
        """metadata: sent with every call (the token)."""
        self.stub = stub
        self.metadata = (*metadata, (ROUTE_METADATA, secrets.token_hex(8)))
        self.config = pb.StreamConfig()
        self.config.CopyFrom(config)
        self.config.resumable = True
        self.source = iter(chunks)
        self.timeout_s = timeout_s
        self.backoff = backoff
        # Chunks first_kept, first_kept + 1, ...: sent, not yet acknowledged.
        self.kept: collections.deque[bytes] = collections.deque()
        self.first_kept = 0
        self.pulled = 0  # chunks taken from the source
        self.results = 0  # results received
        self.token: str | None = None
        self.window_s = 0.0
        self.resume_at = 0
        self.resumes = 0
        self.fresh_starts = 0
        self.lock = threading.Lock()
        self.acknowledged = threading.Condition(self.lock)
        self.pulling = threading.Lock()  # one call's requests at a time take chunks from the source
        self.summarised = threading.Event()
        self.end_reason = pb.STREAM_END_UNSPECIFIED
        self.cancelled = False
        self._call()

    def __iter__(self) -> Iterator[pb.StreamAudioResponse]:
        delays, lost = None, None  # the error that lost the call, while resuming
        while True:
            call, started, stop = self.call, self.started, self.stop
            try:
                for response in call:
                    kind = response.WhichOneof("result")
                    if kind == "resumption":
                        self._resumed(response.resumption)
                        started.set()
                        delays, lost = None, None
                        continue
                    self._acknowledged(response.sequence)
                    if kind == "ack":
                        continue
                    self.results += 1
                    if kind == "summary":
                        self.end_reason = response.summary.end_reason
                        self.summarised.set()
                    yield response
                return
            except grpc.RpcError as e:
                if self.cancelled or (e.code() not in LOST and (lost is None or self.token is None)):
                    raise  # the server's answer
                if self.end_reason not in (pb.STREAM_END_UNSPECIFIED, pb.STREAM_END_COMPLETED) or _drained(e):
                    raise  # the server ended the stream (shutting down, or its longest stream): no resume helps
                lost = lost or (e, time.monotonic())
                # A call lost before the server's token came is started again, a few times: nothing was sent on it.
                if self.token is None:
                    give_up = self.fresh_starts >= FRESH_STARTS
                else:
                    give_up = e.code() not in LOST or time.monotonic() - lost[1] > self.window_s
                if give_up:
                    if self.summarised.is_set():
                        return  # every result arrived; the server frees the stream at its window's end
                    raise lost[0] from None  # the stream is gone: what the caller sees is the lost connection
                delays = delays or self.backoff.delays()
                log.debug("stream lost (%s: %s); resuming", e.code().name, e.details())
                time.sleep(next(delays))
                if self.cancelled:
                    raise
                if self.token is None:
                    self.fresh_starts += 1
                else:
                    self.resumes += 1
                self._call()
            finally:
                stop.set()
                call.cancel()

    def _call(self) -> None:
        """Starts a call: the stream's first, or one that resumes it."""
        self.started, self.stop = threading.Event(), threading.Event()
        first = (
            pb.StreamAudioRequest(config=self.config)
            if self.token is None
            else pb.StreamAudioRequest(resume=pb.ResumeStream(token=self.token, results_received=self.results))
        )
        self.call = self.stub.StreamAudio(
            self._requests(first, self.started, self.stop), timeout=self.timeout_s, metadata=self.metadata
        )

    def cancel(self) -> None:
        """Ends the stream from this side; the server keeps it for its resume window, as it would a lost call."""
        self.cancelled = True
        self.call.cancel()

    def _resumed(self, resumption: pb.StreamResumption) -> None:
        if self.token is not None and resumption.token != self.token:
            raise RuntimeError("the server resumed another stream")
        self.token, self.window_s = resumption.token, resumption.window_s
        if not self.first_kept <= resumption.next_sequence <= self.pulled:
            raise RuntimeError(
                f"the server resumes at chunk {resumption.next_sequence}, but chunks "
                f"{self.first_kept} to {self.pulled - 1} are the ones not acknowledged"
            )
        self._acknowledged(resumption.next_sequence - 1)
        self.resume_at = resumption.next_sequence

    def _acknowledged(self, sequence: int) -> None:
        """Forgets the chunks up to sequence: the server has processed them."""
        with self.lock:
            while self.first_kept <= sequence and self.kept:
                self.kept.popleft()
                self.first_kept += 1
            self.acknowledged.notify_all()

    def _room(self, sequence: int, stop: threading.Event) -> bool:
        """Waits while MAX_IN_FLIGHT chunks are unacknowledged, so that the results the server keeps for a slow
        reader stay bounded too; False once the call is over."""
        with self.acknowledged:
            while sequence - self.first_kept >= MAX_IN_FLIGHT and not stop.is_set():
                self.acknowledged.wait(0.1)
        return not stop.is_set()

    def _chunk(self, sequence: int) -> bytes | None:
        """Chunk `sequence`: kept, or the next from the source; None after the last."""
        with self.pulling:
            with self.lock:
                if sequence < self.pulled:
                    return self.kept[sequence - self.first_kept] if sequence >= self.first_kept else None
            data = next(self.source, None)
            if data is None:
                return None
            with self.lock:
                self.kept.append(data)
                self.pulled += 1
            return data

    def _requests(self, first: pb.StreamAudioRequest, started: threading.Event, stop: threading.Event):
        """One call's requests: its first, then (once the server says where it resumes) the audio from there, the
        end of audio, and once the summary has arrived the end of audio again, which ends the call."""
        yield first
        while not started.wait(0.1):
            if stop.is_set():
                return
        sequence = self.resume_at
        while self._room(sequence, stop) and (data := self._chunk(sequence)) is not None:
            yield pb.StreamAudioRequest(
                audio=pb.AudioChunk(sequence=sequence, data=data, results_received=self.results)
            )
            sequence += 1
        if stop.is_set():
            return
        yield pb.StreamAudioRequest(end=pb.EndOfAudio(results_received=self.results))
        while not self.summarised.wait(0.1):
            if stop.is_set():
                return
        yield pb.StreamAudioRequest(end=pb.EndOfAudio(results_received=self.results))


def _drained(error: grpc.RpcError) -> bool:
    """The server ended the call because it is shutting down: it says so even where the summary did not come."""
    return DRAINED_METADATA in tuple(error.trailing_metadata() or ())
