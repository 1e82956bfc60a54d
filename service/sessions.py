"""Per-stream sessions: audio messages in, response messages out, and the table of open sessions."""

import asyncio
import functools
import itertools
import threading

import grpc
import torch
from google.protobuf import struct_pb2

from rnnvoice.models.audio.pcm import AudioFormatError, decode
from rnnvoice.models.streaming.assistant_stream import Command, assistant_stream
from rnnvoice.models.streaming.keyword_detector import Detection
from rnnvoice.models.streaming.keyword_stream import keyword_stream
from rnnvoice.models.streaming.stream import Stream, StreamOutput
from rnnvoice.models.streaming.transcription_stream import Transcript, transcription_stream
from rnnvoice.models.types import Task
from rnnvoice.protos import pb
from rnnvoice.service.errors import StreamError, invalid
from rnnvoice.service.metrics import ModelMetrics, ServerMetrics
from rnnvoice.service.registry import ModelRegistry
from rnnvoice.service.requests import StreamParams
from rnnvoice.service.resumption import Resumption


def open_stream(params: StreamParams, registry: ModelRegistry) -> Stream:
    """The engine's stream for a task, on this stream's own state; the models are the registry's."""
    if params.task == Task.KEYWORDS:
        return keyword_stream(registry.get(Task.KEYWORDS, params.cell), params.sample_rate, params.sensitivities,
                              interim_scores=params.interim_scores)
    transcription = dict(decoder=params.decoder, hints=list(params.hints), endpoint_s=params.endpoint_s,
                         interim=params.interim_results)
    if params.task == Task.TRANSCRIPTION:
        return transcription_stream(registry.get(Task.TRANSCRIPTION, params.cell), params.sample_rate,
                                    **transcription)
    return assistant_stream(registry.get(Task.KEYWORDS, params.cell), registry.get(Task.TRANSCRIPTION, params.cell),
                            params.sample_rate, sensitivity=next(iter(params.sensitivities.values())),
                            **transcription)


class StreamSession:
    """Owns one stream's state between its chunks; the models themselves are shared.

    `decode` checks and decodes a chunk; the engine (service.batching) runs it through `stream`;
    `respond` turns each output into response messages, `summary` ends the stream.
    """

    def __init__(self, session_id: int, params: StreamParams, registry: ModelRegistry, max_chunk_s: float,
                 metrics: ModelMetrics, resumption: Resumption | None = None):
        self.id = session_id
        self.params = params
        self.metrics = metrics
        self.resumption = resumption
        self.stream = open_stream(params, registry)
        self.max_chunk_bytes = int(max_chunk_s * params.bytes_per_second)
        self.max_chunk_s = max_chunk_s
        self.next_sequence = 0
        self.chunks = 0
        self.detections = 0
        self.finals = 0

    def decode(self, chunk: pb.AudioChunk) -> torch.Tensor:
        """The chunk's samples (T,), mono at the stream's rate; StreamError if it is out of order or malformed."""
        if chunk.sequence != self.next_sequence:
            raise invalid(f"audio chunk has sequence {chunk.sequence} where {self.next_sequence} was expected; "
                          "number chunks 0, 1, 2, ... in the order they are sent")
        if not chunk.data:
            raise invalid(f"audio chunk {chunk.sequence} is empty; send at least one sample per chunk")
        if len(chunk.data) > self.max_chunk_bytes:
            raise invalid(f"audio chunk {chunk.sequence} holds {len(chunk.data)} bytes, more than "
                          f"{self.max_chunk_s:g} s of audio ({self.max_chunk_bytes} bytes); send smaller chunks")
        try:
            samples = decode(chunk.data, self.params.encoding, self.params.channels)
        except AudioFormatError as e:
            raise invalid(f"audio chunk {chunk.sequence}: {e}") from e
        self.next_sequence += 1
        self.chunks += 1
        return samples

    def respond(self, out: StreamOutput) -> list[pb.StreamAudioResponse]:
        """The response messages of one chunk's output, counted."""
        results = [("detection", detection_message(d)) for d in out.detections]
        if out.scores is not None:
            results.append(("scores", pb.KeywordScores(time_s=out.time_s, scores=out.scores)))
        results += [("transcript", transcript_message(t)) for t in out.transcripts]
        results += [("command", command_message(c)) for c in out.commands]
        if out.detections:
            self.detections += len(out.detections)
            self.metrics.detected(d.keyword for d in out.detections)
        self.finals += out.finals
        self.metrics.finals(out.finals)
        return [pb.StreamAudioResponse(sequence=self.last_sequence, **{kind: message}) for kind, message in results]

    def summary(self) -> pb.StreamAudioResponse:
        """The stream's last response."""
        s = self.stream
        summary = pb.StreamSummary(audio_s=s.audio_s, chunks=self.chunks, frames=s.steps, compute_s=s.compute_s,
                                   detections=self.detections, finals=self.finals)
        return pb.StreamAudioResponse(sequence=self.last_sequence, summary=summary)

    @property
    def last_sequence(self) -> int:
        return max(0, self.next_sequence - 1)


