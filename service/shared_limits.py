"""What the workers of one server share (`serve --workers N`): the streams open, overall and per token holder, the
refusal windows of addresses, and which worker runs which incarnation. They live in a file every worker maps, and
change under an exclusive flock, which the kernel lets go of should a worker die holding it."""

import contextlib
import fcntl
import hashlib
import mmap
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnnvoice.service.auth import MAX_TRACKED_ADDRESSES, Grant, RefusalLimit, peer_address
from rnnvoice.service.errors import StreamError
from rnnvoice.service.limits import StreamCounts


def key(text: str) -> int:
    """A name's or an address's key in the tables: 64 bits of its hash, never 0 (a free slot)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True) or 1


class SharedState:
    """The arrays of the shared file, created zeroed by the supervisor and mapped by each worker.

    streams[w, 0]: the streams worker w holds; streams[w, 1 + s]: those of the holder whose key is holders[s]. A
    holder needs a slot only while it has streams open, and fewer than max_streams are, so max_streams + 1 slots
    always leave one free. incarnations[w]: the number of the process now serving as worker w, 0 while none does.
    """

    def __init__(self, path: Path, workers: int, max_streams: int, addresses: int = MAX_TRACKED_ADDRESSES):
        slots = max_streams + 1
        # Eight-byte fields first, so that every array is aligned.
        layout = (
            ("holders", np.int64, (slots,)),
            ("addresses", np.int64, (addresses,)),
            ("starts", np.float64, (addresses,)),
            ("incarnations", np.int64, (workers,)),
            ("streams", np.int32, (workers, 1 + slots)),
            ("refusals", np.int32, (addresses,)),
        )
        size = sum(np.dtype(dtype).itemsize * int(np.prod(shape)) for _, dtype, shape in layout)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(self.fd, size)
        self.map = mmap.mmap(self.fd, size)
        offset = 0
        for name, dtype, shape in layout:
            array = np.ndarray(shape, dtype, buffer=self.map, offset=offset)
            setattr(self, name, array)
            offset += array.nbytes

    @contextlib.contextmanager
    def locked(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def holder_slot(self, name: str) -> int:
        """The slot of a token holder's streams, taking a free one for a holder without; under the lock."""
        k = key(name)
        found = np.flatnonzero(self.holders == k)
        if found.size:
            return int(found[0])
        free = np.flatnonzero((self.holders == 0) | (self.streams[:, 1:].sum(axis=0) == 0))
        self.holders[free[0]] = k
        return int(free[0])

    def worker_of(self, incarnation: int) -> int | None:
        """The worker that runs this incarnation now; None when none does (it died, or never was)."""
        found = np.flatnonzero(self.incarnations == incarnation) if incarnation > 0 else ()
        return int(found[0]) if len(found) else None

    def begin(self, worker: int, incarnation: int) -> None:
        """A new process serves as worker: nothing of the one before it is open any more."""
        with self.locked():
            self.streams[worker] = 0
            self.incarnations[worker] = incarnation

    def end(self, worker: int) -> None:
        """Worker's process is gone, and with it its streams."""
        self.begin(worker, 0)

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)


class SharedStreamCounts(StreamCounts):
    """StreamCounts of the whole server: every worker's streams count against `--max-streams` and each holder's
    MAX_STREAMS; this worker's are in its own row, forgotten with it if it dies."""

    def __init__(self, state: SharedState, worker: int, max_streams: int, retry_after_s: float):
        super().__init__(max_streams, retry_after_s)
        self.state = state
        self.worker = worker

    def take(self, grant: Grant) -> None:
        s = self.state
        with s.locked():
            slot = 1 + s.holder_slot(grant.name)
            self.check(int(s.streams[:, 0].sum()), int(s.streams[:, slot].sum()), grant)
            s.streams[self.worker, [0, slot]] += 1

    def release(self, grant: Grant) -> None:
        s = self.state
        with s.locked():
            slot = 1 + s.holder_slot(grant.name)
            s.streams[self.worker, [0, slot]] -= 1


class SharedRefusalLimit(RefusalLimit):
    """A RefusalLimit every worker counts in: an address's refusals add up whichever worker its calls reach."""

    def __init__(self, state: SharedState, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        super().__init__(limit, window_s, len(state.addresses), clock)
        self.state = state

    def held_off(self, peer: str) -> StreamError | None:
        if not self.limit:
            return None
        s, k = self.state, key(peer_address(peer))
        with s.locked():
            found = np.flatnonzero(s.addresses == k)
            if not found.size:
                return None
            start, refusals = float(s.starts[found[0]]), int(s.refusals[found[0]])
        return self.holding_off(start, refusals)

    def refused(self, peer: str) -> None:
        if not self.limit:
            return
        s, address, now = self.state, peer_address(peer), self.clock()
        k = key(address)
        with s.locked():
            ended = s.starts + self.window_s <= now
            found = np.flatnonzero(s.addresses == k)
            if found.size:
                i = int(found[0])
            else:  # a free slot, or an ended window's, or else the window that began first is forgotten
                free = np.flatnonzero((s.addresses == 0) | ended)
                i = int(free[0]) if free.size else int(np.argmin(s.starts))
            if not found.size or ended[i]:
                s.addresses[i], s.starts[i], s.refusals[i] = k, now, 0
            s.refusals[i] += 1
            start, refusals = float(s.starts[i]), int(s.refusals[i])
        if refusals == self.limit:
            self.warn(address, start, now)
