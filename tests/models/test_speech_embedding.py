"""The speech embedding and its mel front end: converted from the pinned wheel into exactly the shipped file, equal
to the wheel's own TFLite runtime on a real recording, and the same whatever the chunking."""

import argparse

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnvoice.models.audio.embedding_mel import (
    EmbeddingMelConfig,
    StreamingEmbeddingMels,
    embedding_mel_frames,
    embedding_mels,
    floor_below_peak,
)
from rnnvoice.models.audio.features import FeatureConfig, FrontEndKind, frames_of
from rnnvoice.models.nets.speech_embedding import (
    DIM,
    EMBEDDING_FILE,
    STEP_FRAMES,
    WINDOW_FRAMES,
    SpeechEmbedding,
    embedding_windows,
)
from rnnvoice.models.streaming.embedding_front import embedding_features
from rnnvoice.models.streaming.frontend import FrontEnd, front_end_steps, whole_features
from rnnvoice.models.weights import WEIGHTS
from tests.conftest import FIXTURES
from tests.models import tflite_reference as reference

CONFIG = EmbeddingMelConfig()
# The reference floors every band at 80 dB (8 in the embedding's scale) below the loudest of what it is given.
TOP = CONFIG.top_db / 10


@pytest.fixture(scope="module")
def embedding() -> SpeechEmbedding:
    return SpeechEmbedding.load()


@pytest.fixture(scope="module")
def recording() -> np.ndarray:
    """A real recording, 16-bit at 16 kHz: 0.6 s of digital silence, a spoken digit, 0.6 s, a word, 0.6 s."""
    samples, rate = sf.read(FIXTURES / "spoken_seven_yes.wav", dtype="int16")
    assert rate == CONFIG.sample_rate
    return samples


def unfloored_mels(samples: np.ndarray) -> torch.Tensor:
    """(T,) 16-bit samples -> (N, 32): our per-frame log-mels, before any floor below a peak."""
    frames = torch.from_numpy(samples.astype(np.float32) / 32768).unfold(0, CONFIG.n_fft, CONFIG.hop_length)
    return embedding_mel_frames(frames, CONFIG)


def test_the_command_converts_the_pinned_wheel_into_the_shipped_file(tmp_path):
    from rnnvoice.clients.cli.commands import import_embedding

    assert import_embedding.run(argparse.Namespace(models=reference.MODELS, out=tmp_path)) == 0
    made, shipped = (torch.load(folder / EMBEDDING_FILE, weights_only=True) for folder in (tmp_path, WEIGHTS))
    assert made["metadata"] == shipped["metadata"]
    assert made["state_dict"].keys() == shipped["state_dict"].keys()
    for name, tensor in shipped["state_dict"].items():
        assert torch.equal(made["state_dict"][name], tensor), name
    assert shipped["metadata"]["source"]["license"] == "Apache-2.0"


