"""`rnnvoice fuzz`: hypothesis draws calls (request sequences, configurations, audio bytes, raw bytes on the wire),
each knowing whether the server must accept it, refuse it, or may do either; every call is judged by its status.

A wrong status is: UNKNOWN, INTERNAL, DATA_LOSS or UNIMPLEMENTED for any input (a server error, or a request it
could not even read); OK for an input built to be invalid; a refusal of an input built to be valid (other than
RESOURCE_EXHAUSTED at the stream limit); a refusal without a message; any other status but a hang's or a crash's.
A hang is a call that outlives its deadline; a crash is a server that is no longer there.
"""

import concurrent.futures
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import grpc
import hypothesis
import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st

from rnnvoice.clients.client import Audio, VoiceClient, stream_config
from rnnvoice.clients.resumable import ResumableStream
from rnnvoice.models.audio.pcm import SUPPORTED_RATES
from rnnvoice.models.types import Cell, Task
from rnnvoice.protos import SERVICE_NAME, pb
from rnnvoice.service.requests import MAX_CHANNELS, MAX_HINT_CHARS, MAX_HINTS
from rnnvoice.service.settings import ServerSettings

SERVER_ERRORS = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.UNIMPLEMENTED,
}
REFUSALS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
# Float samples are either ordinary (full scale) or absurd; nothing in between is drawn, so that the verdict does
# not depend on where a server draws its line.
ABSURD = 1e15
WIDTH = {"pcm_s16le": 2, "float32le": 4}
HINTS = st.text(string.ascii_lowercase + " ", min_size=1, max_size=40).filter(lambda h: h.strip())
WORDS = st.text(string.ascii_lowercase, min_size=1, max_size=8)


@st.composite
def contexts(draw) -> str:
    """A small well-formed context in Rhino's YAML: intents of words, choices, options and slots."""
    values = draw(st.lists(WORDS, min_size=1, max_size=5, unique=True))
    lines = ["context:", "  expressions:"]
    for i in range(draw(st.integers(1, 3))):
        parts = draw(st.lists(st.one_of(WORDS, WORDS.map(lambda w: f"({w})")), min_size=1, max_size=4))
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(["$thing:what", "$pv.SingleDigitInteger:n"])))
        parts.insert(0, draw(WORDS))  # a word first: an expression of options alone could say nothing
        lines += [f"    intent{i}:", f'      - "{" ".join(parts)}"']
    return "\n".join(lines + ["  slots:", f"    thing: [{', '.join(values)}]", ""])


FLOAT32 = st.floats(width=32).map(float)
ENUM = st.integers(-(2**31), 2**31 - 1)
BATCH = 8  # calls drawn together and run at once


class Method(StrEnum):
    """How a call reaches the server: a method through the client's stubs, the resumable protocol, or bytes."""

    STREAM = "stream"
    RECOGNIZE = "recognize"
    RESUMABLE = "resumable"
    RAW_STREAM = "raw stream"
    RAW_RECOGNIZE = "raw recognize"


class Verdict(StrEnum):
    """What the server must do with a call's input."""

    ACCEPT = "accept"
    REJECT = "reject"
    EITHER = "either"


class Problem(StrEnum):
    """What is wrong with how a call ended."""

    CRASH = "crash"
    HANG = "hang"
    WRONG_STATUS = "wrong status"


@dataclass(frozen=True)
class Case:
    """One call: the method, what it sends, and the verdict its input deserves."""

    method: Method
    payload: object
    verdict: Verdict
    why: str


@dataclass
class FuzzReport:
    inputs: int = 0
    crashes: int = 0
    hangs: int = 0
    wrong_status: int = 0
    rss_growth_bytes: int | None = None
    rss_baseline_bytes: int | None = None
    rss_peak_bytes: int | None = None
    rss_samples: list[tuple[int, int]] = field(default_factory=list)  # (calls so far, server RSS), to tell a leak
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)  # "method verdict CODE" -> calls
    wrong: list[dict] = field(default_factory=list)  # the first example of each kind of wrong status, hang, crash
    kinds: Counter = field(default_factory=Counter)  # (problem, method, input, code) -> calls

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("statuses", "wrong", "kinds")}
        out["inputs_per_second"] = round(self.inputs / self.seconds, 1) if self.seconds else None
        out["statuses"] = dict(sorted(self.statuses.items()))
        out["problems"] = [
            example | {"calls": self.kinds[example["problem"], example["method"], example["input"], example["code"]]}
            for example in self.wrong
        ]
        out["wrong_status_means"] = __doc__.split("\n\n")[1].replace("\n", " ").strip()
        return out


