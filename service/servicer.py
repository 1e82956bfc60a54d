"""The Voice servicer: turns gRPC messages into calls on sessions, and errors into gRPC statuses."""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import grpc

from rnnvoice.protos import pb, pb_grpc
from rnnvoice.service.auth import Access, Grant
from rnnvoice.service.batching import BatchScheduler, PerStreamRunner
from rnnvoice.service.errors import StreamError, invalid
from rnnvoice.service.limits import IdleWatch, StreamClock, StreamCounts
from rnnvoice.service.metrics import ServerMetrics
from rnnvoice.service.registry import ModelRegistry
from rnnvoice.service.relay import Relay
from rnnvoice.service.requests import parse_config
from rnnvoice.service.resumption import CallLost, Resumption
from rnnvoice.service.sessions import SessionTable, StreamSession, enrol_phrases
from rnnvoice.service.settings import ServerSettings
from rnnvoice.service.wire import accepted

log = logging.getLogger(__name__)

# A Recognize call's recording goes to the engine in pieces of this much audio.
RECOGNIZE_PIECE_S = 1.0
# What a read gives when the server is draining: the stream stops reading and ends with its final results.
DRAINED = object()


@dataclass
class Handling:
    """Whose call it is, once known, and its session, once its configuration opened one; relayed: the call went to
    the worker that keeps its stream, which counts it."""

    grant: Grant | None = None
    session: StreamSession | None = None
    relayed: bool = False


