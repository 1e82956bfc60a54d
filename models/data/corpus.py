"""Training and evaluation corpora: synthetic speech, Speech Commands and FSDD layouts, speaker splits.

A corpus is a folder with `manifest.jsonl` (one clip a line: path, label, word, speaker,
source, split) and the clips it names, plus `noise/` with background noise recordings.
"""

import hashlib
import json
import math
import multiprocessing
import random
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile
import torch
import torchaudio
from tqdm import tqdm

from rnnvoice.models.audio.speech_synthesis import Prosody, Voice, available_voices, synthesize
from rnnvoice.models.data.wordlists import UNKNOWN_PHRASES, UNKNOWN_WORDS
from rnnvoice.models.data.wuw import CallSplit, read_calls, talk_pieces
from rnnvoice.models.vocabulary import KEYWORDS, SILENCE, UNKNOWN, digit_word

MANIFEST = "manifest.jsonl"
FSDD_NAME = re.compile(r"^(\d)_([^_]+)_(\d+)\.wav$")
SAMPLE_RATE = 16000
# Source name of the telephone calls' talk (add_calls).
TALK_SOURCE = "wuw"
# The share of each source's speakers a corpus holds out of training.
HELDOUT_FRACTION = 0.25


@dataclass(frozen=True)
class Clip:
    path: str  # relative to the corpus folder, or absolute for clips read in place
    label: str  # a keyword, _silence_ or _unknown_
    word: str  # what was said ("" for silence)
    speaker: str
    source: str  # tts, speech_commands, fsdd
    split: str = "train"  # train or heldout; a training run marks some real training speakers dev (split_dev)


def label_of(word: str) -> str:
    if word in KEYWORDS:
        return word
    return SILENCE if word in ("", SILENCE) else UNKNOWN


def scan_folder(root: Path) -> list[Clip]:
    """Reads a folder in Speech Commands layout (a subfolder per label) or FSDD naming."""
    root = Path(root)
    wavs = sorted(root.rglob("*.wav"))
    if wavs and all(FSDD_NAME.match(p.name) for p in wavs):
        return [_fsdd_clip(p) for p in wavs]
    clips = []
    for path in wavs:
        folder = path.parent.name
        if folder == "_background_noise_":
            continue
        name = path.stem
        if folder == SILENCE:
            clips.append(Clip(str(path), SILENCE, "", f"silence-{name}", "speech_commands"))
            continue
        # Speech Commands: {speaker}_nohash_{n}; its _unknown_ test folder prefixes the word.
        word, _, rest = name.partition("_") if folder == UNKNOWN else (folder, "", name)
        speaker = rest.split("_nohash_")[0]
        clips.append(Clip(str(path), label_of(word), word, speaker, "speech_commands"))
    if not clips:
        raise ValueError(f"{root} holds no clips in Speech Commands layout or FSDD naming")
    return clips


def _fsdd_clip(path: Path) -> Clip:
    digit, speaker, _ = FSDD_NAME.match(path.name).groups()
    word = digit_word(digit)
    return Clip(str(path), word, word, speaker, "fsdd")


def ranked_speakers(source: str, speakers) -> list[str]:
    """Speakers in an order fixed by a hash of their name: the same every time."""
    return sorted(set(speakers), key=lambda s: hashlib.sha1(f"{source}/{s}".encode()).hexdigest())


def heldout_speakers(source: str, speakers, fraction: float) -> set[str]:
    """Whole speakers held out of training, chosen by a hash of their name."""
    ranked = ranked_speakers(source, speakers)
    return set(ranked[: math.ceil(fraction * len(ranked))]) if fraction > 0 else set()


def split_by_speaker(clips: list[Clip], heldout_fraction: float) -> list[Clip]:
    """Marks the clips of held-out speakers, never single files, as `heldout`."""
    heldout = {
        (source, s)
        for source in {c.source for c in clips}
        for s in heldout_speakers(source, [c.speaker for c in clips if c.source == source], heldout_fraction)
    }
    return [Clip(**{**asdict(c), "split": "heldout" if (c.source, c.speaker) in heldout else "train"}) for c in clips]


def split_dev(clips: list[Clip], fraction: float) -> list[Clip]:
    """Marks a share of the real training speakers (whole speakers, by hash, rounded down) as `dev`: a
    source of three speakers (FSDD) keeps them all for training."""
    dev = set()
    for source in {c.source for c in clips if c.source != "tts"}:
        speakers = sorted(
            {c.speaker for c in clips if c.source == source and c.split == "train" and c.label != SILENCE}
        )
        dev |= {(source, s) for s in ranked_speakers(f"dev/{source}", speakers)[: math.floor(fraction * len(speakers))]}
    return [Clip(**{**asdict(c), "split": "dev"}) if (c.source, c.speaker) in dev else c for c in clips]


def keep_speakers(clips: list[Clip], fraction: float, seed: int) -> list[Clip]:
    """The clips with only a share of each real source's training speakers (whole speakers, at least one): the
    synthetic voices, the background noise and the other splits stay whole. The shares are nested: a smaller one of
    the same seed keeps a subset of a larger one's speakers, so a learning curve only adds speakers."""
    if fraction >= 1.0:
        return clips
    kept = set()
    for source in {c.source for c in clips if c.source != "tts"}:
        speakers = {c.speaker for c in clips if c.source == source and c.split == "train" and c.label != SILENCE}
        ranked = ranked_speakers(f"share{seed}/{source}", speakers)
        kept |= {(source, s) for s in ranked[: max(1, round(fraction * len(ranked)))]}
    return [
        c
        for c in clips
        if c.source == "tts" or c.label == SILENCE or c.split != "train" or (c.source, c.speaker) in kept
    ]


