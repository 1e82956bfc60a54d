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
        self.sessions = SessionTable(settings.max_streams, metrics)
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
            if session.timed_out:  # the rest of a recording after its voice activity timeout is not heard
                break
            out, spent = await self.engine.run(session.stream, part)
            responses += session.respond(out)
            compute_s += spent
        session.metrics.chunk(len(samples) / session.params.sample_rate, compute_s)
        return responses

    async def _finish(self, session: StreamSession) -> list[pb.StreamAudioResponse]:
        out, _ = await self.engine.run(session.stream, None)
        return session.respond(out) + [session.summary(drained=self.draining.is_set())]

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

    def _open(self, config: pb.StreamConfig, max_chunk_s: float) -> StreamSession:
        return self.sessions.open(parse_config(config, self.registry), self.registry, max_chunk_s)

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
            outcome, code = "rejected", e.code
            log.info("stream %s rejected: %s %s", handling.session.id if handling.session else "-",
                     e.code.name, e.message)
            await context.abort(e.code, e.message)
        except asyncio.CancelledError:
            outcome, code = "cancelled", grpc.StatusCode.CANCELLED
            raise
        finally:
            session = handling.session
            self.metrics.stream_ended((session.params.task, session.params.cell) if session else None, outcome, code)
            if session is not None:
                self.sessions.close(session)

    async def StreamAudio(self, request_iterator, context):
        async with self._handling(context) as handling:
            first = await self._read(context)
            if first is None:
                raise invalid("the stream ended before its configuration; send a StreamConfig first")
            if not first.HasField("config"):
                raise invalid("the first request must carry a StreamConfig, not audio; send the configuration first")
            session = handling.session = self._open(first.config, self.settings.max_chunk_s)
            while (request := await self._read(context)) is not None:
                received = time.perf_counter()
                if request.HasField("config"):
                    raise invalid("a stream takes one StreamConfig, in its first request; open a new stream to change it")
                if not request.HasField("audio"):
                    raise invalid("a request after the first must carry an AudioChunk")
                responses = await self._accept(session, request.audio)
                for response in responses:
                    await context.write(response)
                if responses:
                    session.metrics.results_sent(time.perf_counter() - received)
                if session.timed_out:
                    break
            for response in await self._finish(session):
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
                voice_activity=[r.voice_activity for r in responses if r.HasField("voice_activity")],
                summary=responses[-1].summary,
            )

    async def ListModels(self, request, context):
        return pb.ListModelsResponse(models=self.registry.describe())
