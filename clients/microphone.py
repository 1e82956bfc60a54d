"""Microphones through PortAudio (sounddevice, imported only when a microphone is used): find, open, list."""

CHUNK_S = 0.1


class MicError(Exception):
    """A microphone that is missing, busy or unusable; the message says what to do."""


def _sounddevice():
    try:
        import sounddevice
    except ModuleNotFoundError as e:
        raise MicError("the microphone client needs sounddevice: pip install 'rnnvoice[mic]'") from e
    except OSError as e:  # the module is there, the PortAudio library is not
        raise MicError(f"{e}: install PortAudio (Debian and Ubuntu: apt-get install libportaudio2)") from e
    return sounddevice


def find_microphone(device: int | str | None) -> tuple[int, str, int]:
    """The device's number, name and capture rate: its own default rate, at most 48 kHz."""
    sd = _sounddevice()
    try:
        info = sd.query_devices(device, "input")
    except ValueError as e:
        raise MicError(f"{e}; `rnnvoice mic --list-devices` shows the microphones") from e
    except sd.PortAudioError as e:
        raise MicError("no microphone found; `rnnvoice mic --list-devices` shows the devices") from e
    return info["index"], info["name"], min(int(info["default_samplerate"]), 48000)


def open_microphone(index: int, name: str, rate: int):
    """A started input stream of 16-bit mono samples, read in blocks of CHUNK_S."""
    sd = _sounddevice()
    try:
        stream = sd.RawInputStream(
            device=index, samplerate=rate, channels=1, dtype="int16", blocksize=round(rate * CHUNK_S)
        )
        stream.start()
    except sd.PortAudioError as e:
        raise MicError(f"cannot open {name!r}: {e}; is another program using it?") from e
    return stream


def list_devices() -> str:
    sd = _sounddevice()
    default = sd.default.device[0]
    return (
        "\n".join(
            f"{'*' if d['index'] == default else ' '} {d['index']:3d}  {d['name']}  "
            f"({d['max_input_channels']} channels, {d['default_samplerate']:.0f} Hz)"
            for d in sd.query_devices()
            if d["max_input_channels"] > 0
        )
        or "no microphones found"
    )
