"""Trains a GRU or LSTM keyword spotter on composed streams: one loop for both cells."""

import dataclasses
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from rnnvoice.models.augment import NoiseBank
from rnnvoice.models.corpus import read_manifest
from rnnvoice.models.evaluate import classify_clips
from rnnvoice.models.keyword_model import KeywordSpotter
from rnnvoice.models.recurrent import ModelConfig, save_model
from rnnvoice.models.mixing import IGNORE, MixConfig, StreamMixer
from rnnvoice.models.vocabulary import SILENCE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    corpus: str
    out: str
    cell: str = "gru"
    hidden_size: int = 128
    num_layers: int = 2
    steps: int = 3000
    batch_size: int = 32
    seconds: float = 10.0
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    # Each keyword labels under 1% of steps; unweighted, the loss is content to never predict one.
    keyword_weight: float = 5.0
    speech_weight: float = 0.3
    eval_every: int = 500
    seed: int = 0
    threads: int = 1


def fit_normalisation(model: KeywordSpotter, mixer: StreamMixer, batches: int = 4) -> None:
    x = torch.cat([mixer.batch(16, augment=False)[0].flatten(0, 1) for _ in range(batches)])
    model.feature_mean.copy_(x.mean(dim=0))
    model.feature_std.copy_(x.std(dim=0).clamp_min(1e-3))


def heldout_accuracy(model: KeywordSpotter, clips) -> float:
    predictions = classify_clips(model, clips)
    return sum(p == c.label for p, c in zip(predictions, clips)) / max(1, len(clips))


def train(config: TrainConfig) -> Path:
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clips = read_manifest(Path(config.corpus))
    train_clips = [c for c in clips if c.split == "train"]
    heldout = [c for c in clips if c.split == "heldout" and c.source != "tts"]
    noise_paths = sorted((Path(config.corpus) / "noise").glob("*.wav"))
    noise_paths += [Path(c.path) for c in train_clips if c.label == SILENCE]
    model_config = ModelConfig(cell=config.cell, hidden_size=config.hidden_size, num_layers=config.num_layers)
    model = KeywordSpotter(model_config)
    mixer = StreamMixer(train_clips, NoiseBank(noise_paths), model_config.features,
                        MixConfig(seconds=config.seconds), seed=config.seed)
    fit_normalisation(model, mixer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.steps, pct_start=0.1)
    weights = torch.tensor([1.0 if k.startswith("_") else config.keyword_weight for k in model_config.labels])
    classes = nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE, label_smoothing=config.label_smoothing)
    speech_loss = nn.BCEWithLogitsLoss()
    history = []
    started = time.time()
    progress = tqdm(range(1, config.steps + 1), desc=f"training {config.cell}", unit="batch")
    for step in progress:
        model.train()
        x, y, s = mixer.batch(config.batch_size)
        logits, speech, _ = model(x)
        loss = classes(logits.flatten(0, 1), y.flatten()) + config.speech_weight * speech_loss(speech, s)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        record = {"step": step, "loss": round(loss.item(), 4), "elapsed_s": round(time.time() - started, 1)}
        if step % config.eval_every == 0 or step == config.steps:
            model.eval()
            record["heldout_accuracy"] = round(heldout_accuracy(model, heldout), 4)
            save_model(model, out, train=dataclasses.asdict(config), history=history)
            log.info("step %d: %s", step, record)
        history.append(record)
        progress.set_postfix(loss=f"{loss.item():.3f}", acc=history[-1].get("heldout_accuracy", "-"))
    save_model(model, out, train=dataclasses.asdict(config), history=history)
    out.with_suffix(".history.json").write_text(json.dumps(history))
    return out
