"""Trains GRU and LSTM models for either task on composed streams: one loop for every cell and task."""

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from rnnvoice.models.audio.features import FeatureConfig, FrontEndKind, Normalization
from rnnvoice.models.data.augment import NoiseBank
from rnnvoice.models.data.corpus import keep_speakers, read_manifest, split_dev
from rnnvoice.models.data.mixing import IGNORE, KeywordMixer, MixConfig, StreamMixer, UtteranceMixer
from rnnvoice.models.data.transcription_corpus import keep_real_speakers, read_transcripts
from rnnvoice.models.nets.checkpoint import load_model, plain_dict, save_model
from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.nets.recurrent import ModelConfig, RecurrentModel
from rnnvoice.models.nets.speech_recognizer import TOKENS, SpeechRecognizer
from rnnvoice.models.training.early_stopping import EarlyStopping
from rnnvoice.models.training.stream_cache import StreamCache, open_stream_cache
from rnnvoice.models.types import Cell, Task
from rnnvoice.models.vocabulary import LABELS, SILENCE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    corpus: str
    out: str
    task: Task = Task.KEYWORDS
    cell: Cell = Cell.GRU
    hidden_size: int = 128
    num_layers: int = 2
    steps: int = 3000  # 0: build the stream cache (stream_cache) and stop
    batch_size: int = 32
    seconds: float = 10.0
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    # Each keyword labels under 1% of steps; unweighted, the loss is content to never predict one.
    keyword_weight: float = 5.0
    speech_weight: float = 0.3
    # Of the keyword and other-word draws, the share taken from real recordings rather than synthetic voices.
    real_share: float = 0.5
    # Scale each word's real share by its real speakers, full from this many (MixConfig.real_speakers_full); 0: off.
    real_speakers_full: int = 0
    # Share of the draws that are pieces of real telephone talk, from a corpus made with `rnnvoice data --calls`.
    talk_share: float = 0.0
    # Front end: the normalisation and its floors, see FeatureConfig. Its defaults are the shipped models' recipe,
    # which measured best (docs/experiments.md, "Hearing quiet and distant speakers"); the level-invariant front
    # ends are flags. With the speech embedding (front_end), these log-mel fields are unused.
    front_end: FrontEndKind = FeatureConfig.front_end
    normalization: Normalization = FeatureConfig.normalization
    log_floor: float = FeatureConfig.log_floor
    relative_floor: float = FeatureConfig.relative_floor
    # Range of a training stream's speech level, dBFS.
    level_db_min: float = -38.0
    level_db_max: float = -14.0
    # Share of batches of short streams (a word heard from a fresh stream, as a clip on its own).
    short_prob: float = 0.0
    # Keyword scores max-pooled over this many seconds, in training's targets and loss (MixConfig.pool_s) and in
    # the detector (ModelConfig.pool_s); 0: per-step scores.
    pool_s: float = 0.0
    # Share of the real training speakers kept, whole speakers nested across shares (keywords: of each source,
    # keep_speakers; transcription: keep_real_speakers), the synthetic voices whole: learning curves against real data.
    real_fraction: float = 1.0
    # Seed of the training streams' draws and of the speakers real_fraction keeps; -1: the run's seed. Runs that
    # differ in seed alone then share one stream cache, their seeds changing the initial weights and batch order.
    data_seed: int = -1
    # Share of the training speakers (by a hash of their name) kept out as the development set: training-time
    # evaluation and calibration use them, never the held-out speakers the reports are about.
    dev_fraction: float = 0.1
    eval_every: int = 500
    # Training to convergence: end the run once this many evaluations in a row have not bettered the best
    # (development accuracy, or held-out WER) and keep the best one's weights, `steps` being a ceiling; the learning
    # rate is then `EarlyStopping`'s. 0: the one-cycle schedule over exactly `steps`.
    patience: int = 0
    # Folder where the development clips' front-end steps are kept, shared by every run of the same front end
    # (models/evaluation/clip_steps.py); empty: computed once per run.
    feature_cache: str = ""
    seed: int = 0
    threads: int = 1
    # Start from these weights (a checkpoint of the same task, cell and size) instead of from scratch.
    init: str = ""
    # Keywords: train on `cached_streams` streams kept in this file (built on first use, then shared by every run
    # of the same data settings, whatever its cell or size) instead of fresh ones each step; for the speech
    # embedding, whose cost is nearly all of a step (models/training/stream_cache.py). Empty: fresh streams.
    stream_cache: str = ""
    cached_streams: int = 4000
    # Recognisers: token distributions (CTC frames) per model step (ModelConfig.tokens_per_step).
    tokens_per_step: int = 1

    def __post_init__(self):
        # The command line and a resumed run's saved settings hold plain strings.
        object.__setattr__(self, "task", Task(self.task))
        object.__setattr__(self, "cell", Cell(self.cell))
        object.__setattr__(self, "front_end", FrontEndKind(self.front_end))

    @property
    def streams_seed(self) -> int:
        return self.seed if self.data_seed < 0 else self.data_seed

    def features(self) -> FeatureConfig:
        return FeatureConfig(
            normalization=self.normalization,
            log_floor=self.log_floor,
            relative_floor=self.relative_floor,
            front_end=self.front_end,
        )

    @staticmethod
    def for_task(task: Task, **overrides) -> "TrainConfig":
        """The shipped recipe of a task, with any field overridden."""
        recipe = {
            # Heads over the speech embedding, with real telephone talk among the other speech (docs/experiments.md,
            # "The speech embedding's heads become the shipped keyword models"); the study's log-mel runs name
            # their own front end.
            Task.KEYWORDS: {"front_end": FrontEndKind.SPEECH_EMBEDDING, "talk_share": 0.1, "keyword_weight": 15.0},
            # Recognisers over the speech embedding, two CTC frames a step, from scratch on cached streams
            # (docs/experiments.md, "A larger corpus for the recognisers on the speech embedding").
            Task.TRANSCRIPTION: {
                "front_end": FrontEndKind.SPEECH_EMBEDDING,
                "tokens_per_step": 2,
                "hidden_size": 192,
                "num_layers": 2,
                "batch_size": 12,
                "seconds": 6.0,
                "lr": 2e-3,
                "steps": 8000,
                "eval_every": 2000,
                "cached_streams": 10000,
            },
        }.get(task, {})
        return TrainConfig(task=task, **{**recipe, **overrides})


