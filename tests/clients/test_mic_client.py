"""`rnnvoice mic` for real: PortAudio records an ALSA device whose samples come from a real recording.

ALSA's `file` plugin reads the capture samples from a raw file. It has no clock of its own, so the
client reads it as fast as the server takes the audio, and the audio clock runs ahead of the wall clock.
"""

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from tests.conftest import ServerThread, fixture_clip, free_port, wait_until

DEVICE_RATE = 44100  # the device's own rate: the client captures at it, the server resamples
ASOUNDRC = """
pcm.speech {{
  type plug
  slave {{
    pcm {{
      type file
      slave.pcm {{ type null }}
      file "/dev/null"
      infile "{raw}"
      format "raw"
    }}
    format S16_LE
    rate {rate}
    channels 1
  }}
}}
"""
METER = re.compile(r"^\s*([\d.]+) s  \|[#.]+\|\s+(-?[\d.]+) dBFS$")


@pytest.fixture()
def speech_home(tmp_path) -> dict[str, str]:
    """An environment whose ALSA has a microphone "speech": spoken_seven_yes.wav, then 20 s of silence."""
    speech = fixture_clip("spoken_seven_yes.wav", DEVICE_RATE)
    samples = np.concatenate([speech, np.zeros(20 * DEVICE_RATE, np.float32)])
    raw = tmp_path / "speech.raw"
    np.round(samples * 32767).astype("<i2").tofile(raw)
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(raw=raw, rate=DEVICE_RATE))
    return {**os.environ, "HOME": str(tmp_path)}  # ALSA reads ~/.asoundrc


