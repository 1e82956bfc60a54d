"""`rnnvoice mic`: streams a microphone to a server, showing the input level and each result as it happens:
keyword detections, partial and final transcripts, assistant commands.

The microphone is read in 100 ms blocks at its own default rate (the server resamples). When the server
goes away or ends the stream, a new stream opens as soon as it is back, and times go on from the same clock.
"""

import math
import queue
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field

import grpc
import numpy as np

from rnnvoice.clients.client import VoiceClient, describe, result_dict

# Errors a new stream would only repeat; anything else (server gone, full, restarting) is retried.
FATAL = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.FAILED_PRECONDITION,
}
METER_WIDTH, METER_FLOOR_DB = 30, -60.0


class Display:
    """What the person at the microphone sees: a level meter, detections and news of the connection."""

    def __init__(self, out=sys.stdout):
        self.out = out
        self.tty = out.isatty()
        self.lock = threading.Lock()
        self.next_meter_s = 0.0
        self.loudest_db = -math.inf

    def level(self, time_s: float, block: bytes) -> None:
        """Shows the level of the block that ends at time_s: redrawn in place on a terminal; elsewhere a line
        a second, with the loudest block of that second."""
        samples = np.frombuffer(block, "<i2").astype(np.float32) / 32768
        db = 20 * math.log10(max(float(np.sqrt(np.mean(samples**2))), 1e-6))
        self.loudest_db = max(self.loudest_db, db)
        if not self.tty:
            if time_s < self.next_meter_s:
                return
            db, self.next_meter_s = self.loudest_db, math.floor(time_s) + 1
        self.loudest_db = -math.inf
        filled = round(np.clip((db - METER_FLOOR_DB) / -METER_FLOOR_DB, 0, 1) * METER_WIDTH)
        meter = f"{time_s:8.1f} s  |{'#' * filled}{'.' * (METER_WIDTH - filled)}| {db:6.1f} dBFS"
        with self.lock:
            self.out.write(f"\r{meter}" if self.tty else f"{meter}\n")
            self.out.flush()

    def line(self, text: str) -> None:
        with self.lock:
            self.out.write(("\r\033[K" if self.tty else "") + text + "\n")
            self.out.flush()


@dataclass
class Outbox:
    """The blocks waiting for one stream, and where that stream starts on the session's audio clock."""

    pending: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=20))
    offset_s: float | None = None
    closed: bool = False

    def blocks(self):
        """The request side of the stream: every block put here, until closed and drained."""
        while True:
            try:
                yield self.pending.get(timeout=0.2)
            except queue.Empty:
                if self.closed:
                    return


class ServerLink:
    """Keeps one stream open to the server at a time, in a thread of its own, and shows its results."""

    def __init__(self, client: VoiceClient, config, display: Display):
        self.client, self.config, self.display = client, config, display
        self.outbox: Outbox | None = None
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.streams = 0
        self.streamed_s = 0.0
        self.detections: Counter[str] = Counter()
        self.finals = 0
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name="server-link", daemon=True)

    def send(self, block: bytes, start_s: float) -> None:
        """Hands a block to the open stream, waiting while it is full; drops it when no stream is open."""
        while (outbox := self.outbox) is not None and not outbox.closed:
            if outbox.offset_s is None:
                outbox.offset_s = start_s
            try:
                outbox.pending.put(block, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self, timeout_s: float = 15.0) -> None:
        """Half-closes the open stream, so that the server sends its last results, and stops."""
        self.stopping.set()
        if self.outbox is not None:
            self.outbox.closed = True
        self.thread.join(timeout_s)

    def _run(self) -> None:
        while self._wait_for_server():
            self.outbox = outbox = Outbox()
            self.streams += 1
            self.connected.set()
            if self.streams > 1:
                self.display.line(f"reconnected to {self.client.target}: stream {self.streams}")
            news = self._stream(outbox)
            outbox.closed = True
            self.outbox = None
            if self.stopping.is_set():
                return
            self.display.line(f"{news}; reconnecting")
            self.stopping.wait(0.5)  # a draining server refuses new streams for a while

    def _wait_for_server(self) -> bool:
        ready = grpc.channel_ready_future(self.client.channel)
        while not self.stopping.is_set():
            try:
                ready.result(timeout=0.5)
                return True
            except grpc.FutureTimeoutError:
                continue
        ready.cancel()
        return False

    def _stream(self, outbox: Outbox) -> str:
        """Runs one stream to its end; what ended it."""
        try:
            for response in self.client.stream(self.config, outbox.blocks()):
                result = result_dict(response)
                if result["type"] == "summary":
                    self.streamed_s += result["audio_s"]
                    if result["end_reason"] == "voice_activity_timeout":  # what the person asked for: stop
                        self.display.line("no speech for the voice activity timeout: the server ended the stream")
                        self.stopping.set()
                    continue
                if result["type"] == "keyword":
                    self.detections[result["keyword"]] += 1
                self.finals += result["type"] in ("final", "intent")
                # Times go on from the session's clock, across reconnects.
                result.update({k: outbox.offset_s + result[k] for k in ("start_s", "end_s", "time_s") if k in result})
                self.display.line(describe(result))
            return "the server ended the stream"
        except grpc.RpcError as e:
            if e.code() in FATAL:
                self.error = f"{e.code().name}: {e.details()}"
                self.stopping.set()
            return f"lost the server ({e.code().name})"


def summary(captured_s: float, name: str, link: ServerLink, overflows: int) -> str:
    found = ", ".join(f"{k} x{n}" for k, n in link.detections.most_common()) or "none"
    text = (
        f"summary: {captured_s:.1f} s of audio from {name!r}, {link.streamed_s:.1f} s streamed in "
        f"{link.streams} streams ({max(link.streams - 1, 0)} reconnects); detections: {found}; "
        f"final transcripts and commands: {link.finals}"
    )
    return text + (f"; the microphone overflowed {overflows} times" if overflows else "")


def capture(mic, rate: int, link: ServerLink, display: Display) -> tuple[float, int]:
    """Reads the microphone into the link until Ctrl-C, a fatal server error or the stream's voice activity
    timeout: seconds read, overflows."""
    frames, overflows = 0, 0
    try:
        while link.error is None and not link.stopping.is_set():
            data, overflowed = mic.read(mic.blocksize)
            block = bytes(data)
            overflows += overflowed
            link.send(block, frames / rate)  # dropped while the server is away; the clock goes on
            frames += len(block) // 2
            display.level(frames / rate, block)
    except KeyboardInterrupt:
        pass
    return frames / rate, overflows