class KeywordJob:
    """Keyword spotting: per-step class and speech-activity targets."""

    def __init__(self, config: TrainConfig):
        clips = split_dev(read_manifest(Path(config.corpus)), config.dev_fraction)
        train_clips = [c for c in clips if c.split == "train"]
        self.dev = [c for c in clips if c.split == "dev"]  # real speakers only: split_dev never takes a voice
        self.dev_steps, self.feature_cache = None, Path(config.feature_cache) if config.feature_cache else None
        noise = sorted((Path(config.corpus) / "noise").glob("*.wav"))
        noise += [Path(c.path) for c in train_clips if c.label == SILENCE]
        self.noise = NoiseBank(noise)
        train_clips = keep_speakers(train_clips, config.real_fraction, config.streams_seed)
        model_config = ModelConfig(
            Task.KEYWORDS,
            config.cell,
            config.hidden_size,
            config.num_layers,
            labels=LABELS,
            features=config.features(),
            pool_s=config.pool_s,
        )
        self.model = KeywordSpotter(model_config)
        mix = MixConfig(
            seconds=config.seconds,
            real_share=config.real_share,
            real_speakers_full=config.real_speakers_full,
            talk_share=config.talk_share,
            short_prob=config.short_prob,
            level_db=(config.level_db_min, config.level_db_max),
            pool_s=config.pool_s,
        )
        self.mixer = KeywordMixer(train_clips, self.noise, model_config.features, mix, seed=config.streams_seed)
        weights = torch.tensor(
            [config.keyword_weight if k in model_config.keywords else 1.0 for k in model_config.labels]
        )
        self.classes = nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE, label_smoothing=config.label_smoothing)
        self.speech = nn.BCEWithLogitsLoss()
        self.speech_weight = config.speech_weight

    def loss(self, batch) -> torch.Tensor:
        x, classes, speech = batch
        logits, speech_logits, _ = self.model(x)
        if self.model.pool_steps:
            logits = self.model.pooled(logits)
        loss = self.classes(logits.flatten(0, 1), classes.flatten())
        return loss + self.speech_weight * self.speech(speech_logits, speech)

    @staticmethod
    def quality(record: dict) -> float:
        return record["dev_accuracy"]

    def evaluate(self) -> dict:
        from rnnvoice.models.evaluation.clip_steps import clip_steps
        from rnnvoice.models.evaluation.keywords import replayed_clips

        if self.dev_steps is None:  # the front end is frozen: its steps of the clips are computed once
            self.dev_steps = clip_steps(self.model.config.features, self.dev, cache=self.feature_cache)
        predicted = [label for label, _ in replayed_clips(self.model, self.dev_steps)]
        return {
            "dev_accuracy": round(sum(p == c.label for p, c in zip(predicted, self.dev)) / max(1, len(self.dev)), 4)
        }


