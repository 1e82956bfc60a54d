"""Per-stream sessions: audio messages in, response messages out, and the table of open sessions."""

import asyncio
import functools
import itertools
import threading
from collections.abc import Iterator

import grpc
import torch
from google.protobuf import struct_pb2

from rnnvoice.models.audio.pcm import AudioFormatError, decode
from rnnvoice.models.streaming.assistant_stream import Command, assistant_stream
from rnnvoice.models.streaming.keyword_detector import Detection
from rnnvoice.models.streaming.keyword_stream import keyword_stream
from rnnvoice.models.streaming.phrase_spotter import EnrolmentError, enrol
from rnnvoice.models.streaming.stream import Stream, StreamOutput
from rnnvoice.models.streaming.transcription_stream import Transcript, transcription_stream
from rnnvoice.models.streaming.voice_activity import VoiceEvent, VoiceEventKind, with_voice_activity
from rnnvoice.models.types import Task
from rnnvoice.protos import pb
from rnnvoice.service.auth import Grant
from rnnvoice.service.errors import StreamError, invalid
from rnnvoice.service.limits import StreamCounts
from rnnvoice.service.metrics import ModelMetrics, ServerMetrics
from rnnvoice.service.registry import ModelRegistry
from rnnvoice.service.requests import StreamParams
from rnnvoice.service.resumption import Resumption


def enrol_phrases(phrases) -> None:
    """Each phrase chosen at run time enrolled (text-to-speech, seconds for a new one; the spotter keeps them), before
    its stream opens; FAILED_PRECONDITION when this server cannot enrol phrases."""
    try:
        for text in phrases:
            enrol(text)
    except EnrolmentError as e:
        raise StreamError(grpc.StatusCode.FAILED_PRECONDITION, f"{e}; or send no phrases") from e


def open_stream(params: StreamParams, registry: ModelRegistry) -> Stream:
    """The engine's stream for a task, on this stream's own state; the models are the registry's."""
    stream = _task_stream(params, registry)
    if params.voice_events or params.voice_timeout_s is not None:
        stream = with_voice_activity(stream, events=params.voice_events)
    return stream


def _task_stream(params: StreamParams, registry: ModelRegistry) -> Stream:
    if params.task == Task.KEYWORDS:
        # Phrases alone need no keyword model, but for voice activity, which its speech output gives.
        voice_activity = params.voice_events or params.voice_timeout_s is not None
        return keyword_stream(
            registry.get(Task.KEYWORDS, params.cell) if params.sensitivities or voice_activity else None,
            params.sample_rate,
            params.sensitivities,
            interim_scores=params.interim_scores,
            phrases=params.phrases,
        )
    transcription = dict(
        decoder=params.decoder,
        hints=list(params.hints),
        endpointing=params.endpointing,
        interim=params.interim_results,
        max_alternatives=params.max_alternatives,
    )
    if params.task == Task.TRANSCRIPTION:
        return transcription_stream(registry.get(Task.TRANSCRIPTION, params.cell), params.sample_rate, **transcription)
    return assistant_stream(
        registry.get(Task.KEYWORDS, params.cell),
        registry.get(Task.TRANSCRIPTION, params.cell),
        params.sample_rate,
        sensitivity=next(iter(params.sensitivities.values())),
        context=params.context,
        **transcription,
    )


