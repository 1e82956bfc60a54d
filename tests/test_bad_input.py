"""Bad input gets the right status and a message that says what to fix; the session is freed, others go on."""

import dataclasses
import threading

import grpc
import numpy as np
import pytest

from rnnvoice.clients.client import Audio, VoiceClient, stream_config
from rnnvoice.protos import pb
from tests.conftest import ServerThread, rpc_error, wait_until

ONE_SECOND = Audio.from_array(np.zeros(16000, np.float32), 16000)


def config(**overrides) -> pb.StreamConfig:
    c = stream_config(ONE_SECOND, "gru")
    for path, value in overrides.items():
        target = c
        *parents, name = path.split("__")
        for p in parents:
            target = getattr(target, p)
        setattr(target, name, value)
    return c


def audio(sequence: int, data: bytes) -> pb.StreamAudioRequest:
    return pb.StreamAudioRequest(audio=pb.AudioChunk(sequence=sequence, data=data))


def first(c: pb.StreamConfig) -> pb.StreamAudioRequest:
    return pb.StreamAudioRequest(config=c)


PCM = np.zeros(1600, "<i2").tobytes()

CASES = {
    "audio before configuration": ([audio(0, PCM)], grpc.StatusCode.INVALID_ARGUMENT, "first request must carry a StreamConfig"),
    "empty first message": ([pb.StreamAudioRequest()], grpc.StatusCode.INVALID_ARGUMENT, "first request must carry a StreamConfig"),
    "no messages at all": ([], grpc.StatusCode.INVALID_ARGUMENT, "ended before its configuration"),
    "unspecified cell": ([first(config(cell=pb.CELL_UNSPECIFIED))], grpc.StatusCode.INVALID_ARGUMENT, "CELL_GRU or CELL_LSTM"),
    "unknown cell number": ([first(config(cell=7))], grpc.StatusCode.INVALID_ARGUMENT, "unknown cell 7"),
    "unspecified task": ([first(config(task=pb.TASK_UNSPECIFIED))], grpc.StatusCode.INVALID_ARGUMENT, "set task to one of TASK_KEYWORDS"),
    "unknown task number": ([first(config(task=42))], grpc.StatusCode.INVALID_ARGUMENT, "unknown task 42"),
    "unsupported rate": ([first(config(format__sample_rate_hz=12345))], grpc.StatusCode.INVALID_ARGUMENT, "unsupported sample rate 12345 Hz"),
    "zero rate": ([first(config(format__sample_rate_hz=0))], grpc.StatusCode.INVALID_ARGUMENT, "unsupported sample rate 0 Hz"),
    "unspecified encoding": ([first(config(format__encoding=pb.ENCODING_UNSPECIFIED))], grpc.StatusCode.INVALID_ARGUMENT, "ENCODING_PCM_S16LE or ENCODING_FLOAT32LE"),
    "too many channels": ([first(config(format__channels=64))], grpc.StatusCode.INVALID_ARGUMENT, "64 channels"),
    "odd byte count": ([first(config()), audio(0, b"\x00\x01\x02")], grpc.StatusCode.INVALID_ARGUMENT, "not a whole number"),
    "NaN floats": ([first(config(format__encoding=pb.ENCODING_FLOAT32LE)), audio(0, np.array([0, np.nan], "<f4").tobytes())], grpc.StatusCode.INVALID_ARGUMENT, "NaN or infinite"),
    "infinite floats": ([first(config(format__encoding=pb.ENCODING_FLOAT32LE)), audio(0, np.array([np.inf], "<f4").tobytes())], grpc.StatusCode.INVALID_ARGUMENT, "NaN or infinite"),
    "empty chunk": ([first(config()), audio(0, b"")], grpc.StatusCode.INVALID_ARGUMENT, "chunk 0 is empty"),
    "oversized chunk": ([first(config()), audio(0, np.zeros(16000 * 11, "<i2").tobytes())], grpc.StatusCode.INVALID_ARGUMENT, "more than 10 s of audio"),
    "second configuration": ([first(config()), audio(0, PCM), first(config())], grpc.StatusCode.INVALID_ARGUMENT, "one StreamConfig"),
    "sequence gap": ([first(config()), audio(0, PCM), audio(2, PCM)], grpc.StatusCode.INVALID_ARGUMENT, "sequence 2 where 1 was expected"),
    "sequence not from zero": ([first(config()), audio(5, PCM)], grpc.StatusCode.INVALID_ARGUMENT, "sequence 5 where 0 was expected"),
    "request with nothing in it": ([first(config()), pb.StreamAudioRequest()], grpc.StatusCode.INVALID_ARGUMENT, "must carry an AudioChunk"),
}


def unknown_keyword():
    c = config()
    c.keywords.keywords.add(keyword="banana")
    return [first(c)]


def bad_sensitivity():
    c = config()
    c.keywords.keywords.add(keyword="yes", sensitivity=1.5)
    return [first(c)]


def transcription(**options):
    c = config(task=pb.TASK_TRANSCRIPTION)
    for name, value in options.items():
        field = getattr(c.transcription, name)
        field.extend(value) if name == "phrase_hints" else setattr(c.transcription, name, value)
    return [first(c)]


CASES["unknown keyword"] = (unknown_keyword(), grpc.StatusCode.INVALID_ARGUMENT, "unknown keyword 'banana'")
CASES["too many phrase hints"] = (transcription(phrase_hints=[f"call number {i}" for i in range(101)]),
                                  grpc.StatusCode.INVALID_ARGUMENT, "101 phrase hints; send at most 100")
