"""Who gets in: bearer tokens (each with the tasks it may use and its own stream limit), replaced on a reload, and
a hold-off for addresses that keep sending bad ones."""

import collections
import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from rnnvoice.models.types import Task
from rnnvoice.protos import SERVICE_NAME
from rnnvoice.service.errors import StartupError, StreamError

# Shorter tokens can be guessed; `python -c "import secrets; print(secrets.token_urlsafe(32))"` makes a good one.
MIN_TOKEN_CHARS = 16
ALL_TASKS = frozenset(Task)
# Addresses a RefusalLimit keeps at most: 2.2 MB of windows (tracemalloc).
MAX_TRACKED_ADDRESSES = 10_000
# The peer of the client a worker relays a call for (`serve --workers N`); believed on its Unix socket only.
RELAYED_PEER = "rnnvoice-relayed-peer"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grant:
    """What one token lets its holder do. The name is what logs and limits know the holder by."""

    name: str
    token: str = field(repr=False)  # never in a log line or a message
    tasks: frozenset[Task] = ALL_TASKS
    max_streams: int | None = None  # None: only the server's limit


# The caller of a server without tokens: everything, within the server's limits.
ANYONE = Grant("anyone", "", ALL_TASKS)


def parse_tokens(text: str, source: str) -> tuple[Grant, ...]:
    """Lines of `NAME TOKEN [TASKS [MAX_STREAMS]]` (TASKS: comma-separated, or * for all); # starts a comment.
    `;` separates entries too, so that an environment variable can hold several."""
    grants = []
    for number, line in enumerate(text.replace(";", "\n").splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{source}, entry {number}"
        if not 2 <= len(fields) <= 4:
            raise StartupError(f"{where}: expected NAME TOKEN [TASKS [MAX_STREAMS]], got {len(fields)} fields")
        name, token, tasks, limit = fields + ["*", ""][len(fields) - 2 :]
        if len(token) < MIN_TOKEN_CHARS:
            raise StartupError(
                f"{where}: the token of {name!r} has {len(token)} characters; use at least "
                f"{MIN_TOKEN_CHARS} random ones"
            )
        try:
            allowed = ALL_TASKS if tasks == "*" else frozenset(Task(t) for t in tasks.split(","))
        except ValueError:
            raise StartupError(f"{where}: tasks {tasks!r}; use * or some of {','.join(ALL_TASKS)}") from None
        if limit and not (limit.isdigit() and int(limit) > 0):
            raise StartupError(f"{where}: MAX_STREAMS {limit!r} is not a positive number")
        grants.append(Grant(name, token, allowed, int(limit) if limit else None))
    return tuple(grants)


def load_tokens(path: Path | None, fixed: tuple[Grant, ...] = ()) -> tuple[Grant, ...]:
    """The grants of a token file after the fixed ones (those of RNNVOICE_TOKENS, which a reload cannot change)."""
    grants = fixed
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise StartupError(f"cannot read the token file {path}: {e.strerror}") from None
        grants += parse_tokens(text, str(path))
    names, tokens = set(), set()
    sources = f"RNNVOICE_TOKENS and the token file {path} together" if path else "RNNVOICE_TOKENS"
    for g in grants:
        if g.name in names or g.token in tokens:
            taken = "the name" if g.name in names else "the token"
            raise StartupError(
                f"every token entry needs a name and a token of its own ({sources}); {g.name!r} has {taken} of another"
            )
        names.add(g.name)
        tokens.add(g.token)
    return grants


def peer_address(peer: str) -> str:
    """What a RefusalLimit counts a caller by, from gRPC's peer (`ipv4:10.0.0.7:53122`): the IPv4 address, or the
    /64 of an IPv6 one (one host is often given a whole /64); anything else (a Unix socket) as it is."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return peer
    host = rest.rsplit(":", 1)[0].strip("[]").split("%")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return peer
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class RefusalLimit:
    """Holds off an address from which `limit` calls were refused UNAUTHENTICATED within window_s: its calls get
    RESOURCE_EXHAUSTED with a retry hint until that window ends, so that guessing tokens costs time.

    A held-off address's calls are all refused, a valid token's too: were a right guess let through, the refusals
    would still tell right guesses from wrong ones. A window begins at an address's first refusal, and a valid call
    does not end it (else one token could clear the count of guesses at another). At most max_addresses windows
    are kept: past that, the one that began first is forgotten, and its address counts from zero again.
    Used on the event loop only. limit 0: no hold-off.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        max_addresses: int = MAX_TRACKED_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit = limit
        self.window_s = window_s
        self.max_addresses = max_addresses
        self.clock = clock
        # address -> [window start, refusals in it]; in the order the windows began, so that ended ones are first.
        self.windows: collections.OrderedDict[str, list] = collections.OrderedDict()

    def held_off(self, peer: str) -> StreamError | None:
        """The refusal of a call from peer while its address is held off; None when it is not."""
        window = self.windows.get(peer_address(peer)) if self.limit else None
        return None if window is None else self.holding_off(*window)

    def holding_off(self, start: float, refusals: int) -> StreamError | None:
        """The refusal of a call from an address whose window began at start and counts refusals; None when the
        address is not held off."""
        left_s = start + self.window_s - self.clock()
        if refusals < self.limit or left_s <= 0:
            return None
        return StreamError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"{self.limit} calls from this address were refused for want of a valid token within "
            f"{self.window_s:g} s: its calls are refused until that window ends; retry in {math.ceil(left_s)} s",
            retry_after_s=left_s,
        )

    def refused(self, peer: str) -> None:
        """Counts a call from peer that was refused UNAUTHENTICATED."""
        if not self.limit:
            return
        address, now = peer_address(peer), self.clock()
        while self.windows and next(iter(self.windows.values()))[0] + self.window_s <= now:
            self.windows.popitem(last=False)  # ended
        window = self.windows.get(address)
        if window is None:
            if len(self.windows) >= self.max_addresses:
                self.windows.popitem(last=False)
            window = self.windows[address] = [now, 0]
        window[1] += 1
        if window[1] == self.limit:
            self.warn(address, window[0], now)

    def warn(self, address: str, start: float, now: float) -> None:
        """Says once that an address is held off: its window reached the limit."""
        log.warning(
            "%s: %d calls refused for want of a valid token within %g s; its calls are refused "
            "(RESOURCE_EXHAUSTED) for the next %.0f s",
            address,
            self.limit,
            self.window_s,
            start + self.window_s - now,
        )


