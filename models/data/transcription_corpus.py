"""Speech-recognition corpora: folders of recordings with a `transcripts.tsv` (file<TAB>text).

A recording's speaker is the folder it sits in (`{speaker}/{n}.wav`). `build_transcription_corpus`
writes `train/`, `heldout/tts/` (voices never trained on), `heldout/fsdd/` (real digit
strings by FSDD speakers never trained on), `heldout/speech_commands/` (real words by Speech Commands speakers
never trained on: the keyword corpus's held-out speakers) and `heldout/speech_commands_digits/` (their digits
strung together), `heldout/wuw_dev/` and
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

from rnnvoice.models.audio.speech_synthesis import Prosody, Voice, available_voices, is_synthetic
from rnnvoice.models.data.corpus import (
    SAMPLE_RATE,
    Clip,
    Utterance,
    _speak_all,
    heldout_speakers,
    load_clip,
    ranked_speakers,
    scan_folder,
    split_by_speaker,
)
from rnnvoice.models.data.sentences import generate_command
from rnnvoice.models.data.wuw import MIN_PIECE_S, WUW_RATE, CallSplit, load_call, read_calls
from rnnvoice.models.data.wuw import UNTRAINED_WORDS as CALL_UNTRAINED_WORDS
from rnnvoice.models.vocabulary import DIGITS, SILENCE, UNTRAINED_WORDS

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


def keep_real_speakers(recordings: list[Recording], fraction: float, seed: int) -> list[Recording]:
    """The recordings with only a share of the real speakers (whole speakers, at least one), the synthetic voices
    whole: the recognisers' learning curve. As `keep_speakers` does for the keyword corpus, the shares of one seed
    are nested; the real speakers are ranked as one pool, since a transcript does not say which corpus it is from."""
    if fraction >= 1.0:
        return recordings
    ranked = ranked_speakers(f"share{seed}/real", {r.speaker for r in recordings if not is_synthetic(r.speaker)})
    kept = set(ranked[: max(1, round(fraction * len(ranked)))])
    return [r for r in recordings if is_synthetic(r.speaker) or r.speaker in kept]


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


def digit_strings(clips: list[Clip], folder: Path, count: int, seed: int) -> list[Recording]:
    """Real digits of one speaker joined into strings of 3 to 7 digits, as a phone number is read out, from the
    speakers of `clips` who said three digits or more. Speech Commands' one-second clips are cut to their speech
    first (FSDD's are cut already)."""
    rng = random.Random(seed)
    takes = defaultdict(list)
    for clip in clips:
        if clip.word in DIGITS:
            takes[clip.speaker, clip.word].append(clip)
    said = defaultdict(list)
    for speaker, word in sorted(takes):
        said[speaker].append(word)
    speakers = sorted(s for s, words in said.items() if len(words) >= 3)
    recordings = []
    for i in range(count if speakers else 0):
        speaker = rng.choice(speakers)
        words = [rng.choice(said[speaker]) for _ in range(rng.randint(3, 7))]
        parts = []
        for word in words:
            clip = rng.choice(takes[speaker, word])
            wave = load_clip(clip.path)
            parts += [
                wave if clip.source == "fsdd" else speech_only(wave),
                torch.zeros(int(rng.uniform(0.05, 0.25) * SAMPLE_RATE)),
            ]
        path = Path(folder) / speaker / f"{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, torch.cat(parts).clamp(-1, 1).numpy(), SAMPLE_RATE, subtype="PCM_16")
        recordings.append(Recording(str(path), " ".join(words), speaker))
    return recordings


# A clip's speech: its 20 ms frames within 25 dB of its loudest, and 50 ms either side. (torchaudio's `vad`, with
# its defaults, cut most Speech Commands digits to nothing.)
FRAME, WITHIN_DB, MARGIN = SAMPLE_RATE // 50, 25.0, SAMPLE_RATE // 20


def speech_only(wave: torch.Tensor) -> torch.Tensor:
    """A clip without the silence before and after its word."""
    if len(wave) < FRAME:
        return wave
    rms = wave[: len(wave) // FRAME * FRAME].reshape(-1, FRAME).pow(2).mean(1).sqrt()
    loud = (rms >= rms.max() * 10 ** (-WITHIN_DB / 20)).nonzero().flatten()
    return wave[max(0, int(loud[0]) * FRAME - MARGIN) : (int(loud[-1]) + 1) * FRAME + MARGIN]


def speech_commands_parts(
    folders: list[Path], out: Path, heldout_fraction: float, digit_string_count: int, seed: int
) -> dict[str, list[Recording]]:
    """Real Speech Commands words, each its own transcript, into `train/` and `heldout/speech_commands/`, and their
    speakers' digits strung together into `train/` and `heldout/speech_commands_digits/`.

    Every folder's speakers are split together, exactly as the keyword corpus splits them, so that no model of
    either task has heard the speakers the reports are about; `UNTRAINED_WORDS` stay out of training altogether."""
    clips = split_by_speaker([c for folder in folders for c in scan_folder(folder)], heldout_fraction)
    parts: dict[str, list[Recording]] = {"train": [], "heldout/speech_commands": []}
    for clip in clips:
        part = "train" if clip.split == "train" else "heldout/speech_commands"
        if clip.label == SILENCE or (part == "train" and clip.word in UNTRAINED_WORDS):
            continue
        path = Path(out) / part / clip.speaker / f"{clip.word}_{Path(clip.path).name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip.path, path)
        parts[part].append(Recording(str(path), clip.word, clip.speaker))
    # More real voices saying numbers than FSDD's three, and held-out ones to hear them.
    strings = max(1, digit_string_count // 2)
    parts["train"] += digit_strings([c for c in clips if c.split == "train"], out / "train", strings, seed + 2)
    parts["heldout/speech_commands_digits"] = digit_strings(
        [c for c in clips if c.split != "train"], out / "heldout/speech_commands_digits", max(1, strings // 5), seed + 3
    )
    return {part: recordings for part, recordings in parts.items() if recordings or part == "train"}


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
    speech_commands: list[Path] = (),
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
        takes = scan_folder(fsdd)
        held_speakers = heldout_speakers("fsdd", {c.speaker for c in takes}, 0.25)
        trained = [c for c in takes if c.speaker not in held_speakers]
        parts["train"] += digit_strings(trained, out / "train", digit_string_count, seed)
        if held_takes := [c for c in takes if c.speaker in held_speakers]:
            parts["heldout/fsdd"] = digit_strings(
                held_takes, out / "heldout/fsdd", max(1, digit_string_count // 5), seed + 1
            )
    if speech_commands:
        sc = speech_commands_parts(speech_commands, out, speech_commands_heldout, digit_string_count, seed)
        for part, recordings in sc.items():
            parts[part] = parts.get(part, []) + recordings
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
