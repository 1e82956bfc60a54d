"""Spoken commands read within a context, measured as speech-to-intent benchmarks measure them.

The recordings come with their meaning: a folder with `labels.json` beside its WAVs (`{"file.wav": {"intent": ...,
"slots": {...}}}`; an intent of null for a command outside the context), or clips whose words are known (Speech
Commands, FSDD), each labelled with what its words mean in the context (`ContextSearch.read_text`). Each is read
two ways in the same run: by the recogniser's posteriors searched within the context (what the server does), and,
for comparison, by the recogniser's free transcript (beam search) read within the context afterwards, a general
recogniser plus text matching. A command is accepted when its intent and every slot are right, or, for one outside
the context, when it is not understood. Slot values compare case and spacing aside, a number in words equal to
its digits.
"""

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from rnnvoice.models.data.augment import NoiseBank, rms
from rnnvoice.models.data.corpus import SAMPLE_RATE, Clip, load_clip
from rnnvoice.models.decoding.context_search import ContextSearch, Understanding
from rnnvoice.models.evaluation.transcription import final_text, transcribe
from rnnvoice.models.nets.speech_recognizer import SpeechRecognizer
from rnnvoice.models.nlu.spoken_numbers import read_number
from rnnvoice.models.streaming.stream import recording_posteriors

__all__ = ["LABELS", "Command", "clip_commands", "command_report", "folder_commands", "same_value"]

LABELS = "labels.json"


@dataclass(frozen=True)
class Command:
    path: Path
    intent: str | None  # None: outside the context
    slots: dict
    speaker: str = ""


def folder_commands(folder: Path) -> list[Command]:
    labels = json.loads((Path(folder) / LABELS).read_text())
    return [
        Command(Path(folder) / name, label.get("intent"), label.get("slots") or {})
        for name, label in sorted(labels.items())
    ]


def clip_commands(clips: list[Clip], search: ContextSearch) -> list[Command]:
    """Clips of known words, each labelled with what its words mean in the context (silence left out)."""
    commands = []
    for clip in clips:
        if clip.word:
            meaning = search.read_text(clip.word)
            commands.append(Command(Path(clip.path), meaning.intent, meaning.slots, clip.speaker))
    return commands


def same_value(said: str | None, expected) -> bool:
    """Two slot values alike: case and spacing aside; "twenty five" is "25"."""
    if said is None:
        return False

    def norm(value) -> str:
        words = str(value).lower().replace("-", " ").split()
        number = read_number(words)
        return str(number) if number is not None else " ".join(words)

    return norm(said) == norm(expected)


def _judge(command: Command, result: Understanding, slot_errors: defaultdict | None = None) -> bool:
    slots_right = True
    for slot, value in command.slots.items():
        if slot_errors is not None:
            slot_errors[slot]["said"] += 1
        if slot not in result.slots or not same_value(result.slots[slot], value):
            slots_right = False
            if slot_errors is not None:
                slot_errors[slot]["missed" if slot not in result.slots else "wrong"] += 1
    for slot in set(result.slots) - set(command.slots):
        slots_right = False
        if slot_errors is not None:
            slot_errors[slot]["extra"] += 1
    if command.intent is None:
        return not result.understood
    return result.understood and result.intent == command.intent and slots_right


def _with_noise(wave: torch.Tensor, noise: NoiseBank, snr_db: float, rng: random.Random) -> torch.Tensor:
    segment = noise.segment(len(wave), rng)
    return wave + segment * (rms(wave) * 10 ** (-snr_db / 20) / rms(segment))


def command_report(
    recognizer: SpeechRecognizer,
    search: ContextSearch,
    commands: list[Command],
    noise: NoiseBank | None = None,
    snr_db: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    rng = random.Random(seed)
    files, per_intent, per_speaker = {}, defaultdict(Counter), defaultdict(Counter)
    slot_errors = defaultdict(Counter)
    for command in tqdm(commands, desc="commands", unit="file", disable=not progress):
        wave = load_clip(command.path, SAMPLE_RATE)
        if noise is not None and snr_db is not None:
            wave = _with_noise(wave, noise, snr_db, rng)
        result = search.search(recording_posteriors(recognizer, wave, SAMPLE_RATE))
        transcript = final_text(transcribe(recognizer, wave)[0])
        by_text = search.read_text(transcript)
        accepted = _judge(command, result, slot_errors)
        intent = command.intent or "(outside the context)"
        for counts in (per_intent[intent], per_speaker[command.speaker or "(unknown)"]):
            counts["commands"] += 1
            counts["accepted"] += accepted
            counts["accepted_by_text"] += _judge(command, by_text)
        files[str(command.path)] = {
            "speaker": command.speaker,
            "accepted": accepted,
            "understood": result.understood,
            "intent": result.intent,
            "slots": result.slots,
            "expected": {"intent": command.intent, "slots": command.slots},
            "words": result.words,
            "score": round(float(result.score), 4),
            "transcript": transcript,
            "accepted_by_text": _judge(command, by_text),
        }
    total = max(1, len(files))
    return {
        "command_acceptance": round(sum(f["accepted"] for f in files.values()) / total, 4),
        "commands": len(files),
        "not_understood": sum(not f["understood"] for f in files.values()),
        "text_matching_acceptance": round(sum(f["accepted_by_text"] for f in files.values()) / total, 4),
        "snr_db": snr_db,
        "per_intent": {k: dict(v) for k, v in sorted(per_intent.items())},
        "per_speaker": {k: dict(v) for k, v in sorted(per_speaker.items())},
        "slot_errors": {k: dict(v) for k, v in sorted(slot_errors.items())},
        "files": files,
    }