CASES["phrase hint that is not text"] = (transcription(phrase_hints=["call mom", "12 34 !!"]),
                                         grpc.StatusCode.INVALID_ARGUMENT, "phrase hint 1 ('12 34 !!') has no letters")
CASES["overlong phrase hint"] = (transcription(phrase_hints=["a" * 101]), grpc.StatusCode.INVALID_ARGUMENT,
                                 "phrase hint 0 has 101 characters")
CASES["endpoint out of range"] = (transcription(endpoint_silence_s=5.0), grpc.StatusCode.INVALID_ARGUMENT,
                                  "endpoint_silence_s 5 is outside 0.1 to 3 seconds")
CASES["unknown decoder"] = (transcription(decoder=9), grpc.StatusCode.INVALID_ARGUMENT, "unknown decoder 9")
CASES["sensitivity out of range"] = (bad_sensitivity(), grpc.StatusCode.INVALID_ARGUMENT, "sensitivity 1.5")


def resumable(*later):
    c = config()
    c.resumable = True
    return [first(c), *later]


CASES["resume of an unknown stream"] = ([pb.StreamAudioRequest(resume=pb.ResumeStream(token="no-such-stream"))],
                                        grpc.StatusCode.NOT_FOUND, "no resumable stream has this token")
CASES["end of audio of a plain stream"] = ([first(config()), pb.StreamAudioRequest(end=pb.EndOfAudio())],
                                           grpc.StatusCode.INVALID_ARGUMENT, "EndOfAudio ends resumable streams only")
CASES["more results received than sent"] = (
    resumable(pb.StreamAudioRequest(audio=pb.AudioChunk(data=PCM, results_received=3))),
    grpc.StatusCode.INVALID_ARGUMENT, "results_received 3 is more than the 0 results sent")
CASES["audio after the summary"] = (resumable(pb.StreamAudioRequest(end=pb.EndOfAudio()), audio(0, PCM)),
                                    grpc.StatusCode.INVALID_ARGUMENT, "after EndOfAudio and the summary")


@pytest.mark.parametrize("case", CASES)
def test_bad_stream_gets_a_clear_error_and_frees_its_session(case, client, server):
    requests, code, message = CASES[case]
    error = rpc_error(lambda: client.stub.StreamAudio(iter(requests), timeout=30))
    assert error.code() == code
    assert message in error.details()
    assert wait_until(lambda: len(server.server.servicer.sessions) == 0)
    # The server goes on serving.
    results = list(client.stream_audio(ONE_SECOND, "gru"))
    assert results[-1].HasField("summary")


def held_open(gate: threading.Event):
    """Chunks of a stream that stays open until the gate is set."""
    yield PCM
    gate.wait(20)


def test_missing_model_is_not_found(settings):
    gru_only = ServerThread(dataclasses.replace(settings, models={("keywords", "gru"): settings.models["keywords", "gru"]}))
    try:
        with VoiceClient(gru_only.target, timeout_s=30) as c:
            error = rpc_error(lambda: c.stream_audio(ONE_SECOND, "lstm"))
            assert error.code() == grpc.StatusCode.NOT_FOUND
            assert "no keywords model with a LSTM cell is loaded" in error.details()
            assert [m.cell for m in c.list_models()] == [pb.CELL_GRU]
    finally:
        gru_only.stop()


def test_assistant_without_a_keyword_model_is_a_failed_precondition(settings):
    recognizers = {k: v for k, v in settings.models.items() if k[0] == "transcription"}
    server = ServerThread(dataclasses.replace(settings, models=recognizers))
    try:
        with VoiceClient(server.target, timeout_s=30) as c:
            error = rpc_error(lambda: c.stream_audio(ONE_SECOND, "gru", task="assistant"))
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "assistant mode needs a keywords model" in error.details()
            assert list(c.stream_audio(ONE_SECOND, "gru", task="transcription"))[-1].HasField("summary")
    finally:
        server.stop()


def test_stream_limit_is_resource_exhausted_and_frees_up(limited_server):
    sessions = limited_server.server.servicer.sessions
    gate = threading.Event()
    with VoiceClient(limited_server.target, timeout_s=30) as c:
        open_streams = [c.stream(stream_config(ONE_SECOND), held_open(gate)) for _ in range(2)]
        assert wait_until(lambda: len(sessions) == 2)
        error = rpc_error(lambda: c.stream_audio(ONE_SECOND))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "limit of 2 streams" in error.details()
        gate.set()
        for stream in open_streams:
            assert list(stream)[-1].HasField("summary")
        assert wait_until(lambda: len(sessions) == 0)
        assert list(c.stream_audio(ONE_SECOND))[-1].summary.audio_s == pytest.approx(1.0)


def test_recognize_rejects_empty_and_overlong_recordings(limited_server):
    with VoiceClient(limited_server.target, timeout_s=30) as c:
        long = Audio.from_array(np.zeros(16000 * 6, np.float32), 16000)
        error = rpc_error(lambda: c.recognize(long))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "more than 5 s" in error.details()
        error = rpc_error(lambda: c.stub.Recognize(pb.RecognizeRequest(config=config(), audio=b""), timeout=30))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "empty" in error.details()
        assert c.recognize(ONE_SECOND).summary.audio_s == pytest.approx(1.0)


def test_client_that_disappears_frees_its_session(client, server):
    sessions = server.server.servicer.sessions
    gate = threading.Event()
    call = client.stream(stream_config(ONE_SECOND), held_open(gate), resumable=False)
    assert wait_until(lambda: len(sessions) == 1)
    call.cancel()
    gate.set()
    assert wait_until(lambda: len(sessions) == 0)