class VoiceServicer(pb_grpc.VoiceServicer):
    def __init__(
        self,
        registry: ModelRegistry,
        settings: ServerSettings,
        metrics: ServerMetrics,
        access: Access,
        counts: StreamCounts | None = None,
        token_prefix: str = "",
        relay: Relay | None = None,
    ):
        """counts, token_prefix and relay: a worker's (`serve --workers N`), sharing the limits with the others,
        naming itself in its resume tokens and relaying resumes of the others' streams to them."""
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        self.access = access
        self.relay = relay
        # A parked stream sends no audio: it keeps its slot no longer than the idle timeout lets a silent one.
        self.sessions = SessionTable(
            counts or StreamCounts(settings.max_streams, settings.retry_after_s),
            metrics,
            min(settings.resume_window_s, settings.idle_timeout_s),
            token_prefix,
        )
        # Chunks run off the event loop: batched across streams by one scheduler, or each stream on its own.
        self.engine = (
            BatchScheduler(settings.batch_wait_ms, settings.max_batch, metrics.batched)
            if settings.batching
            else PerStreamRunner(settings.inference_threads)
        )
        self.draining = asyncio.Event()
        self.readers: set[asyncio.Task] = set()  # the calls waiting for a request, so that draining can end the wait
        self.drain_cancelled: set[asyncio.Task] = set()
        self.calls: set[asyncio.Task] = set()  # every StreamAudio and Recognize call running
        self.cut_off: set[asyncio.Task] = set()  # the calls still running when the grace period ended
        # The calls sending a response: one is cut off after its send, not during it (gRPC refuses a status while a
        # message is on its way, and the client would lose the drained status, then spend its resume window).
        self.writing: set[asyncio.Task] = set()

    async def _accept(
        self, session: StreamSession, sequence: int, data: bytes, piece_s: float | None = None
    ) -> list[pb.StreamAudioResponse]:
        """A chunk's responses; piece_s: handed to the engine in pieces this long, so that a whole recording
        does not hold up the streams batched with it (chunk boundaries change no result)."""
        responses, compute_s, samples = [], 0.0, 0
        for part in session.decode(sequence, data, piece_s):
            if session.speech_timed_out:  # the rest of a recording after its voice activity timeout is not heard
                break
            out, spent = await self.engine.run(session.stream, part)
            responses += session.respond(out)
            compute_s += spent
            samples += len(part)
        session.metrics.chunk(samples / session.params.sample_rate, compute_s)
        return responses

    async def _finish(self, session: StreamSession, end: int = pb.STREAM_END_COMPLETED) -> list[pb.StreamAudioResponse]:
        out, _ = await self.engine.run(session.stream, None)
        if session.resumption is not None:
            session.resumption.ended = True
        return session.respond(out) + [session.summary(end)]

    async def _step(self, session: StreamSession, work) -> list[pb.StreamAudioResponse]:
        """The responses of work (a chunk, or the end of audio). A resumable stream keeps them until the client
        acknowledges them, acknowledges a chunk without results, and finishes the work even if the call is lost."""
        resumption = session.resumption
        if resumption is None:
            return await work

        async def kept() -> list[pb.StreamAudioResponse]:
            results = await work
            resumption.keep(results)
            return results or [pb.StreamAudioResponse(sequence=session.last_sequence, ack=pb.AudioAck())]

        resumption.busy = asyncio.ensure_future(kept())
        resumption.busy.add_done_callback(_retrieve)  # a lost call's failed chunk fails its resume instead
        return await asyncio.shield(resumption.busy)

    async def _read(self, context):
        """The next request; None when the client half-closes, DRAINED when the server is draining."""
        if self.draining.is_set():
            return DRAINED
        # The call's own task waits (a task per read would cost each chunk a few microseconds and a loop turn);
        # `drain` cancels the wait through it, and the cancellation it made is taken back here.
        call = asyncio.current_task()
        self.readers.add(call)
        try:
            request = await context.read()
        except asyncio.CancelledError:
            if call in self.drain_cancelled:
                self.drain_cancelled.discard(call)
                if call.uncancel() == 0:  # drain alone cancelled it, not the client: the stream ends with its results
                    return DRAINED
            raise
        finally:
            self.readers.discard(call)
        return None if request is grpc.aio.EOF else accepted(request)

    def drain(self) -> None:
        """Stops every stream from reading more audio: each sends its final results and summary."""
        self.draining.set()
        for call in list(self.readers):
            self.drain_cancelled.add(call)
            call.cancel()

    async def end_drain(self, grace_s: float) -> None:
        """Waits up to grace_s for the drained calls to end, then ends those still running with the drained status
        itself: gRPC's own end of the grace period is an UNAVAILABLE that a resumable client takes for a lost
        connection, and it would spend its resume window on a server that is gone (issue 24)."""
        if self.calls and grace_s > 0:
            await asyncio.wait(list(self.calls), timeout=grace_s)
        for call in list(self.calls):
            self.cut_off.add(call)
            if call not in self.writing:
                call.cancel()

    async def _open(
        self, config: pb.StreamConfig, max_chunk_s: float, grant: Grant, resumable: bool = False
    ) -> StreamSession:
        if config.assistant.context_yaml:  # off the event loop: a context at the size limits compiles for 0.4 s
            params = await asyncio.to_thread(parse_config, config, self.registry)
        else:
            params = parse_config(config, self.registry)
        self.access.permit(grant, params.task)
        if params.phrases:  # off the event loop: a new phrase is spoken by text-to-speech voices first
            await asyncio.to_thread(enrol_phrases, params.phrases)
        return self.sessions.open(params, self.registry, max_chunk_s, grant, resumable)

    async def _resume(self, request: pb.ResumeStream, handling: Handling) -> list[pb.StreamAudioResponse]:
        """Attaches the stream of request.token to this call; the responses that open the call."""
        session = handling.session = self.sessions.find(request.token, handling.grant)
        resumption = session.resumption
        attached = resumption.owner is not None
        await resumption.take_over(asyncio.current_task())
        self.sessions.find(request.token, handling.grant)  # not freed meanwhile: its window may have ended
        session.metrics.resumed()
        log.info(
            "stream %s resumed at chunk %d%s",
            _name(handling),
            session.next_sequence,
            ", its previous call cancelled" if attached else "",
        )
        return [resumption.message(session.next_sequence), *resumption.unacknowledged(request.results_received)]

    @contextlib.asynccontextmanager
    async def _handling(self, context):
        """Runs a call: a StreamError becomes its status, any other error INTERNAL for this call alone; every end
        is counted, the session is closed."""
        handling = Handling()
        outcome, code = "failed", grpc.StatusCode.UNKNOWN
        call = asyncio.current_task()
        self.calls.add(call)
        try:
            try:
                yield handling
            except asyncio.CancelledError:
                if call not in self.cut_off or call.uncancel() > 0:
                    raise
                raise _cut_off() from None  # (the client did not cancel it too)
            outcome, code = "completed", grpc.StatusCode.OK
        except StreamError as e:
            outcome, code = e.outcome, e.code
            log.info("stream %s %s: %s %s", _name(handling), outcome, e.code.name, e.message)
            await context.abort(e.code, e.message, trailing_metadata=e.trailing_metadata())
        except asyncio.CancelledError:
            outcome, code = "cancelled", grpc.StatusCode.CANCELLED
            raise
        except Exception:
            outcome, code = "failed", grpc.StatusCode.INTERNAL
            log.exception("stream %s failed", _name(handling))
            await context.abort(
                code,
                f"the server failed on this stream (its log names stream {_name(handling)}); "
                "other streams go on; open a new one",
            )
        finally:
            self.calls.discard(call)
            if not handling.relayed:
                self._end(handling.session, outcome, code)

    def _end(self, session: StreamSession | None, outcome: str, code: grpc.StatusCode) -> None:
        """Counts a call's end and closes its session; a resumable stream's lost call parks it instead."""
        resumption = session.resumption if session else None
        if resumption is not None and resumption.owner is not asyncio.current_task():
            return  # a resume that lost the stream to a newer resume before it was attached
        if resumption is not None and outcome == "cancelled":
            outcome = "parked"
        self.metrics.stream_ended((session.params.task, session.params.cell) if session else None, outcome, code)
        if outcome == "parked":
            self.sessions.park(session)
        elif session is not None:
            self.sessions.close(session)

    async def StreamAudio(self, request_iterator, context):
        async with self._handling(context) as handling:
            clock = StreamClock(self.settings)
            try:
                # No audio for the idle timeout ends the stream: reading, computing and writing alike.
                async with asyncio.timeout(None) as timeout:
                    idle = IdleWatch(timeout, self.settings.idle_timeout_s)
                    try:
                        await self._stream(context, handling, clock, idle)
                    finally:
                        idle.close()
            except TimeoutError:
                raise clock.idle_error() from None

    async def _stream(self, context, handling: Handling, clock: StreamClock, idle: IdleWatch) -> None:
        grant = handling.grant = self.access.grant(context.invocation_metadata(), context.peer())
        first = await self._read(context)
        if first is DRAINED:
            raise StreamError(
                grpc.StatusCode.UNAVAILABLE, "the server is shutting down; open the stream again", outcome="drained"
            )
        if first is None:
            raise invalid("the stream ended before its configuration; send a StreamConfig first")
        if first.HasField("resume") and self.relay and (owner := self.relay.owner(first.resume.token)) is not None:
            handling.relayed = True
            idle.close()  # the worker keeping the stream times it
            await self.relay.forward(owner, first, context, self._write)
            return
        if first.HasField("resume"):
            await self._write(context, await self._resume(first.resume, handling))
            clock = handling.session.resumption.clock  # its pace and longest duration go on across calls
        elif first.HasField("config"):
            config = first.config
            session = handling.session = await self._open(config, self.settings.max_chunk_s, grant, config.resumable)
            if session.resumption is not None:
                session.resumption.clock = clock
                await self._write(context, [session.resumption.message(0)])
        else:
            raise invalid(
                "the first request must carry a StreamConfig (or a ResumeStream), not audio; send the "
                "configuration first"
            )
        session, resumption = handling.session, handling.session.resumption
        if resumption is None or not resumption.ended:
            end = await self._take_audio(context, session, clock, idle)
            idle.heard()  # the final results get a whole idle period to be taken
            await self._write(context, await self._step(session, self._finish(session, end)))
            if end == pb.STREAM_END_DRAINED:
                raise StreamError(
                    grpc.StatusCode.UNAVAILABLE,
                    f"the server is shutting down: it stopped reading this stream after "
                    f"{session.stream.audio_s:.2f} s of audio (its summary says so); send the rest on a "
                    "new stream",
                    outcome="drained",
                )
            if end == pb.STREAM_END_MAX_DURATION:
                raise clock.expired_error()
            if resumption is None or end == pb.STREAM_END_VOICE_ACTIVITY_TIMEOUT:
                return  # (a resumable stream its voice activity timeout ended: the client's audio may still come)
        # After a resumable stream's summary, its EndOfAudio again, counting every result, ends the call.
        while (request := await self._read(context)) is not None and request is not DRAINED:
            if not request.HasField("end"):
                raise invalid(
                    "after EndOfAudio and the summary a stream takes no more audio; send EndOfAudio "
                    "again with every result counted"
                )
            resumption.acknowledge(request.end.results_received)
            if not resumption.kept:
                return
        self._lost(resumption)

    async def _take_audio(self, context, session: StreamSession, clock: StreamClock, idle: IdleWatch) -> int:
        """Reads and answers chunks until the audio ends (a half-close, or a resumable stream's EndOfAudio), the
        server stops reading or the voice activity timeout passes; the StreamEnd."""
        resumption = session.resumption
        while not clock.expired:
            idle.heard()
            request = await self._read(context)
            if request is DRAINED:
                return pb.STREAM_END_DRAINED
            if request is None:
                if resumption is not None:
                    self._lost(resumption)
                return pb.STREAM_END_COMPLETED
            received = time.perf_counter()
            if request.HasField("end"):
                if resumption is None:
                    raise invalid("EndOfAudio ends resumable streams only; half-close this stream instead")
                resumption.acknowledge(request.end.results_received)
                return pb.STREAM_END_COMPLETED
            if request.HasField("config"):
                raise invalid("a stream takes one StreamConfig, in its first request; open a new stream to change it")
            if not request.HasField("audio"):
                raise invalid("a request after the first must carry an AudioChunk")
            if resumption is not None:
                resumption.acknowledge(request.audio.results_received)
            responses = await self._step(session, self._accept(session, request.audio.sequence, request.audio.data))
            await self._write(context, responses)
            if responses:
                session.metrics.results_sent(time.perf_counter() - received)
            if session.speech_timed_out:
                return pb.STREAM_END_VOICE_ACTIVITY_TIMEOUT
            await clock.pace(session.stream.audio_s)
        return pb.STREAM_END_MAX_DURATION

    def _lost(self, resumption: Resumption) -> None:
        """A resumable stream's half-close: a lost connection can read as one, so the stream waits for a resume."""
        if not self.draining.is_set():
            raise CallLost(
                "a resumable stream ends with EndOfAudio, twice (see voice.proto); a half-close before "
                f"is taken for a lost call, and the stream is kept {resumption.window_s:g} s for a resume"
            )

    async def _write(self, context, responses: list[pb.StreamAudioResponse]) -> None:
        call = asyncio.current_task()
        self.writing.add(call)
        try:
            for response in responses:
                await context.write(response)
        finally:
            self.writing.discard(call)
        if call in self.cut_off:
            raise _cut_off()

    async def Recognize(self, request, context):
        async with self._handling(context) as handling:
            request = accepted(request)
            grant = handling.grant = self.access.grant(context.invocation_metadata(), context.peer())
            # The whole recording is one chunk, bounded by the longest recording instead.
            session = handling.session = await self._open(request.config, self.settings.max_recording_s, grant)
            responses = await self._accept(session, 0, request.audio, RECOGNIZE_PIECE_S)
            end = pb.STREAM_END_VOICE_ACTIVITY_TIMEOUT if session.speech_timed_out else pb.STREAM_END_COMPLETED
            responses += await self._finish(session, end)
            return pb.RecognizeResponse(
                detections=[r.detection for r in responses if r.HasField("detection")],
                transcripts=[r.transcript for r in responses if r.HasField("transcript") and r.transcript.is_final],
                commands=[r.command for r in responses if r.HasField("command")],
                voice_activity=[r.voice_activity for r in responses if r.HasField("voice_activity")],
                summary=responses[-1].summary,
            )

    async def ListModels(self, request, context):
        try:
            accepted(request)
            self.access.grant(context.invocation_metadata(), context.peer())
        except StreamError as e:
            await context.abort(e.code, e.message, trailing_metadata=e.trailing_metadata())
        return pb.ListModelsResponse(models=self.registry.describe(), contexts=sorted(self.registry.contexts))


def _cut_off() -> StreamError:
    return StreamError(
        grpc.StatusCode.UNAVAILABLE,
        "the server is shutting down, and this stream's final results did not come within its grace period; "
        "send the audio again on a new stream",
        outcome="drained",
    )


def _name(handling: Handling) -> str:
    """A stream as its log lines name it: its number (- before it has one) and whose it is."""
    number = handling.session.id if handling.session else "-"
    return f"{number} ({handling.grant.name})" if handling.grant else str(number)


def _retrieve(work: asyncio.Future) -> None:
    """Marks the exception of a resumable stream's work as seen: a resume reports it, or nobody needs it."""
    if not work.cancelled():
        work.exception()
