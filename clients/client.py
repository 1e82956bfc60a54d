"""The Python client of rnnvoice, and the base of every other client (file, microphone, load)."""

import io
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import soundfile
from google.protobuf import json_format

from rnnvoice.clients.connection import DEFAULT_SERVER, Connection
from rnnvoice.clients.errors import UsageError
from rnnvoice.clients.resumable import ResumableStream
from rnnvoice.models.types import Cell, Decoder, Task
from rnnvoice.protos import pb, pb_grpc

TASKS = {Task.KEYWORDS: pb.TASK_KEYWORDS, Task.TRANSCRIPTION: pb.TASK_TRANSCRIPTION, Task.ASSISTANT: pb.TASK_ASSISTANT}
DECODERS = {Decoder.BEAM: pb.DECODER_BEAM, Decoder.GREEDY: pb.DECODER_GREEDY}
CELLS = {Cell.GRU: pb.CELL_GRU, Cell.LSTM: pb.CELL_LSTM}
ENCODINGS = {
    "pcm_s16le": (pb.ENCODING_PCM_S16LE, "<i2"),
    "float32le": (pb.ENCODING_FLOAT32LE, "<f4"),
    "mulaw": (pb.ENCODING_MULAW, "u1"),
    "alaw": (pb.ENCODING_ALAW, "u1"),
}
# G.711 telephone audio: our names and libsndfile's.
G711 = {"mulaw": "ULAW", "alaw": "ALAW"}


@dataclass(frozen=True)
class Audio:
    """Interleaved little-endian samples and their format, ready to send."""

    data: bytes
    sample_rate: int
    channels: int = 1
    encoding: str = "pcm_s16le"

    @property
    def frame_bytes(self) -> int:
        return np.dtype(ENCODINGS[self.encoding][1]).itemsize * self.channels

    @property
    def seconds(self) -> float:
        return len(self.data) / self.frame_bytes / self.sample_rate

    @staticmethod
    def from_array(samples: np.ndarray, sample_rate: int, encoding: str = "pcm_s16le") -> "Audio":
        """samples: (T,) or (T, channels), float in [-1, 1] or int16."""
        samples = samples.reshape(len(samples), -1)
        if encoding in G711:  # libsndfile's G.711 encoder
            out = io.BytesIO()
            soundfile.write(out, samples, sample_rate, format="RAW", subtype=G711[encoding])
            return Audio(out.getvalue(), sample_rate, samples.shape[1], encoding)
        if encoding == "pcm_s16le" and samples.dtype != np.int16:
            samples = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
        data = np.ascontiguousarray(samples.astype(ENCODINGS[encoding][1])).tobytes()
        return Audio(data, sample_rate, samples.shape[1], encoding)

    def chunks(self, chunk_s: float) -> Iterator[bytes]:
        step = max(1, round(chunk_s * self.sample_rate)) * self.frame_bytes
        for start in range(0, len(self.data), step):
            yield self.data[start : start + step]


class AudioFileError(UsageError):
    """A recording that is missing or that soundfile cannot read."""


def read_audio(path) -> Audio:
    """A recording in any format soundfile reads: 16-bit PCM stays PCM, mu-law and A-law stay so, everything else
    goes as float."""
    try:
        info = soundfile.info(str(path))
    except (OSError, soundfile.LibsndfileError) as e:
        reason = "no such file" if not Path(path).exists() else str(e).split(": ", 1)[-1]
        raise AudioFileError(f"cannot read the recording {path}: {reason}") from None
    telephone = {subtype: name for name, subtype in G711.items()}
    if info.subtype in telephone:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        return Audio.from_array(samples, rate, telephone[info.subtype])
    if info.subtype == "PCM_16":
        samples, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
        return Audio.from_array(samples, rate, "pcm_s16le")
    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return Audio.from_array(samples, rate, "float32le")