def detection_message(d: Detection) -> pb.KeywordDetection:
    return pb.KeywordDetection(keyword=d.keyword, score=d.score, start_s=d.start_s, end_s=d.end_s,
                               detected_s=d.detected_s)


def transcript_message(t: Transcript) -> pb.TranscriptResult:
    return pb.TranscriptResult(text=t.text, is_final=t.is_final, stability=t.stability, confidence=t.confidence,
                               start_s=t.start_s, end_s=t.end_s,
                               words=[pb.WordInfo(word=w.word, start_s=w.start_s, end_s=w.end_s) for w in t.words])


def command_message(c: Command) -> pb.AssistantCommand:
    slots = struct_pb2.Struct()
    slots.update(c.intent.slots)
    return pb.AssistantCommand(wake_word=detection_message(c.wake),
                               transcript=transcript_message(c.transcript) if c.transcript else None,
                               intent=pb.Intent(name=c.intent.name, slots=slots))


class SessionTable:
    """The open sessions, bounded, parked ones included; every opened session is closed exactly once: by its
    handler, or when its resume window ends."""

    def __init__(self, max_sessions: int, metrics: ServerMetrics, resume_window_s: float):
        self.max_sessions = max_sessions
        self.metrics = metrics
        self.resume_window_s = resume_window_s
        self.sessions: dict[int, StreamSession] = {}
        self.resumable: dict[str, StreamSession] = {}  # by token
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        for task, cell in metrics.models:
            metrics.parked.labels(task, cell).set_function(functools.partial(self.count_parked, task, cell))

    def open(self, params: StreamParams, registry: ModelRegistry, max_chunk_s: float,
             resumable: bool = False) -> StreamSession:
        with self.lock:
            if len(self.sessions) >= self.max_sessions:
                raise StreamError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                  f"the server is at its limit of {self.max_sessions} streams; retry later")
            resumption = Resumption(self.resume_window_s) if resumable else None
            session = StreamSession(next(self.ids), params, registry, max_chunk_s,
                                    self.metrics.models[params.task, params.cell], resumption)
            self.sessions[session.id] = session
            if resumption is not None:
                resumption.attach(asyncio.current_task())
                self.resumable[resumption.token] = session
        session.metrics.opened()
        return session

    def find(self, token: str) -> StreamSession:
        session = self.resumable.get(token)
        if session is None:
            raise StreamError(grpc.StatusCode.NOT_FOUND, "no resumable stream has this token: it ended, or its resume "
                              f"window ({self.resume_window_s:g} s) passed; start a new stream")
        return session

    def park(self, session: StreamSession) -> None:
        """Keeps a resumable session whose call was lost, until it is resumed or its window ends."""
        session.resumption.park(lambda: self.expire(session))

    def expire(self, session: StreamSession) -> None:
        self.metrics.stream_ended((session.params.task, session.params.cell), "expired", grpc.StatusCode.CANCELLED)
        self.close(session)

    def count_parked(self, task: str, cell: str) -> int:
        with self.lock:
            return sum(s.resumption is not None and s.resumption.owner is None and s.params.task == task
                       and s.params.cell == cell for s in self.sessions.values())

    def close(self, session: StreamSession) -> None:
        with self.lock:
            closed = self.sessions.pop(session.id, None)
            if session.resumption is not None:
                self.resumable.pop(session.resumption.token, None)
                session.resumption.close()
        if closed is not None:
            closed.metrics.closed()

    def __len__(self) -> int:
        return len(self.sessions)
