"""Other speech as the speech embedding sees it: the statistics that phrases chosen at run time are told apart from
(`phrase_spotter.SpeechBackground`), measured over real clips of training speakers and text-to-speech voices saying
everyday words and sentences, each full band and through a telephone's band."""

import random

import torch
import torchaudio
from tqdm import tqdm

from rnnvoice.models.audio.speech_synthesis import Prosody, available_voices, synthesize
from rnnvoice.models.data.corpus import SAMPLE_RATE, Clip, load_clip
from rnnvoice.models.data.wordlists import UNKNOWN_PHRASES, UNKNOWN_WORDS
from rnnvoice.models.streaming.embedding_front import embedding_features
from rnnvoice.models.streaming.phrase_spotter import SpeechBackground

# Steps of a signal's start whose window still reads mostly the silent history: not speech.
SKIP_STEPS = 8


def _steps(wave: torch.Tensor, telephone: bool) -> torch.Tensor:
    """(T,) at 16 kHz -> the embeddings (S, E) of it and half a second of silence after, past SKIP_STEPS."""
    if telephone:
        wave = torchaudio.functional.resample(
            torchaudio.functional.resample(wave, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE
        )
    return embedding_features(torch.cat([wave, torch.zeros(SAMPLE_RATE // 2)]))[SKIP_STEPS:]


def measure_background(clips: list[Clip], voices_per_text: int = 3, seed: int = 0) -> SpeechBackground:
    """Every clip (every other one through a telephone's band), and each everyday word and sentence in
    `voices_per_text` voices at random levels and prosody."""
    rng = random.Random(seed)
    voices = available_voices()
    texts = [*UNKNOWN_WORDS, *UNKNOWN_PHRASES]
    vectors = [_steps(load_clip(c.path), i % 2 == 1) for i, c in enumerate(tqdm(clips, desc="real clips"))]
    for text in tqdm(texts, desc="synthetic speech"):
        for voice in rng.sample(voices, min(voices_per_text, len(voices))):
            audio, rate = synthesize(voice, text, Prosody.sample(rng))
            wave = torchaudio.functional.resample(torch.from_numpy(audio), rate, SAMPLE_RATE)
            wave = wave / (wave.abs().max() + 1e-6) * rng.uniform(0.05, 0.5)
            vectors.append(_steps(torch.cat([torch.zeros(SAMPLE_RATE // 4), wave]), rng.random() < 0.5))
    metadata = {
        "real_clips": len(clips),
        "real_speakers": len({(c.source, c.speaker) for c in clips}),
        "real_sources": sorted({c.source for c in clips}),
        "synthetic_texts": len(texts),
        "voices_per_text": voices_per_text,
        "seed": seed,
    }
    return SpeechBackground.measure(torch.cat(vectors), metadata)
