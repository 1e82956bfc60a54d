"""Resumes that reach another worker than the one keeping their stream (`serve --workers N`: the shared port
balances connections, not streams), relayed whole to that worker over its Unix socket."""

import asyncio
import contextlib

import grpc
from prometheus_client import CollectorRegistry, Counter

from rnnvoice.protos import SERVICE_NAME, pb
from rnnvoice.service.auth import RELAYED_PEER
from rnnvoice.service.errors import StreamError
from rnnvoice.service.shared_limits import SharedState
from rnnvoice.service.wire import Refused

METHOD = f"/{SERVICE_NAME}/StreamAudio"
# Metadata not passed on: gRPC sets the user agent itself, and the relayed peer is this worker's to say.
NOT_PASSED = ("user-agent", RELAYED_PEER)
# The owner enforces the limits on messages; the relay carries what the client sent.
CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


class Relayed(StreamError):
    """The status the worker keeping a stream ended a relayed call with, passed on as it came."""

    def __init__(self, error: grpc.aio.AioRpcError):
        super().__init__(error.code(), error.details() or "", outcome="relayed")
        self.trailing = tuple(_passed(error.trailing_metadata()))

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.trailing


class Relay:
    """A worker's way to the others: which one keeps the stream of a resume token (its prefix names the
    incarnation that opened it), and the call relayed there."""

    def __init__(self, state: SharedState, worker: int, sockets: list[str], registry: CollectorRegistry):
        self.state = state
        self.worker = worker
        self.sockets = sockets  # each worker's Unix socket, by index
        self.channels: dict[int, tuple[int, grpc.aio.Channel]] = {}  # by worker: (its incarnation, the channel)
        self.relayed = Counter(
            "rnnvoice_stream_relays", "Resumes relayed to the worker that keeps their stream", registry=registry
        )

    def owner(self, token: str) -> int | None:
        """The worker, other than this one, that keeps the stream of a resume token; None when this one answers
        (its own stream, or no live worker's: NOT_FOUND, as for any unknown token)."""
        incarnation, dot, _ = token.partition(".")
        if not dot or not (incarnation.isascii() and incarnation.isdigit()) or len(incarnation) > 18:
            return None
        worker = self.state.worker_of(int(incarnation))
        return None if worker == self.worker else worker

    async def forward(self, worker: int, first: pb.StreamAudioRequest, context, write) -> None:
        """Relays the call whose first request was `first` to worker: the call's metadata (the token with it) and
        the peer it came from, every request, every response; returns when the worker ended it OK (its trailing
        metadata set here), else raises Relayed with its status. A cancelled call cancels the relayed one.
        write(context, responses): how the servicer sends, so that draining cuts a relaying call off between
        responses too."""
        self.relayed.inc()
        metadata = [(k, v) for k, v in context.invocation_metadata() if k not in NOT_PASSED]
        call = self._channel(worker).stream_stream(METHOD, response_deserializer=pb.StreamAudioResponse.FromString)(
            metadata=(*metadata, (RELAYED_PEER, context.peer())), timeout=context.time_remaining()
        )
        requests = None
        try:
            with contextlib.suppress(asyncio.InvalidStateError):  # ended already: reading says how
                await call.write(first.SerializeToString())
            while (response := await call.read()) is not grpc.aio.EOF:
                # The client sends audio once the stream's resumption came: nothing is read before it.
                requests = requests or asyncio.ensure_future(_pass_requests(context, call))
                await write(context, [response])
            context.set_trailing_metadata(tuple(_passed(await call.trailing_metadata())))
        except grpc.aio.AioRpcError as e:
            raise Relayed(e) from None
        finally:
            if requests is not None:
                requests.cancel()
            call.cancel()

    def _channel(self, worker: int) -> grpc.aio.Channel:
        """A channel to worker's current process; a restarted worker gets a new one, not one waiting out the
        reconnection backoff of the process before."""
        incarnation = int(self.state.incarnations[worker])
        held = self.channels.get(worker)
        if held is None or held[0] != incarnation:
            if held is not None:
                asyncio.ensure_future(held[1].close())
            held = self.channels[worker] = (
                incarnation,
                grpc.aio.insecure_channel(f"unix:{self.sockets[worker]}", options=CHANNEL_OPTIONS),
            )
        return held[1]

    async def close(self) -> None:
        for _, channel in self.channels.values():
            await channel.close()


async def _pass_requests(context, call) -> None:
    """The client's requests after the first as they come, then its half-close; bytes the relaying worker could
    not parse go on as they came, for the owner to refuse as it would have."""
    with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):  # the call ended: its status says how
        while (request := await context.read()) is not grpc.aio.EOF:
            await call.write(request.data if isinstance(request, Refused) else request.SerializeToString())
        await call.done_writing()


def _passed(metadata) -> list[tuple[str, str]]:
    return [(k, v) for k, v in metadata or () if not k.startswith(("grpc-", ":"))]