def stream_config(
    audio: Audio,
    *,
    task: str = Task.KEYWORDS,
    cell: str = Cell.GRU,
    sensitivities: dict[str, float] | None = None,
    keywords: Iterable[str] = (),
    interim_scores: bool = False,
    phrases: dict[str, float | None] | None = None,
    interim_results: bool = False,
    phrase_hints: Iterable[str] = (),
    endpoint_silence_s: float | None = None,
    decoder: str = Decoder.BEAM,
    max_alternatives: int = 0,
    max_utterance_s: float | None = None,
    initial_silence_s: float | None = None,
    voice_activity_events: bool = False,
    voice_activity_timeout_s: float | None = None,
    context: str = "",
    context_yaml: str = "",
) -> pb.StreamConfig:
    """The configuration of a stream of `audio`'s format; every option by name, so that task and cell cannot be
    swapped. keywords: report only these (default all, or none with phrases); sensitivities: keyword -> 0..1, reported
    too; phrases: keywords chosen at run time, text -> sensitivity (None: the default).
    The transcription options apply to the transcription and assistant tasks; context (a name the server loaded)
    or context_yaml (Rhino's YAML) to the assistant's commands."""
    settings = [pb.KeywordSetting(keyword=k) for k in keywords if k not in (sensitivities or {})]
    settings += [pb.KeywordSetting(keyword=k, sensitivity=s) for k, s in (sensitivities or {}).items()]
    transcription = pb.TranscriptionConfig(
        interim_results=interim_results,
        phrase_hints=list(phrase_hints),
        decoder=DECODERS[decoder],
        max_alternatives=max_alternatives,
        endpoint_silence_s=endpoint_silence_s,
        max_utterance_s=max_utterance_s,
        initial_silence_s=initial_silence_s,
    )
    return pb.StreamConfig(
        task=TASKS[task],
        cell=CELLS[cell],
        format=pb.AudioFormat(
            sample_rate_hz=audio.sample_rate, encoding=ENCODINGS[audio.encoding][0], channels=audio.channels
        ),
        keywords=pb.KeywordConfig(
            keywords=settings,
            interim_scores=interim_scores,
            phrases=[pb.PhraseSetting(phrase=p, sensitivity=s) for p, s in (phrases or {}).items()],
        ),
        transcription=transcription,
        enable_voice_activity_events=voice_activity_events,
        voice_activity_timeout_s=voice_activity_timeout_s,
        assistant=pb.AssistantConfig(context=context, context_yaml=context_yaml) if context or context_yaml else None,
    )


def paced(chunks: Iterable[bytes], pace_s: float) -> Iterator[bytes]:
    """Each chunk when it is due, one every pace_s seconds, as a live source would give them."""
    started = time.monotonic()
    for i, data in enumerate(chunks):
        time.sleep(max(0.0, started + i * pace_s - time.monotonic()))
        yield data


def requests(config: pb.StreamConfig, chunks: Iterable[bytes]) -> Iterator[pb.StreamAudioRequest]:
    """The config, then each chunk numbered in order."""
    yield pb.StreamAudioRequest(config=config)
    for sequence, data in enumerate(chunks):
        yield pb.StreamAudioRequest(audio=pb.AudioChunk(sequence=sequence, data=data))


class VoiceClient:
    """A connection to an rnnvoice server. Use as a context manager, or call close()."""

    def __init__(
        self,
        target: str = DEFAULT_SERVER,
        timeout_s: float | None = None,
        options: Iterable[tuple[str, int | str]] = (),
        connection: Connection = Connection(),
    ):
        """options: more gRPC channel arguments, e.g. ("grpc.max_reconnect_backoff_ms", 2000); connection: TLS and
        the token."""
        self.target = target
        self.timeout_s = timeout_s
        self.metadata = connection.metadata
        self.channel = connection.channel(target, options)
        self.stub = pb_grpc.VoiceStub(self.channel)

    def __enter__(self) -> "VoiceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=timeout_s)

    def list_models(self) -> list[pb.ModelInfo]:
        return list(self.stub.ListModels(pb.ListModelsRequest(), timeout=self.timeout_s, metadata=self.metadata).models)

    def stream(
        self, config: pb.StreamConfig, chunks: Iterable[bytes], pace_s: float = 0.0, resumable: bool = True
    ) -> Iterator[pb.StreamAudioResponse]:
        """Results as they arrive; the last one is the stream's summary. pace_s > 0 sends a chunk every pace_s seconds.
        resumable: a lost connection is retried and the stream resumed, its results as if nothing happened (the
        returned iterator's cancel() leaves the stream to the server's resume window); else one plain call."""
        chunks = paced(chunks, pace_s) if pace_s else chunks
        if resumable:
            return ResumableStream(self.stub, config, chunks, self.timeout_s, self.metadata)
        return self.stub.StreamAudio(requests(config, chunks), timeout=self.timeout_s, metadata=self.metadata)

    def stream_audio(
        self,
        audio: Audio,
        cell: str = Cell.GRU,
        chunk_s: float = 0.1,
        realtime: bool = False,
        resumable: bool = True,
        **options,
    ) -> Iterator[pb.StreamAudioResponse]:
        config = stream_config(audio, cell=cell, **options)
        return self.stream(config, audio.chunks(chunk_s), pace_s=chunk_s if realtime else 0.0, resumable=resumable)

    def recognize(self, audio: Audio, cell: str = Cell.GRU, **options) -> pb.RecognizeResponse:
        request = pb.RecognizeRequest(config=stream_config(audio, cell=cell, **options), audio=audio.data)
        return self.stub.Recognize(request, timeout=self.timeout_s, metadata=self.metadata)


