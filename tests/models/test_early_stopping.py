"""Training to convergence: the schedule of `EarlyStopping`, and a run with patience that ends on its own and keeps
its best evaluation's weights; a share of the real speakers for the learning curves (keywords, recognisers)."""

import dataclasses
import json
from collections import Counter

import pytest
import torch
from torch import nn

from rnnvoice.models.data.corpus import Clip, keep_speakers
from rnnvoice.models.data.transcription_corpus import Recording, keep_real_speakers
from rnnvoice.models.nets.checkpoint import load_model
from rnnvoice.models.training.early_stopping import DECAY, EarlyStopping
from rnnvoice.models.training.train import TrainConfig, train
from rnnvoice.models.vocabulary import SILENCE


def test_early_stopping_warms_up_falls_on_plateaus_and_ends_after_its_patience():
    model = nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1.0)
    stopping = EarlyStopping(optimizer, patience=4, warmup_steps=2)
    lr = lambda: optimizer.param_groups[0]["lr"]  # noqa: E731
    assert lr() == 0.5
    stopping.step()
    assert lr() == 1.0
    assert not stopping.evaluated(10, 0.5, model)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    # Evaluations that do not better the best (a tie does not): the rate falls every second one, the fourth ends.
    assert not stopping.evaluated(20, 0.4, model) and lr() == 1.0
    assert not stopping.evaluated(30, 0.5, model) and lr() == pytest.approx(DECAY)
    assert not stopping.evaluated(40, 0.45, model)
    saved = stopping.state_dict()
    assert stopping.evaluated(50, 0.1, model) and lr() == pytest.approx(DECAY**2)
    assert stopping.best_step == 10
    assert all(torch.equal(v, best[k]) for k, v in stopping.best_weights.items())
    # A resumed run's schedule goes on from where it was.
    resumed = EarlyStopping(optimizer, patience=4, warmup_steps=2)
    resumed.load_state_dict(saved)
    assert lr() == pytest.approx(DECAY) and resumed.best_step == 10
    assert not resumed.evaluated(50, 0.6, model) and resumed.best_step == 50


@pytest.mark.slow
def test_a_run_with_patience_ends_once_it_stops_improving_and_keeps_its_best_weights(keyword_corpus, tmp_path):
    config = TrainConfig(
        corpus=str(keyword_corpus),
        out=str(tmp_path / "patient.pt"),
        cell="gru",
        steps=40,
        batch_size=2,
        seconds=2.0,
        eval_every=1,
        patience=2,
        hidden_size=8,
        num_layers=1,
    )
    model = load_model(train(config))
    history = json.loads((tmp_path / "patient.history.json").read_text())
    accuracies = [h["dev_accuracy"] for h in history]
    best = history[accuracies.index(max(accuracies))]["step"]
    assert model.metadata["converged_step"] == best
    # It ended on its own: two evaluations after its best, far under its ceiling of steps.
    assert history[-1]["step"] == best + 2 < config.steps
    # Its weights are the best evaluation's: those of the same run stopped there by its ceiling.
    stopped = load_model(train(dataclasses.replace(config, steps=best, out=str(tmp_path / "stopped.pt"))))
    for name, value in stopped.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name


def _clip(source: str, speaker: str, n: int, label: str = "yes", split: str = "train") -> Clip:
    return Clip(f"{source}/{speaker}_{n}.wav", label, label, speaker, source, split)


def test_a_share_of_the_real_speakers_is_whole_speakers_nested_with_every_voice_kept():
    clips = [_clip("speech_commands", f"sc{s}", n) for s in range(40) for n in range(3)]
    clips += [_clip("fsdd", f"fsdd{s}", n) for s in range(3) for n in range(5)]
    clips += [_clip("tts", f"voice{s}", n) for s in range(6) for n in range(2)]
    clips += [_clip("speech_commands", "noise", n, SILENCE) for n in range(2)]
    clips += [_clip("speech_commands", f"dev{s}", 0, split="dev") for s in range(4)]
    assert keep_speakers(clips, 1.0, seed=0) == clips
    shares = {f: keep_speakers(clips, f, seed=0) for f in (0.125, 0.25, 0.5)}
    for share, kept in shares.items():
        speakers = Counter(c.source for c in {(c.source, c.speaker): c for c in kept if c.split == "train"}.values())
        assert speakers["speech_commands"] == round(share * 40) + 1  # and the noise clips' "speaker"
        assert speakers["fsdd"] == max(1, round(share * 3)) and speakers["tts"] == 6
        # Whole speakers: each kept one with every clip of theirs; the other splits whole.
        for c in kept:
            assert sum(k.speaker == c.speaker for k in kept) == sum(k.speaker == c.speaker for k in clips)
        assert sum(c.split == "dev" for c in kept) == 4
    assert set(shares[0.125]) <= set(shares[0.25]) <= set(shares[0.5])
    assert set(keep_speakers(clips, 0.25, seed=1)) != set(shares[0.25])


def test_a_share_of_the_recognisers_real_speakers_keeps_every_synthetic_voice():
    real = [Recording(f"{s}/{n}.wav", "call mom", s) for s in ("george", "0a1b2c3d", "04012") for n in range(2)]
    real += [Recording(f"sc{s}/{n}.wav", "yes", f"sc{s}") for s in range(13) for n in range(2)]
    voices = [Recording(f"{v}/0.wav", "stop", v) for v in ("espeak-en-gb-Alex", "flite-awb", "festival-kallpc16k")]
    recordings = real + voices
    assert keep_real_speakers(recordings, 1.0, seed=0) == recordings
    shares = {f: keep_real_speakers(recordings, f, seed=0) for f in (0.125, 0.25, 0.5)}
    for share, kept in shares.items():
        assert {r.speaker for r in kept if r in voices} == {v.speaker for v in voices}
        assert len({r.speaker for r in kept if r in real}) == max(1, round(share * 16))
        for r in kept:  # whole speakers
            assert sum(k.speaker == r.speaker for k in kept) == sum(k.speaker == r.speaker for k in recordings)
    assert set(shares[0.125]) <= set(shares[0.25]) <= set(shares[0.5])
    assert set(keep_real_speakers(recordings, 0.25, seed=1)) != set(shares[0.25])
