"""What a resumable stream keeps so that it outlives a lost call: its token, unacknowledged results, owner and clock."""

import asyncio
import collections
import secrets

import grpc

from rnnvoice.protos import pb
from rnnvoice.service.errors import StreamError, invalid
from rnnvoice.service.limits import StreamClock

# Results a client may leave unacknowledged; one that never acknowledges cannot make the server hold more.
MAX_UNACKNOWLEDGED = 1000


class CallLost(StreamError):
    """A resumable stream's call ended without its EndOfAudio: the stream is parked, not closed."""

    def __init__(self, message: str):
        super().__init__(grpc.StatusCode.ABORTED, message, outcome="parked")


class Resumption:
    """A resumable stream's side of the protocol in voice.proto: results are numbered from 0 in the order they are
    sent, kept until the client says (`results_received`) that it has them, and sent again after a resume.

    A stream is attached to the call (task) that owns it, or parked with an expiry timer until one resumes it.
    """

    def __init__(self, window_s: float, token_prefix: str = ""):
        self.token = token_prefix + secrets.token_urlsafe(24)
        self.window_s = window_s
        self.kept: collections.deque[pb.StreamAudioResponse] = collections.deque()
        self.first_kept = 0  # the number of kept[0] among the stream's results
        self.owner: asyncio.Task | None = None
        self.parked = asyncio.Event()
        self.expiry: asyncio.TimerHandle | None = None
        # The chunk (or end of audio) in progress: it completes, and its results are kept, even if the call is lost.
        self.busy: asyncio.Future | None = None
        self.ended = False  # the summary was sent; the client's second EndOfAudio will say that all arrived
        self.clock: StreamClock | None = None  # the stream's pace and longest duration go on across its calls

    @property
    def sent(self) -> int:
        return self.first_kept + len(self.kept)

    def keep(self, results: list[pb.StreamAudioResponse]) -> None:
        if len(self.kept) + len(results) > MAX_UNACKNOWLEDGED:
            raise StreamError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"more than {MAX_UNACKNOWLEDGED} results unacknowledged; set results_received in "
                "every AudioChunk to the number of results received",
            )
        self.kept.extend(results)

    def acknowledge(self, received: int) -> None:
        """Forgets the results the client has; received counts every result of the stream so far."""
        if received > self.sent:
            raise invalid(f"results_received {received} is more than the {self.sent} results sent")
        while self.first_kept < received:
            self.kept.popleft()
            self.first_kept += 1

    def unacknowledged(self, received: int) -> list[pb.StreamAudioResponse]:
        """The results after the first `received`, to send again on a resumed call."""
        if received < self.first_kept:
            raise invalid(
                f"results_received {received}, but the first {self.first_kept} results were acknowledged "
                "already; count every result the stream received"
            )
        self.acknowledge(received)
        return list(self.kept)

    def message(self, next_sequence: int) -> pb.StreamAudioResponse:
        """The first response of each call of the stream."""
        return pb.StreamAudioResponse(
            sequence=max(0, next_sequence - 1),
            resumption=pb.StreamResumption(token=self.token, window_s=self.window_s, next_sequence=next_sequence),
        )

    def attach(self, owner: asyncio.Task) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        self.owner = owner
        self.parked.clear()

    def park(self, expire) -> None:
        """Detaches the stream from its lost call; expire() runs at the end of the window unless it is resumed."""
        self.owner = None
        self.expiry = asyncio.get_running_loop().call_later(self.window_s, expire)
        self.parked.set()

    async def take_over(self, owner: asyncio.Task) -> None:
        """Attaches the stream to owner: a call still attached (its connection lost, unnoticed so far) is
        cancelled and parks it first. The chunk in progress completes first; if it failed, so does the resume."""
        while self.owner is not None:
            self.owner.cancel()
            await self.parked.wait()
        self.attach(owner)
        if self.busy is not None:
            await asyncio.wait([self.busy])
            if not self.busy.cancelled() and self.busy.exception() is not None:
                raise self.busy.exception()

    def close(self) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