class StreamSession:
    """Owns one stream's state between its chunks; the models themselves are shared.

    `decode` checks and decodes a chunk; the engine (service.batching) runs it through `stream`;
    `respond` turns each output into response messages, `summary` ends the stream. A stream with a voice
    activity timeout is `speech_timed_out` once it has gone that long without speech: its handler ends it.
    """

    def __init__(
        self,
        session_id: int,
        params: StreamParams,
        registry: ModelRegistry,
        max_chunk_s: float,
        metrics: ModelMetrics,
        grant: Grant,
        resumption: Resumption | None = None,
    ):
        self.id = session_id
        self.params = params
        self.grant = grant
        self.metrics = metrics
        self.resumption = resumption
        self.stream = open_stream(params, registry)
        self.max_chunk_bytes = int(max_chunk_s * params.bytes_per_second)
        self.max_chunk_s = max_chunk_s
        self.next_sequence = 0
        self.chunks = 0
        self.detections = 0
        self.finals = 0
        self.speech_timed_out = False

    def decode(self, sequence: int, data: bytes, piece_s: float | None = None) -> Iterator[torch.Tensor]:
        """A chunk's samples, mono at the stream's rate: (T,), or pieces of piece_s each, decoded one at a time
        (a whole recording is never held as floats nor copied); StreamError if it is out of order or malformed."""
        if sequence != self.next_sequence:
            raise invalid(
                f"audio chunk has sequence {sequence} where {self.next_sequence} was expected; "
                "number chunks 0, 1, 2, ... in the order they are sent"
            )
        data = memoryview(data)
        if not data:
            raise invalid(f"audio chunk {sequence} is empty; send at least one sample per chunk")
        if len(data) > self.max_chunk_bytes:
            raise invalid(
                f"audio chunk {sequence} holds {len(data)} bytes, more than "
                f"{self.max_chunk_s:g} s of audio ({self.max_chunk_bytes} bytes); send smaller chunks"
            )
        self.next_sequence += 1
        self.chunks += 1
        frame_bytes = self.params.bytes_per_second // self.params.sample_rate
        step = len(data) if piece_s is None else max(1, round(piece_s * self.params.sample_rate)) * frame_bytes
        for start in range(0, len(data), step):
            try:
                yield decode(data[start : start + step], self.params.encoding, self.params.channels)
            except AudioFormatError as e:
                raise invalid(f"audio chunk {sequence}: {e}") from e

    def respond(self, out: StreamOutput) -> list[pb.StreamAudioResponse]:
        """The response messages of one chunk's output, counted."""
        results = [("voice_activity", voice_message(e)) for e in out.voice]
        results += [("detection", detection_message(d)) for d in out.detections]
        if out.scores is not None:  # (as a dict, which protobuf builds the message from faster)
            results.append(("scores", {"time_s": out.time_s, "scores": out.scores}))
        results += [("transcript", transcript_message(t)) for t in out.transcripts]
        results += [("command", command_message(c)) for c in out.commands]
        if out.detections:
            self.detections += len(out.detections)
            self.metrics.detected(d.keyword for d in out.detections)
        self.finals += out.finals
        self.metrics.finals(out.finals)
        timeout = self.params.voice_timeout_s
        self.speech_timed_out |= timeout is not None and out.silence_s >= timeout
        return [pb.StreamAudioResponse(sequence=self.last_sequence, **{kind: message}) for kind, message in results]

    def summary(self, end: int = pb.STREAM_END_COMPLETED) -> pb.StreamAudioResponse:
        """The stream's last response; end: a StreamEnd."""
        s = self.stream
        summary = pb.StreamSummary(
            audio_s=s.audio_s,
            chunks=self.chunks,
            frames=s.steps[0],  # the first model's steps
            compute_s=s.compute_s,
            detections=self.detections,
            finals=self.finals,
            end_reason=end,
        )
        return pb.StreamAudioResponse(sequence=self.last_sequence, summary=summary)

    @property
    def last_sequence(self) -> int:
        return max(0, self.next_sequence - 1)


def detection_message(d: Detection) -> pb.KeywordDetection:
    return pb.KeywordDetection(
        keyword=d.keyword, score=d.score, start_s=d.start_s, end_s=d.end_s, detected_s=d.detected_s
    )


def voice_message(e: VoiceEvent) -> pb.VoiceActivityEvent:
    kind = pb.VoiceActivityEvent.SPEECH_BEGIN if e.kind == VoiceEventKind.BEGIN else pb.VoiceActivityEvent.SPEECH_END
    return pb.VoiceActivityEvent(kind=kind, time_s=e.time_s)


