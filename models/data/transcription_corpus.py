"""Speech-recognition corpora: folders of recordings with a `transcripts.tsv` (file<TAB>text).

A recording's speaker is the folder it sits in (`{speaker}/{n}.wav`). `build_transcription_corpus`
writes `train/`, `heldout/tts/` (voices never trained on), `heldout/fsdd/` (real digit
strings by FSDD speakers never trained on) and `heldout/speech_commands/` (real words by Speech
Commands speakers never trained on: the keyword corpus's held-out speakers), `heldout/wuw_dev/` and
`heldout/wuw_test/` (real telephone sentences by callers never trained on), plus `noise/`.
"""

import random
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import soundfile
import torch
import torchaudio

from rnnvoice.models.audio.speech_synthesis import Prosody, Voice, available_voices
from rnnvoice.models.data.corpus import (
    SAMPLE_RATE,
    Utterance,
    _speak_all,
    heldout_speakers,
    load_clip,
    scan_folder,
    split_by_speaker,
)
from rnnvoice.models.data.sentences import generate_command
from rnnvoice.models.data.wuw import MIN_PIECE_S, WUW_RATE, CallSplit, load_call, read_calls
from rnnvoice.models.data.wuw import UNTRAINED_WORDS as CALL_UNTRAINED_WORDS
from rnnvoice.models.vocabulary import SILENCE, UNTRAINED_WORDS

TRANSCRIPTS = "transcripts.tsv"


@dataclass(frozen=True)
class Recording:
    path: str
    text: str
    speaker: str


def read_transcripts(folder: Path) -> list[Recording]:
    folder = Path(folder)
    recordings = []
    for line in (folder / TRANSCRIPTS).read_text().splitlines():
        if not line.strip():
            continue
        name, text = line.split("\t", 1)
        rel = Path(name)
        speaker = rel.parent.name if rel.parent.name else rel.stem.split("_")[0]
        recordings.append(Recording(str(folder / rel), text.strip(), speaker))
    return recordings


def write_transcripts(folder: Path, recordings: list[Recording]) -> None:
    lines = [f"{Path(r.path).relative_to(folder)}\t{r.text}" for r in recordings]
    (Path(folder) / TRANSCRIPTS).write_text("\n".join(lines) + "\n")


def synthesize_sentences(folder: Path, voices: list[Voice], count: int, seed: int, workers: int) -> list[Recording]:
    """Voice-assistant commands from the sentence generator, each in a voice drawn from `voices`."""
    rng = random.Random(seed)
    items, recordings = [], []
    for i in range(count):
        voice = rng.choice(voices)
        text, _ = generate_command(rng)
        path = Path(folder) / voice.name / f"{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        items.append(Utterance(voice, text, Prosody.sample(rng), str(path)))
        recordings.append(Recording(str(path), text, voice.name))
    _speak_all(items, workers)
    return recordings


def digit_strings(fsdd: Path, folder: Path, speakers: set[str], count: int, seed: int) -> list[Recording]:
    """Real FSDD digits of one speaker joined into strings of 3 to 7 digits, as a phone number is read out."""
    rng = random.Random(seed)
    takes = defaultdict(list)
    for clip in scan_folder(fsdd):
        if clip.speaker in speakers:
            takes[clip.speaker, clip.word].append(clip.path)
    recordings = []
    for i in range(count):
        speaker = rng.choice(sorted(speakers))
        spoken = sorted(word for s, word in takes if s == speaker)  # the digits this speaker recorded
        words = [rng.choice(spoken) for _ in range(rng.randint(3, 7))]
        parts = []
        for word in words:
            parts += [
                load_clip(rng.choice(takes[speaker, word])),
                torch.zeros(int(rng.uniform(0.05, 0.25) * SAMPLE_RATE)),
            ]
        path = Path(folder) / speaker / f"{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, torch.cat(parts).clamp(-1, 1).numpy(), SAMPLE_RATE, subtype="PCM_16")
        recordings.append(Recording(str(path), " ".join(words), speaker))
    return recordings


def spoken_words(speech_commands: Path, out: Path, heldout_fraction: float) -> dict[str, list[Recording]]:
    """Real Speech Commands words, each its own transcript, copied into `train/` and `heldout/speech_commands/`.

    Speakers are held out exactly as the keyword corpus holds them out (the same hash over the same speakers),
    so that no model of either task has heard the speakers the reports are about; `UNTRAINED_WORDS` stay out
    of training altogether."""
    parts: dict[str, list[Recording]] = {"train": [], "heldout/speech_commands": []}
    for clip in split_by_speaker(scan_folder(speech_commands), heldout_fraction):
        part = "train" if clip.split == "train" else "heldout/speech_commands"
        if clip.label == SILENCE or (part == "train" and clip.word in UNTRAINED_WORDS):
            continue
        path = Path(out) / part / clip.speaker / f"{clip.word}_{Path(clip.path).name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip.path, path)
        parts[part].append(Recording(str(path), clip.word, clip.speaker))
    return parts