class Access:
    """Finds the grant of a call from its `authorization: Bearer TOKEN` metadata; holds off the addresses its
    RefusalLimit names.

    relays: the server is a worker (`serve --workers N`), whose Unix socket only the other workers reach: a call
    that comes over it was relayed, and counts against the address its RELAYED_PEER metadata names.
    """

    def __init__(self, grants: Iterable[Grant], refusals: RefusalLimit | None = None, relays: bool = False):
        self.refusals = refusals or RefusalLimit(0, 0.0)
        self.relays = relays
        self._take(tuple(grants))
        # Fixed for the server's life: a reload changes the tokens, never whether a token is needed.
        self.required = bool(self.grants)

    def _take(self, grants: tuple[Grant, ...]) -> None:
        self.grants = grants
        # Digests are compared, not tokens: equal lengths, so not even a token's length shows in the timing.
        self.digests = [(_digest(g.token), g) for g in grants]

    def replace(self, grants: tuple[Grant, ...], source: str) -> None:
        """Takes the grants of a reload for new calls (calls already let in go on with theirs); StartupError, and
        the grants in use kept, when they would let everyone in or would lock an open server."""
        if bool(grants) != self.required:
            raise StartupError(
                f"{source} has no tokens: a reload cannot let every caller in; keep a token in it, or restart "
                "without --tokens"
                if self.required
                else f"{source} has tokens, but this server started without any: a reload cannot ask for "
                "tokens; restart to do so"
            )
        before = {g.name: g for g in self.grants}
        after = {g.name: g for g in grants}
        changes = [
            f"{what} {', '.join(sorted(names))}"
            for what, names in (
                ("added", after.keys() - before.keys()),
                ("removed", before.keys() - after.keys()),
                ("changed", {n for n in before.keys() & after.keys() if before[n] != after[n]}),
            )
            if names
        ]
        self._take(grants)
        log.info("tokens reloaded from %s: %d in use (%s)", source, len(grants), "; ".join(changes) or "no change")

    def grant(self, metadata, peer: str | None = None) -> Grant:
        """The caller's grant; StreamError UNAUTHENTICATED without a valid token. With the caller's peer: counted
        against its address, and RESOURCE_EXHAUSTED while that is held off, valid token or not."""
        if not self.grants:
            return ANYONE
        if peer is not None:
            peer = self.caller(metadata, peer)
            if (held := self.refusals.held_off(peer)) is not None:
                raise held
        try:
            return self._find(metadata)
        except StreamError:
            if peer is not None:
                self.refusals.refused(peer)
            raise

    def caller(self, metadata, peer: str) -> str:
        """The peer a call counts against: gRPC's, or for a call another worker relayed, the one it names."""
        if self.relays and peer.startswith("unix:"):
            return next((value for key, value in metadata or () if key == RELAYED_PEER), peer)
        return peer

    def _find(self, metadata) -> Grant:
        header = next((value for key, value in metadata or () if key == "authorization"), None)
        if header is None:
            raise StreamError(
                grpc.StatusCode.UNAUTHENTICATED,
                "this server needs a token: send `authorization: Bearer TOKEN` metadata (--token)",
            )
        scheme, _, token = header.partition(" ")
        presented, found = _digest(token), None
        for digest, grant in self.digests:  # every one compared, in constant time: no timing says how close a guess was
            if hmac.compare_digest(presented, digest):
                found = grant
        if found is None or scheme.lower() != "bearer":
            raise StreamError(grpc.StatusCode.UNAUTHENTICATED, "the token is not valid for this server")
        return found

    @staticmethod
    def permit(grant: Grant, task: Task) -> None:
        """StreamError PERMISSION_DENIED unless the grant covers the task."""
        if task not in grant.tasks:
            raise StreamError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"the token of {grant.name!r} may not use {task}; it may use {', '.join(sorted(grant.tasks))}",
            )


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenCheck(grpc.aio.ServerInterceptor):
    """Refuses Voice calls without a valid token before their first message is read (RESOURCE_EXHAUSTED instead
    while their address is held off); health stays open. counted: called with each refusal's method and error."""

    def __init__(self, access: Access, counted: Callable[[str, StreamError], None]):
        self.access = access
        self.counted = counted
        self.prefix = f"/{SERVICE_NAME}/"

    async def intercept_service(self, continuation, details):
        if details.method.startswith(self.prefix):
            try:
                self.access.grant(details.invocation_metadata)
            except StreamError as e:
                return self._refusal(details.method, e)
        return await continuation(details)

    def _refusal(self, method: str, error: StreamError) -> grpc.RpcMethodHandler:
        async def refuse(requests, context):
            # The caller's address is known in the call only: an interceptor is not told it. Refusals of a
            # held-off address are not counted against it again (its window ends when the hint said), nor logged.
            refusals, peer = self.access.refusals, self.access.caller(context.invocation_metadata(), context.peer())
            sent = refusals.held_off(peer)
            if sent is None:
                refusals.refused(peer)
                sent = error
            self.counted(method, sent)
            await context.abort(sent.code, sent.message, trailing_metadata=sent.trailing_metadata())

        # A streaming handler reads nothing, whatever the method: the refused body is never received.
        return grpc.stream_stream_rpc_method_handler(refuse)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
