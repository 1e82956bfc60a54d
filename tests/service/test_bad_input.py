"""Bad input gets the right status and a message that says what to fix; the session is freed, others go on."""

import dataclasses
import logging
import threading

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rnnvoice.clients.client import Audio, VoiceClient, stream_config
from rnnvoice.models.audio.pcm import MAX_FLOAT_SAMPLE
from rnnvoice.protos import pb
from rnnvoice.service.requests import fold_accents
from tests.conftest import ServerThread, rpc_error, wait_until

ONE_SECOND = Audio.from_array(np.zeros(16000, np.float32), 16000)


def config(**overrides) -> pb.StreamConfig:
    c = stream_config(ONE_SECOND, cell="gru")
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
    "audio before configuration": (
        [audio(0, PCM)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "first request must carry a StreamConfig",
    ),
    "empty first message": (
        [pb.StreamAudioRequest()],
        grpc.StatusCode.INVALID_ARGUMENT,
        "first request must carry a StreamConfig",
    ),
    "no messages at all": ([], grpc.StatusCode.INVALID_ARGUMENT, "ended before its configuration"),
    "unspecified cell": (
        [first(config(cell=pb.CELL_UNSPECIFIED))],
        grpc.StatusCode.INVALID_ARGUMENT,
        "CELL_GRU or CELL_LSTM",
    ),
    "unknown cell number": ([first(config(cell=7))], grpc.StatusCode.INVALID_ARGUMENT, "unknown cell 7"),
    "unspecified task": (
        [first(config(task=pb.TASK_UNSPECIFIED))],
        grpc.StatusCode.INVALID_ARGUMENT,
        "set task to one of TASK_KEYWORDS",
    ),
    "unknown task number": ([first(config(task=42))], grpc.StatusCode.INVALID_ARGUMENT, "unknown task 42"),
    "unsupported rate": (
        [first(config(format__sample_rate_hz=12345))],
        grpc.StatusCode.INVALID_ARGUMENT,
        "unsupported sample rate 12345 Hz",
    ),
    "zero rate": (
        [first(config(format__sample_rate_hz=0))],
        grpc.StatusCode.INVALID_ARGUMENT,
        "unsupported sample rate 0 Hz",
    ),
    "unspecified encoding": (
        [first(config(format__encoding=pb.ENCODING_UNSPECIFIED))],
        grpc.StatusCode.INVALID_ARGUMENT,
        "use one of ENCODING_PCM_S16LE, ENCODING_FLOAT32LE, ENCODING_MULAW, ENCODING_ALAW",
    ),
    "too many channels": ([first(config(format__channels=64))], grpc.StatusCode.INVALID_ARGUMENT, "64 channels"),
    "odd byte count": (
        [first(config()), audio(0, b"\x00\x01\x02")],
        grpc.StatusCode.INVALID_ARGUMENT,
        "not a whole number",
    ),
    "NaN floats": (
        [first(config(format__encoding=pb.ENCODING_FLOAT32LE)), audio(0, np.array([0, np.nan], "<f4").tobytes())],
        grpc.StatusCode.INVALID_ARGUMENT,
        "NaN or infinite",
    ),
    "infinite floats": (
        [first(config(format__encoding=pb.ENCODING_FLOAT32LE)), audio(0, np.array([np.inf], "<f4").tobytes())],
        grpc.StatusCode.INVALID_ARGUMENT,
        "NaN or infinite",
    ),
    "absurd finite floats": (
        [first(config(format__encoding=pb.ENCODING_FLOAT32LE)), audio(0, np.array([0.1, -1e19], "<f4").tobytes())],
        grpc.StatusCode.INVALID_ARGUMENT,
        "a sample of magnitude 1e+19; full scale is 1.0",
    ),
    "empty chunk": ([first(config()), audio(0, b"")], grpc.StatusCode.INVALID_ARGUMENT, "chunk 0 is empty"),
    "oversized chunk": (
        [first(config()), audio(0, np.zeros(16000 * 11, "<i2").tobytes())],
        grpc.StatusCode.INVALID_ARGUMENT,
        "more than 10 s of audio",
    ),
    "second configuration": (
        [first(config()), audio(0, PCM), first(config())],
        grpc.StatusCode.INVALID_ARGUMENT,
        "one StreamConfig",
    ),
    "sequence gap": (
        [first(config()), audio(0, PCM), audio(2, PCM)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "sequence 2 where 1 was expected",
    ),
    "sequence not from zero": (
        [first(config()), audio(5, PCM)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "sequence 5 where 0 was expected",
    ),
    "request with nothing in it": (
        [first(config()), pb.StreamAudioRequest()],
        grpc.StatusCode.INVALID_ARGUMENT,
        "must carry an AudioChunk",
    ),
}


def unknown_keyword():
    c = config()
    c.keywords.keywords.add(keyword="banana")
    return [first(c)]


def keyword_named(name: str):
    c = config()
    c.keywords.keywords.add(keyword=name)
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
CASES["too many phrase hints"] = (
    transcription(phrase_hints=[f"call number {i}" for i in range(101)]),
    grpc.StatusCode.INVALID_ARGUMENT,
    "101 phrase hints; send at most 100",
)
CASES["phrase hint that is not text"] = (
    transcription(phrase_hints=["call mom", "12 34 !!"]),
    grpc.StatusCode.INVALID_ARGUMENT,
    "phrase hint 1 ('12 34 !!') has no letters",
)
CASES["overlong phrase hint"] = (
    transcription(phrase_hints=["a" * 101]),
    grpc.StatusCode.INVALID_ARGUMENT,
    "phrase hint 0 has 101 characters",
)
CASES["endpoint out of range"] = (
    transcription(endpoint_silence_s=5.0),
    grpc.StatusCode.INVALID_ARGUMENT,
    "endpoint_silence_s 5 is outside 0.1 to 3 seconds",
)
CASES["unknown decoder"] = (transcription(decoder=9), grpc.StatusCode.INVALID_ARGUMENT, "unknown decoder 9")
CASES["sensitivity out of range"] = (bad_sensitivity(), grpc.StatusCode.INVALID_ARGUMENT, "sensitivity 1.5")
CASES["keyword name of 100 KB"] = (
    keyword_named("x" * 100_000),
    grpc.StatusCode.INVALID_ARGUMENT,
    "a keyword name of 100000 characters; names have at most 32",
)
CASES["phrase hint in another script"] = (
    transcription(phrase_hints=["call mom", "给妈妈打电话"]),
    grpc.StatusCode.INVALID_ARGUMENT,
    "phrase hint 1 ('给妈妈打电话') has letters the recogniser cannot write",
)


def resumable(*later):
    c = config()
    c.resumable = True
    return [first(c), *later]


CASES["resume of an unknown stream"] = (
    [pb.StreamAudioRequest(resume=pb.ResumeStream(token="no-such-stream"))],
    grpc.StatusCode.NOT_FOUND,
    "no resumable stream has this token",
)
CASES["end of audio of a plain stream"] = (
    [first(config()), pb.StreamAudioRequest(end=pb.EndOfAudio())],
    grpc.StatusCode.INVALID_ARGUMENT,
    "EndOfAudio ends resumable streams only",
)
CASES["more results received than sent"] = (
    resumable(pb.StreamAudioRequest(audio=pb.AudioChunk(data=PCM, results_received=3))),
    grpc.StatusCode.INVALID_ARGUMENT,
    "results_received 3 is more than the 0 results sent",
)
CASES["audio after the summary"] = (
    resumable(pb.StreamAudioRequest(end=pb.EndOfAudio()), audio(0, PCM)),
    grpc.StatusCode.INVALID_ARGUMENT,
    "after EndOfAudio and the summary",
)


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


def test_client_text_is_cut_short_in_messages_and_logs(client, caplog):
    with caplog.at_level(logging.INFO):
        error = rpc_error(lambda: client.stub.StreamAudio(iter(keyword_named("é" * 30 + "z")), timeout=30))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        long_hint = transcription(phrase_hints=["x" * 20 + "给" * 80])
        error = rpc_error(lambda: client.stub.StreamAudio(iter(long_hint), timeout=30))
        assert "... (100 characters)" in error.details() and len(error.details()) < 300
    assert "给" * 41 not in caplog.text


def test_phrase_hints_with_accents_are_folded_to_the_letters_the_recogniser_writes(client):
    assert fold_accents("Héllo Straße ﬁx NAÏVE") == "hello strasse fix naive"
    c = config(task=pb.TASK_TRANSCRIPTION)
    c.transcription.phrase_hints.extend(["héllo", "Straße", "Ça va"])
    responses = list(client.stub.StreamAudio(iter([first(c), audio(0, PCM)]), timeout=60))
    assert responses[-1].summary.chunks == 1


RAW_METHODS = {"StreamAudio": "stream_stream", "Recognize": "unary_unary", "ListModels": "unary_unary"}


@pytest.mark.parametrize("method", RAW_METHODS)
def test_undecodable_request_bytes_are_invalid_argument_without_a_traceback(method, client, caplog):
    call = getattr(client.channel, RAW_METHODS[method])(f"/rnnvoice.v1.Voice/{method}")
    garbage = b"\xff\xff\xff\xff not a protobuf message"
    with caplog.at_level(logging.INFO):
        error = rpc_error(lambda: call(iter([garbage]) if method == "StreamAudio" else garbage, timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "is not a valid" in error.details() and "send one made by the rnnvoice.v1 stubs" in error.details()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(-MAX_FLOAT_SAMPLE, MAX_FLOAT_SAMPLE, width=32), min_size=1, max_size=4000))
def test_any_float_audio_within_the_limit_keeps_every_score_finite(server, samples):
    c = config(format__encoding=pb.ENCODING_FLOAT32LE, keywords__interim_scores=True)
    loud = np.array(samples * (16000 // len(samples) + 1), "<f4")[:16000].tobytes()  # a second of it
    with VoiceClient(server.target, timeout_s=60) as client:
        responses = list(client.stub.StreamAudio(iter([first(c), audio(0, loud), audio(1, loud[:3200])]), timeout=60))
    scores = [v for r in responses if r.HasField("scores") for v in r.scores.scores.values()]
    assert scores and np.isfinite(scores).all()
    assert responses[-1].summary.end_reason == pb.STREAM_END_COMPLETED


def held_open(gate: threading.Event):
    """Chunks of a stream that stays open until the gate is set."""
    yield PCM
    gate.wait(20)


def test_missing_model_is_not_found(settings):
    gru_only = ServerThread(
        dataclasses.replace(settings, models={("keywords", "gru"): settings.models["keywords", "gru"]})
    )
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
