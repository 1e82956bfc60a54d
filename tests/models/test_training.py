"""`rnnvoice data` and `rnnvoice train` end to end on tiny corpora: real TTS, real clips, real checkpoints."""

import dataclasses
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from rnnvoice.clients.cli import main
from rnnvoice.models.data.augment import NoiseBank
from rnnvoice.models.data.corpus import read_manifest, scan_folder
from rnnvoice.models.data.mixing import KeywordMixer
from rnnvoice.models.data.transcription_corpus import read_transcripts
from rnnvoice.models.nets.checkpoint import load_model
from rnnvoice.models.training.train import TrainConfig, train
from tests.conftest import FIXTURES, fixture_clip


def test_folders_are_read_in_both_layouts(real_folders):
    sc = scan_folder(real_folders / "sc")
    assert Counter(c.label for c in sc) == {"yes": 1, "stop": 1, "left": 1, "go": 1}
    assert {c.speaker for c in sc} == {"b83c1acf"}
    fsdd = scan_folder(real_folders / "fsdd")
    assert {c.label for c in fsdd} == {"seven", "three", "five", "nine", "one"}
    assert {c.speaker for c in fsdd} == {"lucas", "george"}


@pytest.mark.slow
def test_keyword_corpus_and_training(keyword_corpus, tmp_path):
    corpus = keyword_corpus
    clips = read_manifest(corpus)
    assert Counter(c.source for c in clips) == {"tts": 42, "speech_commands": 4, "fsdd": 10}
    # Whole speakers are held out, never single files.
    for source in ("tts", "fsdd"):
        splits = {}
        for c in clips:
            if c.source == source:
                splits.setdefault(c.speaker, set()).add(c.split)
        assert all(len(s) == 1 for s in splits.values()) and {"train", "heldout"} <= set().union(*splits.values())
    out = tmp_path / "kws_lstm.pt"
    assert (
        main(
            [
                "train",
                "--corpus",
                str(corpus),
                "--out",
                str(out),
                "--cell",
                "lstm",
                "--steps",
                "3",
                "--batch-size",
                "2",
                "--seconds",
                "3",
                "--eval-every",
                "2",
            ]
        )
        == 0
    )
    model = load_model(out)
    assert model.config.task == "keywords" and model.config.cell == "lstm"
    history = json.loads(out.with_suffix(".history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 3] and "dev_accuracy" in history[1]
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
def test_training_resumes_where_it_stopped(keyword_corpus, tmp_path, monkeypatch):
    """A run stopped after its checkpoint goes on from it to the very weights of a run never stopped."""
    config = TrainConfig(
        corpus=str(keyword_corpus),
        out=str(tmp_path / "stopped.pt"),
        cell="gru",
        steps=4,
        batch_size=2,
        seconds=2.0,
        eval_every=2,
        hidden_size=16,
        num_layers=1,
    )
    whole = load_model(train(dataclasses.replace(config, out=str(tmp_path / "whole.pt"))))
    draw, batches = KeywordMixer.batch, []

    def stop_at_third_step(mixer, size, augment=True):
        batches.append(augment)
        if sum(batches) == 3:
            raise KeyboardInterrupt
        return draw(mixer, size, augment)

    monkeypatch.setattr(KeywordMixer, "batch", stop_at_third_step)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    monkeypatch.undo()
    assert (tmp_path / "stopped.resume.pt").exists()
    resumed = load_model(train(config))
    assert [h["step"] for h in resumed.metadata["history"]] == [1, 2, 3, 4]
    assert json.loads((tmp_path / "stopped.history.json").read_text())[1]["step"] == 2
    assert not (tmp_path / "stopped.resume.pt").exists()
    for name, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


@pytest.mark.slow
def test_embedding_heads_train_on_a_stream_cache_built_once(keyword_corpus, tmp_path, monkeypatch):
    """`--front-end speech_embedding` trains a head over the embedding; its streams are mixed and embedded once into
    the named cache, which a run of another cell reuses and a run of other data settings refuses."""
    from rnnvoice.models.audio.features import EMBEDDING_DIM, FrontEndKind
    from rnnvoice.models.training import stream_cache

    cache = tmp_path / "streams.pt"
    args = ["train", "--corpus", str(keyword_corpus), "--front-end", "speech_embedding"]
    args += ["--stream-cache", str(cache), "--cached-streams", "5", "--steps", "2", "--batch-size", "3"]
    args += ["--seconds", "2", "--eval-every", "2", "--hidden-size", "16", "--num-layers", "1"]
    assert main([*args, "--cell", "gru", "--out", str(tmp_path / "gru.pt")]) == 0
    gru = load_model(tmp_path / "gru.pt")
    assert gru.config.features.front_end == FrontEndKind.SPEECH_EMBEDDING and gru.config.cell == "gru"
    assert all(torch.isfinite(p).all() for p in gru.parameters())
    saved = torch.load(cache, weights_only=True)
    x, events = saved["features"], saved["events"]
    assert x.shape[0] == len(events) == 5 and x.shape[-1] == EMBEDDING_DIM and x.dtype == torch.float16
    assert all(0 <= onset < offset for stream in events for onset, offset, _ in stream)

    def never(*_):
        raise AssertionError("the cache was built again")

    monkeypatch.setattr(stream_cache, "build_stream_cache", never)
    assert main([*args, "--cell", "lstm", "--out", str(tmp_path / "lstm.pt")]) == 0
    assert load_model(tmp_path / "lstm.pt").config.cell == "lstm"
    # Targets are made when a batch is drawn: a run with pooled scores shares the streams.
    assert main([*args, "--cell", "gru", "--out", str(tmp_path / "pooled.pt"), "--pool-s", "1.0"]) == 0
    assert load_model(tmp_path / "pooled.pt").config.pool_s == 1.0
    with pytest.raises(SystemExit, match="other settings"):
        main([*args, "--cell", "gru", "--out", str(tmp_path / "other.pt"), "--real-share", "0.9"])


def test_a_stream_cache_draws_whole_streams_with_their_own_targets():
    from rnnvoice.models.training.stream_cache import StreamCache

    x = torch.arange(4 * 3 * 2, dtype=torch.float16).reshape(4, 3, 2)
    events = [[(i, i + 1, f"word{i}")] for i in range(4)]

    def targets(drawn, steps):  # the stream each row came from, at every step
        return (torch.tensor([[e[0][0]] * steps for e in drawn]),)

    streams = StreamCache(x, events, targets, seed=1)
    bx, bc = streams.batch(6)
    assert bx.dtype == torch.float32 and bx.shape == (6, 3, 2) and bc.shape == (6, 3)
    for row_x, row_c in zip(bx, bc):  # each drawn stream's features with its own targets
        assert torch.equal(row_x, x[int(row_c[0])].float())
    assert torch.equal(StreamCache(x, events, targets, seed=1).batch(6)[1], bc)


def test_a_checkpoint_resumes_only_a_run_of_its_settings():
    from rnnvoice.models.training.train import _same_run

    config = TrainConfig(corpus="c", out="o.pt")
    saved = dataclasses.asdict(config)
    assert _same_run(saved, config)
    assert _same_run({k: v for k, v in saved.items() if k != "real_fraction"}, config)  # added since: its default
    assert not _same_run(
        {k: v for k, v in saved.items() if k != "real_fraction"}, dataclasses.replace(config, real_fraction=0.5)
    )
    assert not _same_run({**saved, "word_pooling": False}, config)  # a setting that no longer exists
    assert not _same_run({**saved, "steps": 10}, config)


@pytest.mark.slow
def test_transcription_corpus_and_training(real_folders, tmp_path):
    corpus = tmp_path / "asr"
    assert (
        main(
            [
                "data",
                "--task",
                "transcription",
                "--out",
                str(corpus),
                "--fsdd",
                str(real_folders / "fsdd"),
                "--noise",
                str(real_folders / "noise"),
                "--sentences",
                "6",
                "--digit-strings",
                "4",
                "--speech-commands",
                str(real_folders / "sc"),
                "--heldout-fraction",
                "0",
                "--voices",
                "flite-slt,flite-awb,espeak-en-us-m1",
            ]
        )
        == 0
    )
    train = read_transcripts(corpus / "train")
    assert len(train) == 6 + 4 + 4  # sentences, digit strings, the four Speech Commands words
    assert {r.text for r in train if r.speaker == "b83c1acf"} == {"yes", "stop", "left", "go"}
    assert {r.speaker for r in read_transcripts(corpus / "heldout/tts")} == {"flite-awb"}
    assert {r.speaker for r in read_transcripts(corpus / "heldout/fsdd")} <= {"lucas", "george"}
    digits = [r for r in train if r.speaker in ("lucas", "george")]
    assert digits and all(3 <= len(r.text.split()) <= 7 for r in digits)
    out = tmp_path / "asr_gru.pt"
    assert (
        main(
            [
                "train",
                "--task",
                "transcription",
                "--corpus",
                str(corpus),
                "--out",
                str(out),
                "--cell",
                "gru",
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--seconds",
                "4",
                "--hidden-size",
                "32",
                "--num-layers",
                "1",
                "--eval-every",
                "2",
            ]
        )
        == 0
    )
    model = load_model(out)
    assert model.config.task == "transcription" and model.config.hidden_size == 32
    assert (
        "heldout_wer" in model.metadata["history"][-1]
        or "heldout_wer" in json.loads(out.with_suffix(".history.json").read_text())[-1]
    )


@pytest.mark.slow
def test_a_recogniser_on_the_speech_embedding_trains_on_cached_streams_with_two_frames_a_step(real_folders, tmp_path):
    """`--front-end speech_embedding --tokens-per-step 2`: utterance streams embedded once into the cache, a head
    that gives two CTC frames for every 80 ms step, and a checkpoint that streams as it was trained."""
    from rnnvoice.models.audio.features import FrontEndKind
    from rnnvoice.models.nets.speech_recognizer import TOKENS
    from rnnvoice.models.streaming.frontend import whole_features

    corpus = tmp_path / "asr"
    args = ["data", "--task", "transcription", "--out", str(corpus), "--fsdd", str(real_folders / "fsdd")]
    args += ["--noise", str(real_folders / "noise"), "--sentences", "3", "--digit-strings", "3"]
    assert main([*args, "--heldout-fraction", "0", "--voices", "flite-slt,flite-awb"]) == 0
    out, cache = tmp_path / "asr_gru.pt", tmp_path / "streams.pt"
    args = ["train", "--task", "transcription", "--corpus", str(corpus), "--out", str(out), "--cell", "gru"]
    args += ["--front-end", "speech_embedding", "--tokens-per-step", "2", "--stream-cache", str(cache)]
    args += ["--cached-streams", "4", "--steps", "2", "--batch-size", "2", "--seconds", "4", "--eval-every", "2"]
    assert main([*args, "--hidden-size", "16", "--num-layers", "1"]) == 0
    model = load_model(out)
    assert model.config.features.front_end == FrontEndKind.SPEECH_EMBEDDING and model.config.tokens_per_step == 2
    # 4 s of streams: 49 whole 80 ms steps (a step is complete once its last 25 ms window is).
    assert torch.load(cache, weights_only=True)["features"].shape[:2] == (4, 49)
    x = whole_features(torch.from_numpy(fixture_clip("five_lucas.wav", 16000)), model.config.features)[None]
    outputs, _ = model.encode(x)
    log_probs, _ = model(x)
    assert log_probs.shape == (1, 2 * x.shape[1], len(TOKENS))
    # A step's two frames in order, each a distribution over the tokens.
    torch.testing.assert_close(log_probs[0, 1], torch.log_softmax(outputs[0, 0, len(TOKENS) :], -1))
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(1, 2 * x.shape[1]))


def test_transcription_corpus_holds_out_the_keyword_corpus_speakers(tmp_path):
    """Real words of every Speech Commands folder join the recogniser's corpus with the keyword corpus's split (all
    folders' speakers together): the same speakers held out, the words kept for run-time phrases never in training,
    and each speaker's digits strung together on the side of the split the speaker is on."""
    from rnnvoice.models.data.corpus import split_by_speaker
    from rnnvoice.models.data.transcription_corpus import speech_commands_parts
    from rnnvoice.models.vocabulary import DIGITS, UNTRAINED_WORDS

    folders = [tmp_path / "sc", tmp_path / "sc_v1"]
    speakers = [f"{i:08x}" for i in range(8)]
    # Digits as Speech Commands keeps them: a word inside half a second of silence either side.
    digits = {w: soundfile.read(FIXTURES / f"{w}_lucas.wav", dtype="float32")[0] for w in ("one", "three", "five")}
    for i, speaker in enumerate(speakers):
        sc = folders[i % 2]
        for word, wave in digits.items():
            (sc / word).mkdir(parents=True, exist_ok=True)
            padded = np.concatenate([np.zeros(8000, "float32"), wave, np.zeros(8000, "float32")])
            soundfile.write(sc / word / f"{speaker}_nohash_0.wav", padded, 16000)
        (sc / "yes").mkdir(exist_ok=True)
        shutil.copy(FIXTURES / "yes_sc.wav", sc / "yes" / f"{speaker}_nohash_0.wav")
        (sc / "_unknown_").mkdir(exist_ok=True)
        shutil.copy(FIXTURES / "up_sc.wav", sc / "_unknown_" / f"{UNTRAINED_WORDS[0]}_{speaker}_nohash_0.wav")
    parts = speech_commands_parts(folders, tmp_path / "asr", 0.5, digit_string_count=40, seed=0)
    clips = [c for folder in folders for c in scan_folder(folder)]
    held = {c.speaker for c in split_by_speaker(clips, 0.5) if c.split == "heldout"}
    assert 0 < len(held) < len(speakers)
    words = [r for r in parts["train"] if " " not in r.text]
    assert {r.speaker for r in parts["heldout/speech_commands"]} == held
    assert {r.speaker for r in words} == set(speakers) - held
    assert {r.text for r in words} == {"yes", "one", "three", "five"}
    assert UNTRAINED_WORDS[0] in {r.text for r in parts["heldout/speech_commands"]}
    strings = {"train": [r for r in parts["train"] if " " in r.text], "held": parts["heldout/speech_commands_digits"]}
    assert len(strings["train"]) == 20 and len(strings["held"]) == 4
    assert {r.speaker for r in strings["train"]} <= set(speakers) - held and {
        r.speaker for r in strings["held"]
    } <= held
    for r in strings["train"] + strings["held"]:
        said = r.text.split()
        assert 3 <= len(said) <= 7 and set(said) <= set(DIGITS)
        # Cut to their speech: each digit's second of clip shrinks to its word.
        assert soundfile.info(r.path).duration < len(said) * (1.0 + 0.25)
    assert all(Path(r.path).is_file() for part in parts.values() for r in part)


def test_pooled_targets_say_what_the_window_holds():
    """With pooled scores, a step's target is what the last pool_s seconds held: a keyword while the window holds
    all of it, other speech once a word has ended, nothing while a word is half heard or two keywords share it."""
    from rnnvoice.models.audio.features import FeatureConfig
    from rnnvoice.models.data.mixing import IGNORE, MixConfig
    from rnnvoice.models.vocabulary import LABELS

    features = FeatureConfig()
    mixer = KeywordMixer([], NoiseBank([FIXTURES / "noise_dishes.wav"]), features, MixConfig(pool_s=0.8))
    second = 16000
    yes, no, other = (
        (int(0.5 * second), int(1.0 * second), "yes"),
        (int(2.9 * second), int(3.3 * second), "no"),
        (int(1.6 * second), int(2.0 * second), "_unknown_"),
    )
    steps = round(4.5 * features.step_rate)
    classes, speech = mixer.targets([yes, other, no], steps)
    t = (torch.arange(steps) * features.step_samples + 400) / second  # step centres, seconds

    def at(time_s):
        """The target of the step nearest this time: a label, or None for no target."""
        target = int(classes[int(torch.argmin((t - time_s).abs()))])
        return None if target == IGNORE else LABELS[target]

    assert at(0.2) == "_silence_" and at(0.7) is None  # before the word; half heard
    assert at(1.0) == at(1.25) == "yes"  # heard, and still whole in the window (onset 0.5 s, window 0.8 s)
    assert at(1.5) is None  # the window has lost the word's start: its tail alone says nothing
    assert at(2.1) == "_unknown_" and at(2.7) == "_unknown_" and at(1.8) is None
    assert at(3.3) == "no" and at(3.95) is None and at(4.3) == "_silence_"
    assert speech[int(torch.argmin((t - 0.75).abs()))] == 1.0 and speech[int(torch.argmin((t - 1.3).abs()))] == 0.0
    # Two keywords in one window: no target.
    classes, _ = mixer.targets([yes, (int(1.1 * second), int(1.4 * second), "no")], steps)
    assert classes[int(torch.argmin((t - 1.37).abs()))] == IGNORE


def test_pooled_logits_are_each_classes_best_in_the_window():
    from rnnvoice.models.nets.keyword_spotter import pooled_logits

    torch.manual_seed(0)
    logits = torch.randn(2, 9, 4)
    pooled = pooled_logits(torch.cat([torch.full((2, 2, 4), -torch.inf), logits], dim=1), 3)
    assert pooled.shape == logits.shape
    for s in range(9):
        torch.testing.assert_close(pooled[:, s], logits[:, max(0, s - 2) : s + 1].amax(1))


@pytest.mark.slow
def test_keyword_training_on_pooled_scores(keyword_corpus, tmp_path):
    out = tmp_path / "kws_pooled.pt"
    assert (
        main(
            [
                "train",
                "--corpus",
                str(keyword_corpus),
                "--out",
                str(out),
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--seconds",
                "3",
                "--eval-every",
                "2",
                "--pool-s",
                "0.8",
                "--cell",
                "gru",
            ]
        )
        == 0
    )
    model = load_model(out)
    assert model.config.pool_s == 0.8
    from rnnvoice.models.streaming.keyword_stream import KeywordTask

    assert KeywordTask(model).detector.pool_steps == round(0.8 * model.config.features.step_rate)


@pytest.mark.slow
def test_a_words_real_share_follows_its_real_speakers(keyword_corpus):
    """With real_speakers_full, a word said by few real speakers is drawn mostly from the synthetic voices."""
    from rnnvoice.models.audio.features import FeatureConfig
    from rnnvoice.models.data.mixing import MixConfig

    clips = [c for c in read_manifest(keyword_corpus) if c.split == "train"]
    noise = NoiseBank([FIXTURES / "noise_dishes.wav"])
    scaled = KeywordMixer(clips, noise, FeatureConfig(), MixConfig(real_share=0.8, real_speakers_full=4))
    plain = KeywordMixer(clips, noise, FeatureConfig(), MixConfig(real_share=0.8))
    speakers = {}
    for c in clips:
        if c.source != "tts":
            speakers.setdefault(c.label, set()).add(c.speaker)
    assert speakers and scaled.real_share.keys() == plain.real_share.keys() == speakers.keys()
    for word, names in speakers.items():
        assert plain.real_share[word] == 0.8
        assert scaled.real_share[word] == pytest.approx(0.8 * min(1.0, len(names) / 4))
