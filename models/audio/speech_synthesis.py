"""Text-to-speech voices installed on this machine (espeak-ng, flite, festival): training speakers, and the voices
that enrol a phrase chosen at run time."""

import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

ESPEAK_ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
# espeak-ng variants that sound like a person rather than an effect.
ESPEAK_VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "m8",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
    "klatt6",
    "adam",
    "Alex",
    "Alicia",
    "Andrea",
    "Andy",
    "Annie",
    "aunty",
    "belinda",
    "benjamin",
    "boris",
    "caleb",
    "david",
    "Denis",
    "ed",
    "edward",
    "Gene",
    "gustave",
    "Hugo",
    "iven",
    "iven2",
    "iven3",
    "Jacky",
    "john",
    "Lee",
    "linda",
    "Marco",
    "max",
    "Michael",
    "michel",
    "Mike",
    "norbert",
    "paul",
    "pedro",
    "quincy",
    "rob",
    "robert",
    "steph",
    "steph2",
    "steph3",
    "travis",
    "victor",
    "zac",
    "grandma",
    "grandpa",
    "anika",
    "shelby",
)
FLITE_VOICES = ("kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("kal_diphone", "cmu_us_slt_arctic_hts")


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an engine and its voice. `name` is its speaker id."""

    engine: str
    voice: str

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.voice}".replace("+", "-")


# The engines a Voice speaks with (`available_voices`): the first word of every synthetic speaker's id.
ENGINES = ("espeak", "flite", "festival")


def is_synthetic(speaker: str) -> bool:
    """Whether a speaker id is a synthetic voice's (`Voice.name`) rather than a real person's."""
    return speaker.split("-", 1)[0] in ENGINES


def available_voices() -> list[Voice]:
    voices = []
    if shutil.which("espeak-ng"):
        voices += [Voice("espeak", f"{a}+{v}") for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS]
    if shutil.which("flite"):
        voices += [Voice("flite", v) for v in FLITE_VOICES]
    if shutil.which("festival"):
        voices += [Voice("festival", v) for v in FESTIVAL_VOICES]
    return voices


@dataclass(frozen=True)
class Prosody:
    """Speaking rate and pitch relative to the voice's own, 1.0 meaning unchanged."""

    rate: float = 1.0
    pitch: float = 1.0

    @staticmethod
    def sample(rng: random.Random) -> "Prosody":
        return Prosody(rate=rng.uniform(0.75, 1.3), pitch=rng.uniform(0.8, 1.25))


def synthesize(voice: Voice, text: str, prosody: Prosody = Prosody()) -> tuple[np.ndarray, int]:
    """Speaks text; returns float32 samples and their rate."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        if voice.engine == "espeak":
            cmd = [
                "espeak-ng",
                "-v",
                voice.voice,
                "-s",
                str(round(165 * prosody.rate)),
                "-p",
                str(round(np.clip(50 * prosody.pitch, 0, 99))),
                "-w",
                str(wav),
                text,
            ]
            subprocess.run(cmd, check=True, capture_output=True)
        elif voice.engine == "flite":
            cmd = [
                "flite",
                "-voice",
                voice.voice,
                "--setf",
                f"duration_stretch={1 / prosody.rate:.3f}",
                "--setf",
                f"int_f0_target_mean={round(100 * prosody.pitch)}",
                "-t",
                text,
                "-o",
                str(wav),
            ]
            subprocess.run(cmd, check=True, capture_output=True)
        elif voice.engine == "festival":
            quoted = text.replace("\\", " ").replace('"', " ")
            script = Path(tmp) / "say.scm"
            script.write_text(
                f"(voice_{voice.voice})\n(Parameter.set 'Duration_Stretch {1 / prosody.rate:.3f})\n"
                f'(set! u (utt.synth (Utterance Text "{quoted}")))\n(utt.save.wave u "{wav}" \'riff)\n'
            )
            subprocess.run(["festival", "--batch", str(script)], check=True, capture_output=True)
        else:
            raise ValueError(f"unknown text-to-speech engine {voice.engine!r}")
        audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    return audio.mean(axis=1), rate
