"""What one stream may take of the server's time (its pace against real time, its idle time and its length), and how
many streams the server and each token holder may have open."""

import asyncio
import collections

import grpc

from rnnvoice.service.auth import Grant
from rnnvoice.service.errors import StreamError
from rnnvoice.service.settings import ServerSettings


class StreamClock:
    """One stream's time limits on the event loop's clock.

    Pace is a token bucket of audio seconds: it holds at most `burst_s`, and fills at `realtime_factor` seconds of
    audio per second. A chunk that overdraws it is answered, then the stream waits until the debt is paid; while
    it waits nothing is read from it, so HTTP/2 flow control holds the client back instead of a buffer growing.
    """

    def __init__(self, settings: ServerSettings):
        self.loop = asyncio.get_running_loop()
        self.settings = settings
        self.opened = self.last = self.loop.time()
        self.credit_s = settings.burst_s
        self.charged_s = 0.0

    async def pace(self, audio_s: float) -> None:
        """Charges the stream's audio up to audio_s (its total so far); sleeps while the stream is further ahead
        of real time than allowed."""
        s = self.settings
        now = self.loop.time()
        self.credit_s = min(s.burst_s, self.credit_s + (now - self.last) * s.realtime_factor) - (
            audio_s - self.charged_s
        )
        self.last, self.charged_s = now, audio_s
        if self.credit_s < 0:
            await asyncio.sleep(-self.credit_s / s.realtime_factor)

    @property
    def expired(self) -> bool:
        """The stream has lasted max_stream_s."""
        return self.loop.time() - self.opened >= self.settings.max_stream_s

    def idle_error(self) -> StreamError:
        return StreamError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"no audio for {self.settings.idle_timeout_s:g} s (the server's idle timeout): the stream "
            "is closed; send chunks at least that often, or open a new stream when audio resumes",
            outcome="timed_out",
        )

    def expired_error(self) -> StreamError:
        return StreamError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"the stream reached the server's longest stream, {self.settings.max_stream_s:g} s; its "
            "results so far were sent; open a new stream to go on",
            outcome="timed_out",
        )


class IdleWatch:
    """Ends a call through its `asyncio.Timeout` once idle_s have passed since it was last `heard`.

    Hearing only notes the time. Rescheduling the timeout on every chunk would push a timer into the event loop's
    heap each time (thousands a second under load); the watch's one timer wakes when the call would be idle at
    the earliest, and sleeps again until then if it was heard meanwhile.
    """

    def __init__(self, timeout: asyncio.Timeout, idle_s: float):
        self.loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.idle_s = idle_s
        self.heard_at = self.loop.time()
        self.timer = self.loop.call_at(self.heard_at + idle_s, self._check)

    def heard(self) -> None:
        self.heard_at = self.loop.time()

    def _check(self) -> None:
        due = self.heard_at + self.idle_s
        if self.loop.time() >= due:
            self.timeout.reschedule(self.loop.time())  # expires now: the call ends as the timeout ends it
        else:
            self.timer = self.loop.call_at(due, self._check)

    def close(self) -> None:
        self.timer.cancel()


def keepalive_options(settings: ServerSettings) -> list[tuple[str, int]]:
    """HTTP/2 keepalive: the server pings a quiet connection and drops it when the ping goes unanswered, so a
    peer whose network went silent is found; clients may ping too, no more often than every 10 s."""
    return [
        ("grpc.keepalive_time_ms", int(settings.keepalive_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_s * 1000)),
        ("grpc.http2.ping_timeout_ms", int(settings.keepalive_timeout_s * 1000)),  # what this gRPC waits by
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10000),
    ]


class StreamCounts:
    """The streams open at once, overall and per token holder (by name), within the server's limit and each
    holder's own; parked streams count. One process's: service.shared_limits counts every worker's."""

    def __init__(self, max_streams: int, retry_after_s: float):
        self.max_streams = max_streams
        self.retry_after_s = retry_after_s
        self.open = 0
        self.per_grant: collections.Counter[str] = collections.Counter()

    def take(self, grant: Grant) -> None:
        """Counts a new stream of grant's; StreamError RESOURCE_EXHAUSTED, and nothing counted, at either limit."""
        self.check(self.open, self.per_grant[grant.name], grant)
        self.open += 1
        self.per_grant[grant.name] += 1

    def release(self, grant: Grant) -> None:
        self.open -= 1
        self.per_grant[grant.name] -= 1

    def check(self, open_streams: int, holders_streams: int, grant: Grant) -> None:
        """StreamError RESOURCE_EXHAUSTED when open_streams (of the server) or holders_streams (of grant's holder)
        leave no room for one more."""
        if open_streams >= self.max_streams:
            raise self._full(f"the server is at its limit of {self.max_streams} streams")
        if grant.max_streams is not None and holders_streams >= grant.max_streams:
            raise self._full(f"the token of {grant.name!r} has its limit of {grant.max_streams} streams open")

    def _full(self, message: str) -> StreamError:
        return StreamError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"{message}; retry in {self.retry_after_s:g} s",
            retry_after_s=self.retry_after_s,
        )