def transcript_message(t: Transcript) -> pb.TranscriptResult:
    return pb.TranscriptResult(
        text=t.text,
        is_final=t.is_final,
        stability=t.stability,
        confidence=t.confidence,
        start_s=t.start_s,
        end_s=t.end_s,
        words=[pb.WordInfo(word=w.word, start_s=w.start_s, end_s=w.end_s, confidence=w.confidence) for w in t.words],
        alternatives=[
            pb.SpeechAlternative(text=a.hypothesis.text, score=a.score, confidence=a.confidence) for a in t.alternatives
        ],
    )


def command_message(c: Command) -> pb.AssistantCommand:
    slots = struct_pb2.Struct()
    types = c.slot_types or {}
    # A context's number slots (its pv. integer and ordinal types) as numbers; the rest as the context wrote them.
    slots.update({k: int(v) if types.get(k, "").startswith("pv.") else v for k, v in c.intent.slots.items()})
    return pb.AssistantCommand(
        wake_word=detection_message(c.wake),
        transcript=transcript_message(c.transcript) if c.transcript else None,
        intent=pb.Intent(name=c.intent.name, slots=slots, understood=c.understood),
    )


class SessionTable:
    """The open sessions, bounded overall and per grant, parked ones included; every opened session is closed
    exactly once: by its handler, or when its resume window ends."""

    def __init__(
        self,
        counts: StreamCounts,
        metrics: ServerMetrics,
        resume_window_s: float,
        token_prefix: str = "",
    ):
        """counts: the limits, this process's or every worker's; token_prefix: begins every resume token (a
        worker's, that names it to the others)."""
        self.counts = counts
        self.metrics = metrics
        self.resume_window_s = resume_window_s
        self.token_prefix = token_prefix
        self.sessions: dict[int, StreamSession] = {}
        self.resumable: dict[str, StreamSession] = {}  # by token
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        for task, cell in metrics.models:
            metrics.parked.labels(task, cell).set_function(functools.partial(self.count_parked, task, cell))

    def open(
        self, params: StreamParams, registry: ModelRegistry, max_chunk_s: float, grant: Grant, resumable: bool = False
    ) -> StreamSession:
        with self.lock:
            self.counts.take(grant)
            try:
                resumption = Resumption(self.resume_window_s, self.token_prefix) if resumable else None
                session = StreamSession(
                    next(self.ids),
                    params,
                    registry,
                    max_chunk_s,
                    self.metrics.models[params.task, params.cell],
                    grant,
                    resumption,
                )
            except BaseException:
                self.counts.release(grant)
                raise
            self.sessions[session.id] = session
            if resumption is not None:
                resumption.attach(asyncio.current_task())
                self.resumable[resumption.token] = session
        session.metrics.opened()
        return session

    def find(self, token: str, grant: Grant) -> StreamSession:
        """The resumable session of a token, for the holder of the grant that opened it."""
        session = self.resumable.get(token)
        if session is None:
            raise StreamError(
                grpc.StatusCode.NOT_FOUND,
                "no resumable stream has this token: it ended, or its resume "
                f"window ({self.resume_window_s:g} s) passed; start a new stream",
            )
        if session.grant.name != grant.name:
            raise StreamError(
                grpc.StatusCode.PERMISSION_DENIED,
                "this stream was opened with another bearer token; resume it with that one",
            )
        return session

    def park(self, session: StreamSession) -> None:
        """Keeps a resumable session whose call was lost, until it is resumed or its window ends."""
        session.resumption.park(lambda: self.expire(session))

    def expire(self, session: StreamSession) -> None:
        self.metrics.stream_ended((session.params.task, session.params.cell), "expired", grpc.StatusCode.CANCELLED)
        self.close(session)

    def count_parked(self, task: str, cell: str) -> int:
        with self.lock:
            return sum(
                s.resumption is not None
                and s.resumption.owner is None
                and s.params.task == task
                and s.params.cell == cell
                for s in self.sessions.values()
            )

    def close(self, session: StreamSession) -> None:
        with self.lock:
            closed = self.sessions.pop(session.id, None)
            if closed is not None:
                self.counts.release(closed.grant)
            if session.resumption is not None:
                self.resumable.pop(session.resumption.token, None)
                session.resumption.close()
        if closed is not None:
            closed.metrics.closed()

    def __len__(self) -> int:
        return len(self.sessions)