class TranscriptionJob:
    """Speech recognition: CTC over characters of whole utterances."""

    def __init__(self, config: TrainConfig):
        corpus = Path(config.corpus)
        self.heldout = [
            r
            for part in ("heldout/tts", "heldout/fsdd", "heldout/wuw_dev")
            if (corpus / part).is_dir()
            for r in read_transcripts(corpus / part)[:60]
        ]
        model_config = ModelConfig(
            Task.TRANSCRIPTION,
            config.cell,
            config.hidden_size,
            config.num_layers,
            labels=TOKENS,
            features=config.features(),
            tokens_per_step=config.tokens_per_step,
        )
        self.model = SpeechRecognizer(model_config)
        mix = MixConfig(
            seconds=config.seconds, run_on_prob=0.0, short_prob=0.0, level_db=(config.level_db_min, config.level_db_max)
        )
        self.mixer = UtteranceMixer(
            keep_real_speakers(read_transcripts(corpus / "train"), config.real_fraction, config.streams_seed),
            NoiseBank(sorted((corpus / "noise").glob("*.wav"))),
            model_config.features,
            mix,
            seed=config.streams_seed,
        )

    def loss(self, batch) -> torch.Tensor:
        x, targets, lengths = batch
        log_probs, _ = self.model(x)
        steps = torch.full((len(x),), log_probs.shape[1], dtype=torch.long)
        return nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, steps, lengths, zero_infinity=True)

    @staticmethod
    def quality(record: dict) -> float:
        return -record["heldout_wer"]

    def evaluate(self) -> dict:
        from rnnvoice.models.evaluation.transcription import transcribe_all, word_error_rate

        hypotheses = transcribe_all(self.model, self.heldout)
        return {"heldout_wer": round(word_error_rate([r.text for r in self.heldout], hypotheses), 4)}


JOBS = {Task.KEYWORDS: KeywordJob, Task.TRANSCRIPTION: TranscriptionJob}


# The settings that shape a stream cache's streams: runs that share them share its streams.
STREAM_SETTINGS = (
    "corpus",
    "task",
    "front_end",
    "normalization",
    "log_floor",
    "relative_floor",
    "seconds",
    "real_share",
    "real_speakers_full",
    "talk_share",
    "level_db_min",
    "level_db_max",
    "short_prob",
    "real_fraction",
    "dev_fraction",
)


