"""Per-stream sessions: audio messages in, response messages out, and the table of open sessions."""

import itertools
import threading

import grpc

from rnnvoice.models.audio import AudioFormatError, decode
from rnnvoice.models.detector import Detection
from rnnvoice.models.keyword_model import KeywordSpotter
from rnnvoice.models.keyword_stream import KeywordStream, StepOutput
from rnnvoice.protos import pb
from rnnvoice.service.errors import StreamError, invalid
from rnnvoice.service.metrics import ModelMetrics, ServerMetrics
from rnnvoice.service.requests import StreamParams


class StreamSession:
    """Owns one stream's state between its chunks; the model itself is shared."""

    def __init__(self, session_id: int, params: StreamParams, model: KeywordSpotter, max_chunk_s: float,
                 metrics: ModelMetrics):
        self.id = session_id
        self.params = params
        self.metrics = metrics
        self.stream = KeywordStream(model, params.sample_rate, params.sensitivities)
        self.max_chunk_bytes = int(max_chunk_s * params.bytes_per_second)
        self.max_chunk_s = max_chunk_s
        self.next_sequence = 0
        self.chunks = 0
        self.detections = 0

    def accept(self, chunk: pb.AudioChunk) -> list[pb.StreamAudioResponse]:
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
        compute_s = self.stream.compute_s
        out = self.stream.accept(samples)
        self.metrics.chunk(len(samples) / self.params.sample_rate, self.stream.compute_s - compute_s)
        return self._responses(out, interim=self.params.interim_scores)

    def finish(self) -> list[pb.StreamAudioResponse]:
        responses = self._responses(self.stream.finish(), interim=False)
        s = self.stream
        summary = pb.StreamSummary(audio_s=s.audio_s, chunks=self.chunks, frames=s.steps,
                                   compute_s=s.compute_s, detections=self.detections)
        return responses + [pb.StreamAudioResponse(sequence=self.last_sequence, summary=summary)]

    @property
    def last_sequence(self) -> int:
        return max(0, self.next_sequence - 1)

    def _responses(self, out: StepOutput, interim: bool) -> list[pb.StreamAudioResponse]:
        self.detections += len(out.detections)
        self.metrics.detected(d.keyword for d in out.detections)
        responses = [pb.StreamAudioResponse(sequence=self.last_sequence, detection=detection_message(d))
                     for d in out.detections]
        if interim and out.smoothed is not None:
            scores = pb.KeywordScores(time_s=out.time_s, scores=self.stream.keyword_scores(out.smoothed[-1]))
            responses.append(pb.StreamAudioResponse(sequence=self.last_sequence, scores=scores))
        return responses


def detection_message(d: Detection) -> pb.KeywordDetection:
    return pb.KeywordDetection(keyword=d.keyword, score=d.score, start_s=d.start_s, end_s=d.end_s)


class SessionTable:
    """The open sessions, bounded; every opened session is closed exactly once by its handler."""

    def __init__(self, max_sessions: int, metrics: ServerMetrics):
        self.max_sessions = max_sessions
        self.metrics = metrics
        self.sessions: dict[int, StreamSession] = {}
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def open(self, params: StreamParams, model: KeywordSpotter, max_chunk_s: float) -> StreamSession:
        with self.lock:
            if len(self.sessions) >= self.max_sessions:
                raise StreamError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                  f"the server is at its limit of {self.max_sessions} streams; retry later")
            session = StreamSession(next(self.ids), params, model, max_chunk_s,
                                    self.metrics.models[params.task, params.cell])
            self.sessions[session.id] = session
        session.metrics.opened()
        return session

    def close(self, session: StreamSession) -> None:
        with self.lock:
            closed = self.sessions.pop(session.id, None)
        if closed is not None:
            closed.metrics.closed()

    def __len__(self) -> int:
        return len(self.sessions)
