"""G.711 telephone audio (mu-law and A-law, 8 kHz): decoded by the server as the standard tables say, and heard
through a real server from WAV files as a phone system would write them."""

import json

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from rnnvoice.clients import cli
from rnnvoice.clients.client import Audio, read_audio
from rnnvoice.models.audio.pcm import decode
from tests.conftest import FIXTURES


def test_the_g711_tables_are_the_standards():
    # Silence and the smallest steps either side of it, and the loudest codes (ITU-T G.711's tables).
    mulaw = decode(bytes([0xFF, 0x7F, 0xFE, 0x00, 0x80]), "mulaw", 1).numpy() * 32768
    assert mulaw.tolist() == [0, 0, 8, -32124, 32124]
    alaw = decode(bytes([0xD5, 0x55, 0xAA, 0x2A]), "alaw", 1).numpy() * 32768
    assert alaw.tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize("encoding", ["mulaw", "alaw"])
def test_telephone_audio_decodes_within_its_quantisation(encoding):
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    audio = Audio.from_array(tone, 8000, encoding)
    assert len(audio.data) == 8000 and audio.seconds == 1.0  # a byte a sample
    decoded = decode(audio.data, encoding, 1).numpy()
    assert np.abs(decoded - tone).max() <= 2**-5  # within a step: the largest, near full scale, is 1/32 of it


def telephone_wav(tmp_path, name: str, subtype: str):
    samples, rate = soundfile.read(FIXTURES / name, dtype="float32")
    narrow = torchaudio.functional.resample(torch.from_numpy(samples), rate, 8000).numpy()
    path = tmp_path / f"{subtype.lower()}_{name}"
    soundfile.write(path, narrow, 8000, subtype=subtype)
    return path


def stream_json(capsys, server, *args) -> list[dict]:
    assert cli.main(["stream", *map(str, args), "--server", server.target, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_mulaw_phone_call_is_heard(capsys, server, tmp_path, cell):
    path = telephone_wav(tmp_path, "spoken_seven_yes.wav", "ULAW")
    assert read_audio(path).encoding == "mulaw"  # sent as it is, a byte a sample
    lines = stream_json(capsys, server, path, "--cell", cell, "--keywords", "seven,yes")
    assert [r["keyword"] for r in lines if r["type"] == "keyword"] == ["seven", "yes"]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_alaw_phone_call_is_transcribed(capsys, server, tmp_path, cell):
    path = telephone_wav(tmp_path, "timer_david.wav", "ALAW")
    assert read_audio(path).encoding == "alaw"
    lines = stream_json(capsys, server, path, "--cell", cell, "--task", "transcription")
    assert [r["text"] for r in lines if r["type"] == "final"] == ["set a timer for five minutes"]