def training_streams(config: TrainConfig, mixer: StreamMixer) -> StreamMixer | StreamCache:
    """Where a run's batches come from: its mixer, or the stream cache it names."""
    if not config.stream_cache:
        return mixer
    if config.short_prob:
        raise SystemExit("a stream cache holds streams of one length: no --short-prob")
    settings = {name: str(getattr(config, name)) for name in STREAM_SETTINGS} | {"seed": str(config.streams_seed)}
    return open_stream_cache(mixer, config.cached_streams, Path(config.stream_cache), settings, config.seed)


def fit_normalisation(model: RecurrentModel, mixer: StreamMixer | StreamCache, batches: int = 4) -> None:
    x = torch.cat([mixer.batch(16, augment=False)[0].flatten(0, 1) for _ in range(batches)])
    model.feature_mean.copy_(x.mean(dim=0))
    model.feature_std.copy_(x.std(dim=0).clamp_min(1e-3))


def _same_run(saved: dict, config: TrainConfig) -> bool:
    """Whether a checkpoint's settings are these: a field added since it began counts as its default, one since
    removed makes it another run."""
    try:
        return TrainConfig(**saved) == config
    except TypeError:
        return False


def train(config: TrainConfig) -> Path:
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    job = JOBS[config.task](config)
    model = job.model
    streams = training_streams(config, job.mixer)
    if config.steps == 0:  # the streams alone: a stream cache built for the runs that will share it
        return Path(config.stream_cache)
    if config.init:
        model.load_state_dict(load_model(Path(config.init)).state_dict())
    else:
        fit_normalisation(model, streams)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    stopping = EarlyStopping(optimizer, config.patience, config.eval_every) if config.patience else None
    schedule = stopping or torch.optim.lr_scheduler.OneCycleLR(
        optimizer, config.lr, total_steps=config.steps, pct_start=0.1
    )
    history, done, elapsed = [], 0, 0.0
    resume = out.with_suffix(".resume.pt")
    if resume.exists():  # a run that was stopped goes on where its last checkpoint left it
        saved = torch.load(resume, weights_only=False)
        if not _same_run(saved["config"], config):
            raise SystemExit(f"{resume} belongs to a run with other settings; delete it to start afresh")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        streams.rng.setstate(saved["mixer_rng"])
        torch.set_rng_state(saved["torch_rng"])
        history, done = saved["history"], saved["step"]
        elapsed = history[-1]["elapsed_s"] if history else 0.0
        log.info("resuming %s at step %d", out, done)
    started = time.time() - elapsed
    stopped = stopping is not None and stopping.stale >= config.patience  # stopped before its checkpoint was final
    progress = tqdm(
        range(done + 1, 1 if stopped else config.steps + 1),
        desc=f"training {config.task} {config.cell}",
        unit="batch",
        initial=done,
        total=config.steps,
    )
    for step in progress:
        model.train()
        loss = job.loss(streams.batch(config.batch_size))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        record = {"step": step, "loss": round(loss.item(), 4), "elapsed_s": round(time.time() - started, 1)}
        finished = step == config.steps
        if step % config.eval_every == 0 or finished:
            model.eval()
            record |= job.evaluate() | {"lr": optimizer.param_groups[0]["lr"]}
            if stopping is not None:
                finished |= stopping.evaluated(step, job.quality(record), model)
            save_model(model, out, train=plain_dict(config), history=history)
            torch.save(
                {
                    "config": plain_dict(config),
                    "step": step,
                    "history": history + [record],
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "mixer_rng": streams.rng.getstate(),
                    "torch_rng": torch.get_rng_state(),
                },
                resume,
            )
            log.info("step %d: %s", step, record)
        history.append(record)
        progress.set_postfix(loss=f"{loss.item():.3f}")
        if finished:
            break
    model.eval()
    converged = {}
    if stopping is not None:  # the best evaluation's weights, and when it was
        model.load_state_dict(stopping.best_weights)
        converged = {"converged_step": stopping.best_step}
    save_model(model, out, train=plain_dict(config), history=history, **converged)
    out.with_suffix(".history.json").write_text(json.dumps(history))
    resume.unlink(missing_ok=True)
    return out