class MicProcess:
    """`rnnvoice mic` in a child process, its output collected line by line."""

    def __init__(self, target: str, env: dict[str, str], *args: str):
        # -X faulthandler: SIGABRT makes a stuck client print every thread's stack (see explain).
        # Ctrl-C as in a terminal, even where the tests run with SIGINT ignored (a background job, say), which a
        # child inherits: the child restores it itself. Not with a preexec_fn: that makes Popen fork, and gRPC's
        # fork handlers then restart its poller in the child, which can abort on the fd closed for exec
        # (grpc/grpc#43055).
        start = (
            "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from rnnvoice.clients.cli import main; sys.exit(main(sys.argv[1:]))"
        )
        command = [
            sys.executable,
            "-X",
            "faulthandler",
            "-c",
            start,
            "mic",
            "--device",
            "speech",
            "--server",
            target,
            *args,
        ]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()

    def meter(self) -> list[tuple[float, float]]:
        """(audio clock s, dBFS) of every level line so far."""
        return [(float(m[1]), float(m[2])) for line in list(self.lines) if (m := METER.match(line.rstrip("\n")))]

    def audio_clock(self) -> float:
        return max((t for t, _ in self.meter()), default=0.0)

    def printed(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def interrupt(self) -> str:
        """Ctrl-C; the whole output once the client has exited."""
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"no exit 60 s after Ctrl-C\n{self.explain()}") from None
        assert code == 0, "".join(self.lines)[-3000:]
        self.reader.join(10)
        return "".join(self.lines)

    def explain(self) -> str:
        """The output so far and, if the client is still running, the stack of each of its threads."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            self.reader.join(5)
        return "".join(self.lines)[-8000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def summary(output: str) -> re.Match:
    found = re.search(
        r"summary: ([\d.]+) s of audio from 'speech', ([\d.]+) s streamed in (\d+) streams "
        r"\((\d+) reconnects\); detections: (.*); final transcripts and commands: (\d+)",
        output,
    )
    assert found, output[-3000:]
    return found


def test_mic_records_the_device_and_streams_it(metered_server, speech_home):
    from rnnvoice.clients.qa.scrape import scrape, value

    before = value(scrape(metered_server.metrics_url), "rnnvoice_audio_seconds_total", cell="lstm")
    mic = MicProcess(metered_server.target, speech_home, "--cell", "lstm")
    try:
        assert wait_until(lambda: mic.audio_clock() >= 16, timeout_s=90), "".join(mic.lines)[-3000:]
        output = mic.interrupt()
    finally:
        mic.kill()
    assert f"listening to 'speech' at {DEVICE_RATE} Hz, LSTM keywords model" in output
    found = summary(output)
    captured_s, streamed_s = float(found[1]), float(found[2])
    assert captured_s >= 10 and streamed_s == pytest.approx(captured_s, abs=0.25)
    assert (found[3], found[4]) == ("1", "0")
    # The server heard what the client says it sent.
    arrived = value(scrape(metered_server.metrics_url), "rnnvoice_audio_seconds_total", cell="lstm") - before
    assert arrived == pytest.approx(streamed_s, abs=0.1)
    # The meter heard the recording: speech in its first three seconds (a line a second, with the loudest
    # 100 ms of that second), then the digital silence that follows it.
    meter = dict(mic.meter())
    speech = [db for t, db in meter.items() if t <= 3.0]
    silence = [db for t, db in meter.items() if 5.0 <= t <= 20.0]
    assert len(speech) == 4 and max(speech) > -40, meter
    assert len(silence) >= 10 and max(silence) < -100, meter
    detected = re.findall(r"^\s*[\d.]+ -\s+([\d.]+) s  (\w+)\s+score", output, re.MULTILINE)
    assert {"seven", "yes"} <= {keyword for _, keyword in detected}, output
    assert all(float(t) < 3.5 for t, _ in detected), detected  # nothing in the silence after the speech


@pytest.mark.parametrize("grace_s", [5.0, 0.0])
def test_mic_reconnects_when_the_server_restarts(settings, speech_home, grace_s):
    port = free_port()
    first = ServerThread(dataclasses.replace(settings, port=port, grace_s=grace_s))
    mic = MicProcess(first.target, speech_home)
    second = None
    try:
        assert wait_until(lambda: mic.audio_clock() >= 2, timeout_s=90), "".join(mic.lines)[-3000:]
        # Graceful: the server ends the stream with its summary, or (grace 0, as when finishing outlasts the grace
        # under load) without it, saying that it drained the stream; either way the client does not try to resume
        # it for its 30 s window, but reconnects at once.
        first.stop()
        assert wait_until(lambda: mic.printed("reconnecting"), timeout_s=20), mic.explain()
        before_restart = mic.audio_clock()
        second = ServerThread(dataclasses.replace(settings, port=port))
        assert wait_until(lambda: mic.printed("stream 2"), timeout_s=60), "".join(mic.lines)[-3000:]
        assert wait_until(lambda: len(second.server.servicer.sessions) == 1, timeout_s=30)
        output = mic.interrupt()
    finally:
        mic.kill()
        if second is not None:
            second.stop()
    found = summary(output)
    assert (found[3], found[4]) == ("2", "1")
    # One audio clock across both streams: it never goes back, and runs on through the outage.
    clock = [t for t, _ in mic.meter()]
    assert clock == sorted(clock) and clock[-1] > before_restart
    assert 0 < float(found[2]) < float(found[1])  # what was heard while the server was away was not sent


def test_mic_takes_stream_options_and_stops_at_its_voice_activity_timeout(server, speech_home):
    mic = MicProcess(server.target, speech_home, "--phrase", "seven", "--voice-events", "--voice-timeout-s", "2")
    try:
        code = mic.process.wait(90)  # no Ctrl-C: the timeout ends it
        mic.reader.join(10)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running 90 s on\n{mic.explain()}") from None
    finally:
        mic.kill()
    output = "".join(mic.lines)
    assert code == 0, output[-3000:]
    assert re.search(r"^\s*[\d.]+ -\s+[\d.]+ s  seven\s+score", output, re.MULTILINE), output[-3000:]
    assert re.search(r"^\s*[\d.]+ s   speech begin$", output, re.MULTILINE), output[-3000:]
    assert "no speech for the voice activity timeout" in output
    found = summary(output)
    # Speech ends at about 2.8 s: the stream ends 2 s later, and only then.
    assert 4.0 <= float(found[2]) <= 6.0 and (found[3], found[4]) == ("1", "0")
