"""The Voice servicer: turns gRPC messages into calls on sessions, and errors into gRPC statuses."""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import grpc

from rnnvoice.protos import pb, pb_grpc
from rnnvoice.service.batching import BatchScheduler, PerStreamRunner
from rnnvoice.service.errors import StreamError, invalid
from rnnvoice.service.metrics import ServerMetrics
from rnnvoice.service.registry import ModelRegistry
from rnnvoice.service.requests import parse_config
from rnnvoice.service.resumption import CallLost, Resumption
from rnnvoice.service.sessions import SessionTable, StreamSession
from rnnvoice.service.settings import ServerSettings

log = logging.getLogger(__name__)

# A Recognize call's recording goes to the engine in pieces of this much audio.
RECOGNIZE_PIECE_S = 1.0


@dataclass
class Handling:
    """The session of one call, once its configuration opened one."""

    session: StreamSession | None = None


class VoiceServicer(pb_grpc.VoiceServicer):
    def __init__(self, registry: ModelRegistry, settings: ServerSettings, metrics: ServerMetrics):
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        self.sessions = SessionTable(settings.max_streams, metrics, settings.resume_window_s)
        # Chunks run off the event loop: batched across streams by one scheduler, or each stream on its own.
        self.engine = BatchScheduler(settings.batch_wait_ms, settings.max_batch, metrics.batched) \
            if settings.batching else PerStreamRunner(settings.inference_threads)
        self.draining = asyncio.Event()
        self.reads: set[asyncio.Future] = set()  # every call's pending read, so that draining can end it

    async def _accept(self, session: StreamSession, chunk: pb.AudioChunk, piece_s: float | None = None
                      ) -> list[pb.StreamAudioResponse]:
        """A chunk's responses; piece_s: handed to the engine in pieces this long, so that a whole recording
        does not hold up the streams batched with it (chunk boundaries change no result)."""
        samples = session.decode(chunk)
        piece = len(samples) if piece_s is None else max(1, round(piece_s * session.params.sample_rate))
        responses, compute_s = [], 0.0
        for part in samples.split(piece):
            out, spent = await self.engine.run(session.stream, part)
            responses += session.respond(out)
            compute_s += spent
        session.metrics.chunk(len(samples) / session.params.sample_rate, compute_s)
        return responses

    async def _finish(self, session: StreamSession) -> list[pb.StreamAudioResponse]:
        out, _ = await self.engine.run(session.stream, None)
        if session.resumption is not None:
            session.resumption.ended = True
        return session.respond(out) + [session.summary()]

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

    async def _read(self, context) -> pb.StreamAudioRequest | None:
        """The next request; None when the client half-closes or the server is draining."""
        if self.draining.is_set():
            return None
        read = asyncio.ensure_future(context.read())
        self.reads.add(read)
        try:
            request = await read
        except asyncio.CancelledError:
            # `drain` cancelled this read, not the call: the stream ends with its final results.
            if read.cancelled() and self.draining.is_set() and not asyncio.current_task().cancelling():
                return None
            raise
        finally:
            self.reads.discard(read)
        return None if request is grpc.aio.EOF else request

    def drain(self) -> None:
        """Stops every stream from reading more audio: each sends its final results and summary."""
        self.draining.set()
        for read in list(self.reads):
            read.cancel()

    def _open(self, config: pb.StreamConfig, max_chunk_s: float, resumable: bool = False) -> StreamSession:
        return self.sessions.open(parse_config(config, self.registry), self.registry, max_chunk_s, resumable)

    async def _resume(self, request: pb.ResumeStream, handling: Handling) -> list[pb.StreamAudioResponse]:
        """Attaches the stream of request.token to this call; the responses that open the call."""
        session = handling.session = self.sessions.find(request.token)
        resumption = session.resumption
        attached = resumption.owner is not None
        await resumption.take_over(asyncio.current_task())
        self.sessions.find(request.token)  # not freed meanwhile: its window may have ended while a call let go of it
        session.metrics.resumed()
        log.info("stream %d resumed at chunk %d%s", session.id, session.next_sequence,
                 ", its previous call cancelled" if attached else "")
        return [resumption.message(session.next_sequence), *resumption.unacknowledged(request.results_received)]

    @contextlib.asynccontextmanager
    async def _handling(self, context):
        """Runs a call: a StreamError becomes its status, every end is counted, the session is closed."""
        handling = Handling()
        outcome, code = "failed", grpc.StatusCode.UNKNOWN
        try:
            yield handling
            outcome = "drained" if self.draining.is_set() else "completed"
            code = grpc.StatusCode.OK
        except StreamError as e:
            outcome, code = "parked" if isinstance(e, CallLost) else "rejected", e.code
            log.info("stream %s %s: %s %s", handling.session.id if handling.session else "-", outcome,
                     e.code.name, e.message)
            await context.abort(e.code, e.message)
        except asyncio.CancelledError:
            outcome, code = "cancelled", grpc.StatusCode.CANCELLED
            raise
        finally:
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
            first = await self._read(context)
            if first is None:
                raise invalid("the stream ended before its configuration; send a StreamConfig first")
            if first.HasField("resume"):
                await self._write(context, await self._resume(first.resume, handling))
            elif first.HasField("config"):
                config = first.config
                handling.session = self._open(config, self.settings.max_chunk_s, config.resumable)
                if config.resumable:
                    await self._write(context, [handling.session.resumption.message(0)])
            else:
                raise invalid("the first request must carry a StreamConfig (or a ResumeStream), not audio; "
                              "send the configuration first")
            session, resumption = handling.session, handling.session.resumption
            if resumption is None or not resumption.ended:
                if await self._audio(context, session) is None:
                    return  # half-closed: nothing more to say
            # After a resumable stream's summary, its EndOfAudio again, counting every result, ends the call.
            while (request := await self._read(context)) is not None:
                if not request.HasField("end"):
                    raise invalid("after EndOfAudio and the summary a stream takes no more audio; send EndOfAudio "
                                  "again with every result counted")
                resumption.acknowledge(request.end.results_received)
                if not resumption.kept:
                    return
            self._lost(resumption)

    async def _audio(self, context, session: StreamSession) -> pb.StreamAudioRequest | None:
        """Takes the stream's audio, then sends its last results and summary; what ended the audio: EndOfAudio,
        or None for a half-close."""
        resumption = session.resumption
        while (request := await self._read(context)) is not None and not request.HasField("end"):
            received = time.perf_counter()
            if request.HasField("config"):
                raise invalid("a stream takes one StreamConfig, in its first request; open a new stream to change it")
            if not request.HasField("audio"):
                raise invalid("a request after the first must carry an AudioChunk")
            if resumption is not None:
                resumption.acknowledge(request.audio.results_received)
            responses = await self._step(session, self._accept(session, request.audio))
            await self._write(context, responses)
            if responses:
                session.metrics.results_sent(time.perf_counter() - received)
        if request is None:
            if resumption is not None:
                self._lost(resumption)
        elif resumption is None:
            raise invalid("EndOfAudio ends resumable streams only; half-close this stream instead")
        else:
            resumption.acknowledge(request.end.results_received)
        await self._write(context, await self._step(session, self._finish(session)))
        return request

    def _lost(self, resumption: Resumption) -> None:
        """A resumable stream's half-close: a lost connection can read as one, so the stream waits for a resume."""
        if not self.draining.is_set():
            raise CallLost("a resumable stream ends with EndOfAudio, twice (see voice.proto); a half-close before "
                           f"is taken for a lost call, and the stream is kept {resumption.window_s:g} s for a resume")

    @staticmethod
    async def _write(context, responses: list[pb.StreamAudioResponse]) -> None:
        for response in responses:
            await context.write(response)

    async def Recognize(self, request, context):
        async with self._handling(context) as handling:
            # The whole recording is one chunk, bounded by the longest recording instead.
            session = handling.session = self._open(request.config, self.settings.max_recording_s)
            responses = await self._accept(session, pb.AudioChunk(sequence=0, data=request.audio), RECOGNIZE_PIECE_S)
            responses += await self._finish(session)
            return pb.RecognizeResponse(
                detections=[r.detection for r in responses if r.HasField("detection")],
                transcripts=[r.transcript for r in responses if r.HasField("transcript") and r.transcript.is_final],
                commands=[r.command for r in responses if r.HasField("command")],
                summary=responses[-1].summary,
            )

    async def ListModels(self, request, context):
        return pb.ListModelsResponse(models=self.registry.describe())


def _retrieve(work: asyncio.Future) -> None:
    """Marks the exception of a resumable stream's work as seen: a resume reports it, or nobody needs it."""
    if not work.cancelled():
        work.exception()