def detection_dict(d: pb.KeywordDetection) -> dict:
    return {
        "type": "keyword",
        "keyword": d.keyword,
        "score": round(d.score, 4),
        "start_s": round(d.start_s, 3),
        "end_s": round(d.end_s, 3),
        "detected_s": round(d.detected_s, 3),
    }


def transcript_dict(t: pb.TranscriptResult) -> dict:
    result = {
        "type": "final" if t.is_final else "partial",
        "text": t.text,
        "start_s": round(t.start_s, 3),
        "end_s": round(t.end_s, 3),
    }
    if t.is_final:
        result["confidence"] = round(t.confidence, 4)
        result["words"] = [
            {
                "word": w.word,
                "start_s": round(w.start_s, 3),
                "end_s": round(w.end_s, 3),
                "confidence": round(w.confidence, 4),
            }
            for w in t.words
        ]
        if t.alternatives:
            result["alternatives"] = [
                {"text": a.text, "score": round(a.score, 3), "confidence": round(a.confidence, 4)}
                for a in t.alternatives
            ]
    else:
        result["stability"] = round(t.stability, 3)
    return result


def result_dict(response: pb.StreamAudioResponse) -> dict:
    """A response as plain values, as `rnnvoice stream --json` prints it."""
    kind = response.WhichOneof("result")
    if kind == "detection":
        return detection_dict(response.detection)
    if kind == "transcript":
        return transcript_dict(response.transcript)
    if kind == "command":
        c = response.command
        return {
            "type": "intent",
            "intent": c.intent.name,
            "slots": json_format.MessageToDict(c.intent.slots),
            "understood": c.intent.understood,
            "text": c.transcript.text,
            "wake_word": detection_dict(c.wake_word),
            "start_s": round(c.transcript.start_s if c.HasField("transcript") else c.wake_word.end_s, 3),
            "end_s": round(c.transcript.end_s if c.HasField("transcript") else c.wake_word.end_s, 3),
        }
    if kind == "voice_activity":
        begin = response.voice_activity.kind == pb.VoiceActivityEvent.SPEECH_BEGIN
        return {"type": "speech_begin" if begin else "speech_end", "time_s": round(response.voice_activity.time_s, 3)}
    if kind == "scores":
        return {
            "type": "scores",
            "time_s": round(response.scores.time_s, 3),
            "scores": {k: round(v, 4) for k, v in sorted(response.scores.scores.items())},
        }
    s = response.summary
    return {
        "type": "summary",
        "audio_s": round(s.audio_s, 3),
        "chunks": s.chunks,
        "frames": s.frames,
        "compute_s": round(s.compute_s, 4),
        "detections": s.detections,
        "finals": s.finals,
        "end_reason": pb.StreamEnd.Name(s.end_reason).removeprefix("STREAM_END_").lower(),
    }


def describe(result: dict) -> str:
    """A result_dict as one line for a person, as `rnnvoice stream` and `rnnvoice mic` print it."""
    if result["type"] in ("partial", "final"):
        return f"{result['start_s']:8.2f} - {result['end_s']:6.2f} s  {result['type']:<10} {result['text']}"
    if result["type"] == "intent":
        slots = ", ".join(f"{k}={v}" for k, v in result["slots"].items())
        span = f"{result['start_s']:8.2f} - {result['end_s']:6.2f} s"
        meaning = f"{result['intent']}({slots})" if result["understood"] else "(not understood)"
        return f'{span}  intent     {meaning}  "{result["text"]}"'
    if result["type"] == "keyword":
        return (
            f"{result['start_s']:8.2f} - {result['end_s']:6.2f} s  {result['keyword']:<10} score {result['score']:.2f}"
        )
    if result["type"] in ("speech_begin", "speech_end"):
        return f"{result['time_s']:8.2f} s   {result['type'].replace('_', ' ')}"
    if result["type"] == "scores":
        best = max(result["scores"].items(), key=lambda kv: kv[1], default=("-", 0.0))
        return f"{result['time_s']:8.2f} s   top {best[0]} {best[1]:.2f}"
    ended = "" if result["end_reason"] == "completed" else f", ended: {result['end_reason'].replace('_', ' ')}"
    return (
        f"{result['audio_s']:.2f} s of audio in {result['chunks']} chunks, {result['frames']} frames, "
        f"{result['compute_s'] * 1000:.0f} ms compute, {result['detections']} detections, {result['finals']} finals"
        f"{ended}"
    )