def test_the_loader_refuses_a_file_that_is_not_the_converted_one(tmp_path):
    data = bytearray((WEIGHTS / EMBEDDING_FILE).read_bytes())
    data[len(data) // 2] ^= 1  # one bit of one weight
    (tmp_path / EMBEDDING_FILE).write_bytes(data)
    with pytest.raises(ValueError, match="SHA-256"):
        SpeechEmbedding.load(tmp_path / EMBEDDING_FILE)


def test_the_shipped_embedding_is_frozen_and_knows_its_front_end(embedding):
    assert not embedding.training
    assert not any(p.requires_grad for p in embedding.parameters())
    assert embedding.mel_config == CONFIG


def test_front_end_and_embedding_equal_the_reference_runtime_on_a_whole_recording(embedding, recording):
    """The wheel's TFLite mel and embedding models on the whole recording at once; ours with the reference's floor
    (80 dB below the whole input's loudest band) applied alike."""
    expected_mels = torch.from_numpy(reference.reference_mels(recording.astype(np.float32)))
    ours = unfloored_mels(recording)
    ours = torch.maximum(ours, ours.max() - TOP)
    assert ours.shape == expected_mels.shape == (344, 32)
    assert (ours - expected_mels).abs().max() < 1e-4
    windows = embedding_windows(expected_mels)
    expected = torch.from_numpy(reference.ReferenceEmbedding()(windows.numpy()))
    assert expected.shape == (34, DIM)
    assert (embedding(windows) - expected).abs().max() < 1e-4  # the network alone
    assert (embedding(embedding_windows(ours)) - expected).abs().max() < 1e-4  # front end and network


def test_front_end_and_embedding_equal_the_wheels_own_streaming_features(embedding, recording):
    """The wheel's streaming features class, fed 80 ms at a time after its 8 s of silence, floors each 80 ms
    (8 frames, on the grid of the embeddings) below its own loudest band: ours with that floor gives every
    embedding it yields."""
    expected = torch.from_numpy(reference.streamed_embeddings(recording))
    silence = np.zeros(8 * CONFIG.sample_rate, np.int16)
    mels = unfloored_mels(np.concatenate([silence, recording]))
    groups = mels[: len(mels) // STEP_FRAMES * STEP_FRAMES].reshape(-1, STEP_FRAMES, CONFIG.n_mels)
    floored = torch.maximum(groups, groups.amax(dim=(1, 2), keepdim=True) - TOP).reshape(-1, CONFIG.n_mels)
    ours = embedding(embedding_windows(floored))
    # It takes 8 frames at a time once 1760 samples are there (as far as the 8th frame reads): at the end, fewer.
    frames = ((len(silence) + len(recording) - 1760) // 1280 + 1) * STEP_FRAMES
    assert len(expected) == (frames - WINDOW_FRAMES) // STEP_FRAMES + 1 > 100
    assert (ours[: len(expected)] - expected).abs().max() < 1e-4


def test_the_floor_follows_the_loudest_band_and_releases():
    mels = torch.full((300, CONFIG.n_mels), CONFIG.silence)
    mels[100, 5] = 9.0  # one loud frame amid digital silence
    floored, peak = floor_below_peak(mels, CONFIG)
    assert torch.equal(floored[:100], mels[:100])  # nothing loud yet
    seconds_after = torch.arange(200) * CONFIG.hop_length / CONFIG.sample_rate
    floor = 9.0 - TOP - CONFIG.peak_release_db_s / 10 * seconds_after
    assert torch.allclose(floored[100:, 0], floor, atol=1e-5)
    assert float(peak) == pytest.approx(float(floor[-1] + TOP), abs=1e-5)


def test_a_batch_of_windows_embeds_as_each_alone(embedding):
    windows = torch.randn(64, WINDOW_FRAMES, 32) - 1
    together = embedding(windows)
    alone = torch.cat([embedding(w[None]) for w in windows[:8]])
    assert together.shape == (64, DIM)
    assert torch.allclose(together[:8], alone, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    plans=st.lists(
        st.lists(st.sampled_from([0, 1, 160, 479, 1280, 4000]), min_size=1, max_size=10), min_size=1, max_size=3
    ),
)
def test_streamed_mels_equal_the_whole_signals_whatever_the_chunking(seed, plans):
    """Streams cut anyhow, framed together (`frames_of`) and floored each with its own peak, give the frames of
    their whole signals; silence, then noise that grows louder and falls, moves every stream's peak."""
    rng = np.random.default_rng(seed)
    signals = []
    for plan in plans:
        envelope = np.interp(np.arange(sum(plan)), [0, sum(plan) / 2, sum(plan)], [0.0, 0.5, 0.001])
        signals.append(torch.from_numpy((rng.standard_normal(sum(plan)) * envelope).astype(np.float32)))
    streams = [StreamingEmbeddingMels(CONFIG) for _ in plans]
    got = [[] for _ in plans]
    starts = [0] * len(plans)
    for tick in range(max(map(len, plans))):
        blocks = []
        for s, plan in enumerate(plans):
            n = plan[tick] if tick < len(plan) else 0
            blocks.append(streams[s].buffer(signals[s][starts[s] : starts[s] + n]))
            starts[s] += n
        mels = embedding_mel_frames(frames_of(blocks, CONFIG), CONFIG)
        for s, part in enumerate(torch.split(mels, [n for _, n in blocks])):
            got[s].append(streams[s].add(part))
    for s, signal in enumerate(signals):
        whole = embedding_mels(signal, CONFIG)
        assert torch.cat(got[s]).shape == whole.shape
        assert torch.allclose(torch.cat(got[s]), whole, atol=1e-5)


def test_a_stream_fed_in_random_chunks_gives_its_whole_signals_mels(recording):
    signal = torch.from_numpy(recording.astype(np.float32) / 32768)
    rng = np.random.default_rng(0)
    stream, pieces, start = StreamingEmbeddingMels(CONFIG), [], 0
    while start < len(signal):
        n = int(rng.choice([1, 100, 160, 511, 1280, 3000]))
        pieces.append(stream.accept(signal[start : start + n]))
        start += n
    whole = embedding_mels(signal, CONFIG)
    assert whole.shape == ((len(signal) - CONFIG.n_fft) // CONFIG.hop_length + 1, CONFIG.n_mels)
    assert torch.allclose(torch.cat(pieces), whole, atol=1e-5)


def test_an_embedding_stream_gives_its_whole_signals_embeddings_whatever_the_chunking(recording):
    """The engine's front end with FeatureConfig(front_end=SPEECH_EMBEDDING): many streams cut at random and stepped
    together, as the scheduler steps them, give each whole signal's embeddings, one every 80 ms from the first."""
    config = FeatureConfig(front_end=FrontEndKind.SPEECH_EMBEDDING)
    rng = np.random.default_rng(7)
    signals = [torch.from_numpy(recording.astype(np.float32) / 32768) * gain for gain in (1.0, 0.1, 0.01)]
    fronts = [FrontEnd(config, CONFIG.sample_rate) for _ in signals]
    got = [[] for _ in signals]
    cuts = [np.sort(rng.choice(len(s), 12, replace=False)) for s in signals]
    for part in range(13):
        chunks = [np.split(s, c)[part] for s, c in zip(signals, cuts)]
        blocks = [front.buffer(chunk) for front, chunk in zip(fronts, chunks)]
        for out, new in zip(got, front_end_steps(config, [f.features for f in fronts], blocks)):
            out.append(new)
    references = [embedding_features(signal) for signal in signals]  # window by window
    for signal, out, whole in zip(signals, got, references):
        streamed = torch.cat(out)
        assert streamed.shape == whole.shape == (len(signal) // (STEP_FRAMES * CONFIG.hop_length), DIM)
        torch.testing.assert_close(streamed, whole, atol=1e-4, rtol=0)
    # Training's batched path: every signal a stream, stepped together.
    batched = whole_features(torch.stack(signals), config)
    torch.testing.assert_close(batched, torch.stack(references), atol=1e-4, rtol=0)
    assert config.dim == DIM and config.step_s == pytest.approx(0.08)