def _frames(seed: int, frames: int, channels: int, encoding: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if encoding == "pcm_s16le":
        return rng.integers(-32768, 32768, (frames, channels)).astype("<i2")
    return rng.uniform(-1, 1, (frames, channels)).astype("<f4")


@st.composite
def audio_bytes(draw, rate: int, channels: int, encoding: str, max_s: float) -> tuple[bytes, str | None]:
    """Chunk data and why it must be refused (None: it is fine)."""
    faults = ["partial frame", "empty"] + (["NaN or infinite", "absurd"] if encoding == "float32le" else [])
    fault = draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from(faults + ["oversized"])))
    frames = draw(st.integers(1, rate // 2))
    samples = _frames(draw(st.integers(0, 2**32 - 1)), frames, channels, encoding)
    if fault in ("NaN or infinite", "absurd"):
        bad = (
            draw(st.sampled_from([np.nan, np.inf, -np.inf]))
            if fault != "absurd"
            else draw(st.floats(ABSURD, 3e38)) * draw(st.sampled_from([1, -1]))
        )
        samples.flat[draw(st.integers(0, samples.size - 1))] = bad
    data = samples.tobytes()
    if fault == "partial frame":
        data += bytes(draw(st.integers(1, WIDTH[encoding] * channels - 1)))
    elif fault == "empty":
        data = b""
    elif fault == "oversized":
        data = bytes((int(max_s * rate) + 1) * WIDTH[encoding] * channels)
    return data, fault


def _settings(c: pb.StreamConfig, task: str, keywords: list[str], draw) -> None:
    for keyword in draw(st.lists(st.sampled_from(keywords), unique=True, max_size=4)):
        setting = c.keywords.keywords.add(keyword=keyword)
        if draw(st.booleans()):
            setting.sensitivity = draw(st.floats(0, 1, width=32))
    c.keywords.interim_scores = draw(st.booleans())
    c.transcription.interim_results = draw(st.booleans())
    c.transcription.phrase_hints.extend(draw(st.lists(HINTS, max_size=3)))
    if draw(st.booleans()):
        c.transcription.endpoint_silence_s = draw(st.floats(0.11, 3.0).map(lambda s: float(np.float32(s))))
    c.transcription.decoder = draw(st.sampled_from([pb.DECODER_UNSPECIFIED, pb.DECODER_BEAM, pb.DECODER_GREEDY]))
    if task == Task.ASSISTANT and draw(st.booleans()):
        c.assistant.context_yaml = draw(contexts())


@st.composite
def configs(draw, keywords: list[str]) -> tuple[pb.StreamConfig, str | None]:
    """A configuration and why it must be refused (None: it is valid)."""
    task = draw(st.sampled_from(list(Task)))
    allowed = keywords if task == Task.KEYWORDS else ["computer"]
    fmt = Audio(
        b"", draw(st.sampled_from(SUPPORTED_RATES)), draw(st.integers(1, 3)), draw(st.sampled_from(list(WIDTH)))
    )
    c = stream_config(fmt, task=task, cell=draw(st.sampled_from(list(Cell))))
    _settings(c, task, allowed, draw)
    spots, words = task != Task.TRANSCRIPTION, task != Task.KEYWORDS
    faults = {  # name: (applies to this task, what it does)
        "unknown task": (True, lambda: setattr(c, "task", draw(ENUM.filter(lambda t: t not in (1, 2, 3))))),
        "unknown cell": (True, lambda: setattr(c, "cell", draw(ENUM.filter(lambda t: t not in (1, 2))))),
        "unsupported rate": (
            True,
            lambda: setattr(
                c.format, "sample_rate_hz", draw(st.integers(0, 2**32 - 1).filter(lambda r: r not in SUPPORTED_RATES))
            ),
        ),
        "unknown encoding": (True, lambda: setattr(c.format, "encoding", draw(ENUM.filter(lambda e: e not in (1, 2))))),
        "too many channels": (
            True,
            lambda: setattr(c.format, "channels", draw(st.integers(MAX_CHANNELS + 1, 2**32 - 1))),
        ),
        "unknown keyword": (
            spots,
            lambda: c.keywords.keywords.add(
                keyword=draw(st.text(max_size=draw(st.sampled_from([12, 20000]))).filter(lambda k: k not in allowed))
            ),
        ),
        "keyword twice": (spots, lambda: c.keywords.keywords.extend([pb.KeywordSetting(keyword=allowed[0])] * 2)),
        "sensitivity out of range": (
            spots,
            lambda: c.keywords.keywords.add(
                keyword=allowed[-1], sensitivity=draw(FLOAT32.filter(lambda s: not 0 <= s <= 1))
            ),
        ),
        "too many hints": (
            words,
            lambda: c.transcription.phrase_hints.extend(
                draw(st.lists(HINTS, min_size=MAX_HINTS + 1, max_size=MAX_HINTS + 20))
            ),
        ),
        "overlong hint": (
            words,
            lambda: c.transcription.phrase_hints.append("a" * draw(st.integers(MAX_HINT_CHARS + 1, 20000))),
        ),
        "hint without letters": (
            words,
            lambda: c.transcription.phrase_hints.append(draw(st.text("0123456789 !?.,-", min_size=1, max_size=40))),
        ),
        "endpoint out of range": (
            words,
            lambda: setattr(c.transcription, "endpoint_silence_s", draw(FLOAT32.filter(lambda s: not 0.1 <= s <= 3.0))),
        ),
        "context on another task": (
            task != Task.ASSISTANT,
            lambda: setattr(c.assistant, "context_yaml", draw(contexts())),
        ),
        # A context on another task is refused as well: these apply to every task.
        "unknown context": (True, lambda: setattr(c.assistant, "context", draw(WORDS))),
        "malformed context": (
            True,
            lambda: setattr(c.assistant, "context_yaml", draw(st.text(max_size=200).filter(lambda t: t.strip()))),
        ),
        "context with an alias": (
            True,
            lambda: setattr(c.assistant, "context_yaml", "x: &a [" + "hi, " * draw(st.integers(1, 50)) + "]\ny: *a\n"),
        ),
        "context over its budget": (
            True,
            lambda: setattr(
                c.assistant,
                "context_yaml",
                "context:\n  expressions:\n    a: ['go $s:n']\n  slots:\n    s: ["
                + ", ".join(f"w{'x' * (i % 9)}{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(2100))
                + "]\n",
            ),
        ),
        "unknown decoder": (
            words,
            lambda: setattr(c.transcription, "decoder", draw(ENUM.filter(lambda d: d not in (0, 1, 2)))),
        ),
    }
    fault = draw(st.one_of(st.none(), st.sampled_from(sorted(faults))))
    if fault is None:
        return c, None
    applies, apply = faults[fault]
    apply()
    # A `keywords`-only fault on a recogniser's stream (or the reverse) is ignored by the server: still valid.
    return c, fault if applies else None


def audio_request(sequence: int, data: bytes) -> pb.StreamAudioRequest:
    return pb.StreamAudioRequest(audio=pb.AudioChunk(sequence=sequence, data=data))


@st.composite
def streams(draw, keywords: list[str]) -> Case:
    """A StreamAudio call: a configuration (or not), then requests in any order."""
    config, fault = draw(configs(keywords))
    rate, channels = config.format.sample_rate_hz, config.format.channels or 1
    encoding = "float32le" if config.format.encoding == pb.ENCODING_FLOAT32LE else "pcm_s16le"
    first = draw(st.sampled_from(["config"] * 6 + ["audio first", "empty first", "resume unknown", "end first"]))
    if first != "config":
        request = {
            "audio first": audio_request(0, b"\0\0"),
            "empty first": pb.StreamAudioRequest(),
            "resume unknown": pb.StreamAudioRequest(resume=pb.ResumeStream(token=draw(st.text(max_size=40)))),
            "end first": pb.StreamAudioRequest(end=pb.EndOfAudio()),
        }[first]
        return Case(Method.STREAM, [request], Verdict.REJECT, first)
    requests, why = [pb.StreamAudioRequest(config=config)], fault
    steps = draw(
        st.lists(
            st.sampled_from(
                ["chunk"] * 8
                + ["wrong sequence", "second config", "empty request", "resume mid-stream", "end of a plain stream"]
            ),
            max_size=6,
        )
    )
    for step in steps if fault is None else []:
        if step == "chunk" and (rate in SUPPORTED_RATES and encoding in WIDTH and channels <= MAX_CHANNELS):
            data, why = draw(audio_bytes(rate, channels, encoding, ServerSettings.max_chunk_s))
            requests.append(audio_request(len(requests) - 1, data))
        elif step == "wrong sequence":
            wrong = draw(st.integers(0, 2**64 - 1).filter(lambda s: s != len(requests) - 1))
            requests.append(audio_request(wrong, _frames(0, 160, channels, encoding).tobytes()))
            why = step
        elif step != "chunk":
            why = step
            requests.append(
                {
                    "second config": pb.StreamAudioRequest(config=config),
                    "empty request": pb.StreamAudioRequest(),
                    "resume mid-stream": pb.StreamAudioRequest(resume=pb.ResumeStream(token="x")),
                    "end of a plain stream": pb.StreamAudioRequest(end=pb.EndOfAudio()),
                }[step]
            )
        if why is not None:
            break
    return Case(Method.STREAM, requests, Verdict.REJECT if why else Verdict.ACCEPT, why or "valid stream")


@st.composite
def recognitions(draw, keywords: list[str]) -> Case:
    config, fault = draw(configs(keywords))
    encoding = "float32le" if config.format.encoding == pb.ENCODING_FLOAT32LE else "pcm_s16le"
    data, why = draw(
        audio_bytes(
            config.format.sample_rate_hz if config.format.sample_rate_hz in SUPPORTED_RATES else 16000,
            min(config.format.channels or 1, 3),
            encoding,
            ServerSettings.max_chunk_s,
        )
    )
    why = fault or (why if why != "oversized" else None)  # a recording may be as long as max_recording_s
    request = pb.RecognizeRequest(config=config, audio=data)
    if why is None and request.ByteSize() > ServerSettings.max_recognize_bytes:
        why = "over the size limit"  # but not as large as a Recognize request may be
    return Case(Method.RECOGNIZE, request, Verdict.REJECT if why else Verdict.ACCEPT, why or "valid recording")


@st.composite
def raw_calls(draw, keywords: list[str]) -> Case:
    """Bytes on the wire where a request message belongs: random, or a valid request with bytes changed."""
    config, _ = draw(configs(keywords))
    valid = pb.StreamAudioRequest(config=config).SerializeToString()
    messages = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            messages.append(draw(st.binary(max_size=300)))
        else:
            data = bytearray(valid)
            for _ in range(draw(st.integers(1, 4))):
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
            messages.append(bytes(data))
    method = draw(st.sampled_from([Method.RAW_STREAM, Method.RAW_RECOGNIZE]))
    return Case(method, messages if method == Method.RAW_STREAM else messages[0], Verdict.EITHER, "bytes")


@st.composite
def resumable_streams(draw, keywords: list[str]) -> Case:
    """A valid stream through the Python client's resumable protocol."""
    config, fault = draw(configs(keywords).filter(lambda c: c[1] is None))
    encoding = "float32le" if config.format.encoding == pb.ENCODING_FLOAT32LE else "pcm_s16le"
    chunks = [
        _frames(
            draw(st.integers(0, 2**32 - 1)), draw(st.integers(1, 1600)), config.format.channels or 1, encoding
        ).tobytes()
        for _ in range(draw(st.integers(0, 5)))
    ]
    return Case(Method.RESUMABLE, (config, chunks), Verdict.ACCEPT, "valid resumable stream")


def cases(keywords: list[str]) -> st.SearchStrategy[Case]:
    return st.one_of(
        streams(keywords), streams(keywords), recognitions(keywords), raw_calls(keywords), resumable_streams(keywords)
    )


def call(client: VoiceClient, case: Case, deadline_s: float) -> tuple[grpc.StatusCode, str]:
    """Runs one call to its end: its status and message."""
    try:
        if case.method == Method.STREAM:
            for _ in client.stub.StreamAudio(iter(case.payload), timeout=deadline_s, metadata=client.metadata):
                pass
        elif case.method == Method.RECOGNIZE:
            client.stub.Recognize(case.payload, timeout=deadline_s, metadata=client.metadata)
        elif case.method == Method.RESUMABLE:
            for _ in ResumableStream(client.stub, *case.payload, timeout_s=deadline_s, metadata=client.metadata):
                pass
        else:
            path = f"/{SERVICE_NAME}/{'StreamAudio' if case.method == Method.RAW_STREAM else 'Recognize'}"
            if case.method == Method.RAW_STREAM:
                for _ in client.channel.stream_stream(path)(
                    iter(case.payload), timeout=deadline_s, metadata=client.metadata
                ):
                    pass
            else:
                client.channel.unary_unary(path)(case.payload, timeout=deadline_s, metadata=client.metadata)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details() or ""


def judge(case: Case, code: grpc.StatusCode, details: str) -> Problem | None:
    """What is wrong with this status for this case: a hang, a wrong status, or nothing (None)."""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Problem.HANG
    if code in SERVER_ERRORS or (code != grpc.StatusCode.OK and code not in REFUSALS):
        return Problem.WRONG_STATUS
    if case.verdict == Verdict.REJECT and code == grpc.StatusCode.OK:
        return Problem.WRONG_STATUS
    if (
        case.verdict == Verdict.ACCEPT
        and code != grpc.StatusCode.OK
        and not (code == grpc.StatusCode.RESOURCE_EXHAUSTED and "limit" in details)
    ):
        return Problem.WRONG_STATUS
    return Problem.WRONG_STATUS if code in REFUSALS and not details.strip() else None


class Stop(Exception):
    """The time bound passed, or the server is gone."""


def fuzz(
    sut,
    inputs: int = 100_000,
    max_seconds: float = 3600.0,
    deadline_s: float = 30.0,
    seed: int | None = None,
    progress=None,
) -> FuzzReport:
    """Runs `inputs` drawn calls (BATCH at a time) against sut (a ServerUnderTest) within max_seconds."""
    report = FuzzReport()
    started = time.monotonic()
    with (
        VoiceClient(sut.target, connection=sut.connection) as client,
        concurrent.futures.ThreadPoolExecutor(BATCH) as pool,
    ):
        client.wait_ready(30)
        keywords = [k for m in client.list_models() if m.task == pb.TASK_KEYWORDS for k in m.keywords]
        warm_up, sample_every = max(1, inputs // 50), max(BATCH * 25, inputs // 20)

        @hypothesis.seed(seed)
        @settings(
            max_examples=-(-inputs // BATCH),
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
        )
        @given(st.lists(cases(sorted(set(keywords))), min_size=BATCH, max_size=BATCH))
        def batch(drawn: list[Case]) -> None:
            if time.monotonic() - started > max_seconds or report.inputs >= inputs:
                raise Stop
            for case, (code, details) in zip(drawn, pool.map(lambda c: call(client, c, deadline_s), drawn)):
                report.inputs += 1
                report.statuses[f"{case.method} {case.verdict} {code.name}"] += 1
                problem = judge(case, code, details)
                if code == grpc.StatusCode.UNAVAILABLE and not sut.alive():
                    problem = Problem.CRASH
                if problem:
                    report.crashes += problem == Problem.CRASH
                    report.hangs += problem == Problem.HANG
                    report.wrong_status += problem == Problem.WRONG_STATUS
                    kind = (problem, case.method, case.why, code.name)
                    report.kinds[kind] += 1
                    if report.kinds[kind] == 1:
                        report.wrong.append(
                            {
                                "problem": problem,
                                "method": case.method,
                                "input": case.why,
                                "verdict": case.verdict,
                                "code": code.name,
                                "details": details[:200],
                            }
                        )
            if report.crashes:
                raise Stop
            if report.inputs >= warm_up and report.inputs % (BATCH * 25) < BATCH and (rss := sut.rss_bytes()):
                report.rss_baseline_bytes = report.rss_baseline_bytes or rss
                report.rss_peak_bytes = max(report.rss_peak_bytes or 0, rss)
                if report.inputs % sample_every < BATCH:
                    report.rss_samples.append((report.inputs, rss))
            if progress is not None:
                progress(report)

        try:
            batch()
        except Stop:
            pass
    if report.rss_baseline_bytes and sut.alive():
        final = sut.rss_bytes()
        report.rss_peak_bytes = max(report.rss_peak_bytes, final)
        report.rss_growth_bytes = final - report.rss_baseline_bytes
    report.seconds = round(time.monotonic() - started, 1)
    return report
