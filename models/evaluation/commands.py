"""Spoken commands read within a context, measured as speech-to-intent benchmarks measure them: a folder of
recordings with `labels.json` beside them (`{"file.wav": {"intent": ..., "slots": {...}}}`; an intent of null for
a command outside the context), each read by the recogniser and `ContextSearch`. A command is accepted when its
intent and every slot are right (or, for one outside the context, when it is not understood).

Slot values compare as people would: case and spacing aside, and a number said in words equal to its digits.
"""

import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import torch
from tqdm import tqdm

from rnnvoice.models.data.augment import NoiseBank, rms
from rnnvoice.models.data.corpus import SAMPLE_RATE, load_clip
from rnnvoice.models.decoding.context_search import ContextSearch
from rnnvoice.models.nets.speech_recognizer import SpeechRecognizer
from rnnvoice.models.nlu.spoken_numbers import read_number
from rnnvoice.models.streaming.stream import recording_posteriors

__all__ = ["LABELS", "command_report", "same_value"]

LABELS = "labels.json"


def same_value(said: str | None, expected) -> bool:
    """Two slot values alike: case and spacing aside; "twenty five" is "25"."""
    if said is None:
        return False

    def norm(value) -> str:
        words = str(value).lower().replace("-", " ").split()
        number = read_number(words)
        return str(number) if number is not None else " ".join(words)

    return norm(said) == norm(expected)


def _with_noise(wave: torch.Tensor, noise: NoiseBank, snr_db: float, rng: random.Random) -> torch.Tensor:
    segment = noise.segment(len(wave), rng)
    return wave + segment * (rms(wave) * 10 ** (-snr_db / 20) / rms(segment))


def command_report(
    recognizer: SpeechRecognizer,
    search: ContextSearch,
    folder: Path,
    noise: NoiseBank | None = None,
    snr_db: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    labels = json.loads((Path(folder) / LABELS).read_text())
    rng = random.Random(seed)
    per_file, per_intent, slot_errors = {}, defaultdict(Counter), defaultdict(Counter)
    for name, label in tqdm(sorted(labels.items()), desc="commands", unit="file", disable=not progress):
        wave = load_clip(Path(folder) / name, SAMPLE_RATE)
        if noise is not None and snr_db is not None:
            wave = _with_noise(wave, noise, snr_db, rng)
        result = search.search(recording_posteriors(recognizer, wave, SAMPLE_RATE))
        expected_intent, expected_slots = label.get("intent"), label.get("slots", {}) or {}
        slots_right = True
        for slot, value in expected_slots.items():
            slot_errors[slot]["said"] += 1
            if slot not in result.slots:
                slot_errors[slot]["missed"] += 1
                slots_right = False
            elif not same_value(result.slots[slot], value):
                slot_errors[slot]["wrong"] += 1
                slots_right = False
        for slot in set(result.slots) - set(expected_slots):
            slot_errors[slot]["extra"] += 1
            slots_right = False
        if expected_intent is None:
            accepted = not result.understood
        else:
            accepted = result.understood and result.intent == expected_intent and slots_right
        per_intent[expected_intent or "(outside the context)"]["commands"] += 1
        per_intent[expected_intent or "(outside the context)"]["accepted"] += accepted
        per_file[name] = {
            "accepted": accepted,
            "understood": result.understood,
            "intent": result.intent,
            "slots": result.slots,
            "expected": {"intent": expected_intent, "slots": expected_slots},
            "words": result.words,
            "score": round(float(result.score), 4),
        }
    commands = len(per_file)
    return {
        "command_acceptance": round(sum(f["accepted"] for f in per_file.values()) / max(1, commands), 4),
        "commands": commands,
        "not_understood": sum(not f["understood"] for f in per_file.values()),
        "snr_db": snr_db,
        "per_intent": {k: dict(v) for k, v in sorted(per_intent.items())},
        "slot_errors": {k: dict(v) for k, v in sorted(slot_errors.items())},
        "files": per_file,
    }