def read_manifest(corpus: Path) -> list[Clip]:
    corpus = Path(corpus)
    clips = []
    for line in (corpus / MANIFEST).read_text().splitlines():
        clip = Clip(**json.loads(line))
        path = Path(clip.path)
        clips.append(Clip(**{**asdict(clip), "path": str(path if path.is_absolute() else corpus / path)}))
    return clips


def write_manifest(corpus: Path, clips: list[Clip]) -> None:
    with open(Path(corpus) / MANIFEST, "w") as f:
        for clip in clips:
            f.write(json.dumps(asdict(clip)) + "\n")


def load_clip(path: str | Path, rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Reads any WAV with soundfile as mono float at `rate`."""
    audio, sr = soundfile.read(path, dtype="float32", always_2d=True)
    wave = torch.from_numpy(audio.mean(axis=1))
    return torchaudio.functional.resample(wave, sr, rate) if sr != rate else wave


@dataclass(frozen=True)
class Utterance:
    voice: Voice
    text: str
    prosody: Prosody
    path: str


def _speak(item: Utterance) -> None:
    audio, rate = synthesize(item.voice, item.text, item.prosody)
    wave = torchaudio.functional.resample(torch.from_numpy(audio), rate, SAMPLE_RATE)
    soundfile.write(item.path, wave.clamp(-1, 1).numpy(), SAMPLE_RATE, subtype="PCM_16")


def _speak_all(items: list[Utterance], workers: int = 2) -> None:
    # Spawned, not forked: a forked child of a process with gRPC threads can hang.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(tqdm(pool.map(_speak, items, chunksize=16), total=len(items), desc="synthesising", unit="clip"))


def synthesize_corpus(
    out: Path, keyword_takes: int, unknown_takes: int, phrase_takes: int, seed: int = 0, workers: int = 2
) -> list[Clip]:
    """Speaks every keyword, non-keyword word and phrase in voices drawn at random."""
    rng = random.Random(seed)
    voices = available_voices()
    if not voices:
        raise RuntimeError("no text-to-speech engine found: install espeak-ng, flite or festival")
    plan = [(w, keyword_takes) for w in KEYWORDS] + [(w, unknown_takes) for w in UNKNOWN_WORDS]
    plan += [(p, phrase_takes) for p in UNKNOWN_PHRASES]
    items, clips = [], []
    for text, takes in plan:
        for take in range(takes):
            voice = rng.choice(voices)
            slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]
            rel = Path("tts") / label_of(text) / f"{slug}_{voice.name}_{take}.wav"
            items.append(Utterance(voice, text, Prosody.sample(rng), str(out / rel)))
            clips.append(Clip(str(rel), label_of(text), text, voice.name, "tts"))
    for label in {c.label for c in clips}:
        (out / "tts" / label).mkdir(parents=True, exist_ok=True)
    _speak_all(items, workers)
    return clips


def copy_clips(clips: list[Clip], out: Path, name: str) -> list[Clip]:
    """Copies clips read in place into the corpus, so it stands on its own."""
    copied = []
    for clip in tqdm(clips, desc=f"copying {name}", unit="clip"):
        rel = Path(name) / Path(clip.path).parent.name / Path(clip.path).name
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip.path, out / rel)
        copied.append(Clip(**{**asdict(clip), "path": str(rel)}))
    return copied


def add_calls(out: Path, folder: Path) -> list[Clip]:
    """The talk of WUW Corpus II's training calls (models/data/wuw.py) as other speech, written into the corpus as
    WAV pieces, one speaker a call; its development and test calls stay out."""
    clips = []
    for u in tqdm(read_calls(folder, CallSplit.TRAIN), desc="cutting calls", unit="utterance"):
        for i, piece in enumerate(talk_pieces(u, SAMPLE_RATE, KEYWORDS)):
            rel = Path(TALK_SOURCE) / u.call / f"{u.path.stem}_{i}.wav"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(out / rel, piece.numpy(), SAMPLE_RATE)
            clips.append(Clip(str(rel), UNKNOWN, " ".join(u.words), f"call{u.call}", TALK_SOURCE))
    return clips


def build_corpus(
    out: Path,
    real: dict[str, Path],
    noise: Path | None,
    keyword_takes: int = 150,
    unknown_takes: int = 12,
    phrase_takes: int = 12,
    heldout_fraction: float = HELDOUT_FRACTION,
    seed: int = 0,
    workers: int = 2,
    calls: Path | None = None,
) -> list[Clip]:
    """Writes a corpus: synthetic speech plus the real recordings in `real` (name -> folder), and the training
    calls' talk of WUW Corpus II in `calls`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clips = synthesize_corpus(out, keyword_takes, unknown_takes, phrase_takes, seed, workers)
    for name, folder in real.items():
        clips += copy_clips(scan_folder(folder), out, name)
    if noise is not None:
        (out / "noise").mkdir(exist_ok=True)
        for path in sorted(Path(noise).glob("*.wav")):
            shutil.copyfile(path, out / "noise" / path.name)
    clips = split_by_speaker(clips, heldout_fraction)
    if calls is not None:  # split by call already
        clips += add_calls(out, calls)
    write_manifest(out, clips)
    return clips