# Shorter kept audio is a sentence cut before its first word (its wake-up word said at once): nothing to learn.
MIN_SENTENCE = int(MIN_PIECE_S * SAMPLE_RATE)


def call_sentences(calls: Path, out: Path) -> dict[str, list[Recording]]:
    """The utterances of WUW Corpus II with their words, at 16 kHz: the training calls' in `train/`, the development
    and test calls' in `heldout/wuw_dev/` and `heldout/wuw_test/` (the calls split as everywhere, by a hash). The
    words no model trains on stay out of training: a wake-up word said alone is left out, and of a sentence that
    ends in one, only what comes before it is kept."""
    parts: dict[str, list[Recording]] = {"train": [], "heldout/wuw_dev": [], "heldout/wuw_test": []}
    for u in read_calls(calls):
        part = "train" if u.split == CallSplit.TRAIN else f"heldout/wuw_{u.split}"
        words, wave = list(u.words), torchaudio.functional.resample(load_call(u.path), WUW_RATE, SAMPLE_RATE)
        if part == "train" and u.keyword in CALL_UNTRAINED_WORDS:
            if u.keyword not in words[-1:]:  # said alone, or not where the transcript's timing says
                continue
            words, wave = words[:-1], wave[: int(u.keyword_start_s * SAMPLE_RATE)]
        if not words or (part == "train" and set(words) & set(CALL_UNTRAINED_WORDS)) or len(wave) < MIN_SENTENCE:
            continue
        path = Path(out) / part / u.call / f"{u.utterance}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, wave.clamp(-1, 1).numpy(), SAMPLE_RATE, subtype="PCM_16")
        parts[part].append(Recording(str(path), " ".join(words), u.call))
    return parts


def build_transcription_corpus(
    out: Path,
    fsdd: Path | None,
    noise: Path | None,
    sentences: int = 6000,
    digit_string_count: int = 1500,
    heldout_fraction: float = 0.1,
    voice_names: list[str] | None = None,
    seed: int = 0,
    workers: int = 2,
    speech_commands: Path | None = None,
    speech_commands_heldout: float = 0.25,
    calls: Path | None = None,
) -> dict[str, int]:
    """Writes train/ and heldout/ folders; whole voices and speakers are held out, never single files."""
    out = Path(out)
    voices = available_voices()
    if voice_names:
        voices = [v for v in voices if v.name in set(voice_names)]
        if not voices:
            raise ValueError(f"none of the voices {voice_names} is installed; see `rnnvoice data --list-voices`")
    held = heldout_speakers("tts", [v.name for v in voices], heldout_fraction)
    train_voices = [v for v in voices if v.name not in held] or voices
    heldout_voices = [v for v in voices if v.name in held]
    written = {}
    parts = {"train": synthesize_sentences(out / "train", train_voices, sentences, seed, workers)}
    if heldout_voices:
        parts["heldout/tts"] = synthesize_sentences(
            out / "heldout/tts", heldout_voices, max(1, sentences // 15), seed + 1, workers
        )
    if fsdd is not None:
        speakers = {c.speaker for c in scan_folder(fsdd)}
        held_speakers = heldout_speakers("fsdd", speakers, 0.25)
        parts["train"] += digit_strings(fsdd, out / "train", speakers - held_speakers, digit_string_count, seed)
        if held_speakers:
            parts["heldout/fsdd"] = digit_strings(
                fsdd, out / "heldout/fsdd", held_speakers, max(1, digit_string_count // 5), seed + 1
            )
    if speech_commands is not None:
        words = spoken_words(speech_commands, out, speech_commands_heldout)
        parts["train"] += words["train"]
        if words["heldout/speech_commands"]:
            parts["heldout/speech_commands"] = words["heldout/speech_commands"]
    if calls is not None:
        for part, recordings in call_sentences(calls, out).items():
            parts[part] = parts.get(part, []) + recordings
    for name, recordings in parts.items():
        write_transcripts(out / name, recordings)
        written[name] = len(recordings)
    if noise is not None:
        (out / "noise").mkdir(parents=True, exist_ok=True)
        for path in sorted(Path(noise).glob("*.wav")):
            shutil.copyfile(path, out / "noise" / path.name)
    return written
