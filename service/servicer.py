"""The Voice servicer: turns gRPC messages into calls on sessions, and errors into gRPC statuses."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import grpc

from rnnvoice.protos import pb, pb_grpc
from rnnvoice.service.errors import StreamError, invalid
from rnnvoice.service.registry import ModelRegistry
from rnnvoice.service.requests import parse_config
from rnnvoice.service.sessions import SessionTable, StreamSession
from rnnvoice.service.settings import ServerSettings

log = logging.getLogger(__name__)


class VoiceServicer(pb_grpc.VoiceServicer):
    def __init__(self, registry: ModelRegistry, settings: ServerSettings):
        self.registry = registry
        self.settings = settings
        self.sessions = SessionTable(settings.max_streams)
        # Model steps run here, off the event loop; torch releases the GIL while it computes.
        self.executor = ThreadPoolExecutor(settings.inference_threads, thread_name_prefix="inference")
        self.draining = asyncio.Event()

    async def _compute(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def _read(self, context) -> pb.StreamAudioRequest | None:
        """The next request; None when the client half-closes or the server is draining."""
        read = asyncio.ensure_future(context.read())
        drain = asyncio.ensure_future(self.draining.wait())
        done, _ = await asyncio.wait({read, drain}, return_when=asyncio.FIRST_COMPLETED)
        drain.cancel()
        if read not in done:
            read.cancel()
            return None
        request = read.result()
        return None if request is grpc.aio.EOF else request

    def _open(self, config: pb.StreamConfig, max_chunk_s: float) -> StreamSession:
        return self.sessions.open(parse_config(config, self.registry), self.registry, max_chunk_s)

    async def StreamAudio(self, request_iterator, context):
        session = None
        try:
            first = await self._read(context)
            if first is None:
                raise invalid("the stream ended before its configuration; send a StreamConfig first")
            if not first.HasField("config"):
                raise invalid("the first request must carry a StreamConfig, not audio; send the configuration first")
            session = self._open(first.config, self.settings.max_chunk_s)
            while (request := await self._read(context)) is not None:
                if request.HasField("config"):
                    raise invalid("a stream takes one StreamConfig, in its first request; open a new stream to change it")
                if not request.HasField("audio"):
                    raise invalid("a request after the first must carry an AudioChunk")
                for response in await self._compute(session.accept, request.audio):
                    await context.write(response)
            for response in await self._compute(session.finish):
                await context.write(response)
        except StreamError as e:
            log.info("stream %s rejected: %s %s", session.id if session else "-", e.code.name, e.message)
            await context.abort(e.code, e.message)
        finally:
            if session is not None:
                self.sessions.close(session)

    async def Recognize(self, request, context):
        session = None
        try:
            # The whole recording is one chunk, bounded by the longest recording instead.
            session = self._open(request.config, self.settings.max_recording_s)
            responses = await self._compute(session.accept, pb.AudioChunk(sequence=0, data=request.audio))
            responses += await self._compute(session.finish)
            return pb.RecognizeResponse(
                detections=[r.detection for r in responses if r.HasField("detection")],
                transcripts=[r.transcript for r in responses if r.HasField("transcript") and r.transcript.is_final],
                commands=[r.command for r in responses if r.HasField("command")],
                summary=responses[-1].summary,
            )
        except StreamError as e:
            await context.abort(e.code, e.message)
        finally:
            if session is not None:
                self.sessions.close(session)

    async def ListModels(self, request, context):
        return pb.ListModelsResponse(models=self.registry.describe())
