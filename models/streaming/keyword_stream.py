"""Keyword decisions on a stream: the detector over the keyword model's posteriors, the phrase spotter over the
speech embedding for keywords chosen at run time, and the stream that feeds them."""

import numpy as np
import torch

from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.nets.speech_recognizer import normalise
from rnnvoice.models.streaming.embedding_front import embedding_outputs
from rnnvoice.models.streaming.keyword_batch import accept_together
from rnnvoice.models.streaming.keyword_detector import (
    DEFAULT_SENSITIVITY,
    DetectorConfig,
    KeywordDetector,
    threshold_for,
    within_audio,
)
from rnnvoice.models.streaming.model_step import Posteriors
from rnnvoice.models.streaming.phrase_spotter import DEFAULT_THRESHOLD, STEP_S, PhraseSpotter, enrol
from rnnvoice.models.streaming.stream import SideBySide, Stream, StreamOutput, open_fronts
from rnnvoice.models.vocabulary import KEYWORDS


def detector_for(model: KeywordSpotter, **overrides) -> DetectorConfig:
    """The detector a model is served with: one trained on pooled scores is served them."""
    return DetectorConfig(**{"pool_s": model.config.pool_s, **overrides})


class KeywordTask:
    """Detections from per-step posteriors (classes (S, C), speech (S,)) in any chunking."""

    def __init__(
        self,
        model: KeywordSpotter,
        sensitivities: dict[str, float] | None = None,
        detector: DetectorConfig | None = None,
        interim_scores: bool = False,
    ):
        labels = model.config.labels
        if sensitivities is None:  # every keyword; {} reports none (a stream that runs the model for its speech output)
            sensitivities = {k: DEFAULT_SENSITIVITY for k in labels if k in KEYWORDS}
        # Each keyword's threshold as tuned for this model (`rnnvoice calibrate`), unless a detector is given.
        tuned = model.metadata.get("detector_thresholds", {}) if detector is None else {}
        detector = detector or detector_for(model)
        thresholds = {k: threshold_for(s, tuned.get(k, detector.threshold)) for k, s in sensitivities.items()}
        self.step_s = model.config.features.step_s
        self.detector = KeywordDetector(labels, thresholds, self.step_s, detector)
        self.interim_scores = interim_scores
        # The reported keywords' scores at the last step (none yet: 0): what a chunk that completes no step of its
        # own answers with, so that every chunk of a stream that asks for scores gets them.
        self.last_scores = dict.fromkeys(self.detector.keywords, 0.0)

    def accept(
        self, posteriors: tuple[Posteriors, ...], first_steps: tuple[int, ...], final: bool, audio_s: float
    ) -> StreamOutput:
        classes, speech = posteriors[0]
        decided = self.detector.accept(classes, speech) if len(classes) else None
        if decided and self.interim_scores and not final:
            self.last_scores = self.keyword_scores(decided[0][-1])
        return self._output(decided, first_steps[0] + len(classes), final, audio_s)

    @staticmethod
    def accept_together(
        tasks: list["KeywordTask"],
        posteriors: list[tuple[Posteriors, ...]],
        first_steps: list[tuple[int, ...]],
        finals: list[bool],
        audio_s: list[float],
    ) -> list[StreamOutput]:
        """`accept` of many streams' tasks, their detectors stepped together: the same outputs."""
        stepped = [b for b, p in enumerate(posteriors) if len(p[0][0])]
        decided = dict(
            zip(
                stepped,
                accept_together(
                    [tasks[b].detector for b in stepped],
                    [posteriors[b][0][0] for b in stepped],
                    [posteriors[b][0][1] for b in stepped],
                ),
            )
        )
        asking = [b for b in stepped if tasks[b].interim_scores and not finals[b]]
        for b, scores in zip(asking, _last_scores([tasks[b] for b in asking], [decided[b][0] for b in asking])):
            tasks[b].last_scores = scores
        return [
            task._output(decided.get(b), first[0] + len(p[0][0]), final, a)
            for b, (task, p, first, final, a) in enumerate(zip(tasks, posteriors, first_steps, finals, audio_s))
        ]

    def _output(self, decided: tuple | None, steps: int, final: bool, audio_s: float) -> StreamOutput:
        """What the detector decided on a chunk's steps (None: it had none) and the interim scores if asked, the
        stream now `steps` long."""
        end_s = steps * self.step_s
        scores = self.last_scores if self.interim_scores and not final else None
        if decided is None:
            return StreamOutput(scores=scores, time_s=end_s)
        smoothed, detections = decided
        if final:  # the silent tail is not audio the client sent
            detections = within_audio(detections, audio_s)
        return StreamOutput(detections=detections, smoothed=smoothed, scores=scores, time_s=end_s)

    def keyword_scores(self, smoothed) -> dict[str, float]:
        """The reported keywords' scores at one step, from a row of smoothed posteriors."""
        return dict(zip(self.detector.keywords, smoothed[self.detector.columns].tolist()))


def _last_scores(tasks: list[KeywordTask], smoothed: list[np.ndarray]) -> list[dict[str, float]]:
    """Each task's `keyword_scores` at the last of its smoothed steps (S_b, C), read for all in one gather where
    they report as many keywords."""
    if not tasks:
        return []
    columns = [t.detector.columns for t in tasks]
    if len({len(c) for c in columns}) > 1:
        return [t.keyword_scores(s[-1]) for t, s in zip(tasks, smoothed)]
    rows = np.take_along_axis(np.stack([s[-1] for s in smoothed]), np.stack(columns), axis=1).tolist()
    return [dict(zip(t.detector.keywords, row)) for t, row in zip(tasks, rows)]


class PhraseTask:
    """Detections of phrases chosen at run time, from the stream's speech embeddings (S, E) in any chunking."""

    def __init__(
        self, sensitivities: dict[str, float], interim_scores: bool = False, threshold: float = DEFAULT_THRESHOLD
    ):
        """sensitivities: phrase text -> 0..1 (each enrolled, or taken from the enrolled ones); threshold: the score
        that fires at sensitivity 0.5."""
        self.spotter = PhraseSpotter(
            [(enrol(normalise(text)), threshold_for(s, threshold)) for text, s in sensitivities.items()]
        )
        self.interim_scores = interim_scores
        self.last_scores = {p.text: 0.0 for p in self.spotter.phrases}  # as KeywordTask's

    def accept(
        self, posteriors: tuple[Posteriors, ...], first_steps: tuple[int, ...], final: bool, audio_s: float
    ) -> StreamOutput:
        detections, z = self.spotter.accept(torch.from_numpy(posteriors[0]))
        if final:
            detections = within_audio(detections, audio_s)
        if self.interim_scores and not final and len(z):
            self.last_scores = dict(zip(self.last_scores, self.spotter.scores(z[-1]).tolist()))
        scores = self.last_scores if self.interim_scores and not final else None
        return StreamOutput(detections=detections, scores=scores, time_s=(first_steps[0] + len(z)) * STEP_S)


def keyword_stream(
    model: KeywordSpotter | None,
    input_rate: int,
    sensitivities: dict[str, float] | None = None,
    detector: DetectorConfig | None = None,
    interim_scores: bool = False,
    phrases: dict[str, float] | None = None,
) -> Stream:
    """Keyword detections for a stream fed in chunks of any size: the keyword model's (unless None) and, for
    phrases (text -> sensitivity), the phrase spotter's on the speech embedding, side by side (one front end, when
    the keyword model reads the embedding too)."""
    tasks, models = [], []
    if model is not None:
        tasks.append(KeywordTask(model, sensitivities, detector, interim_scores))
        models.append(model)
    if phrases:
        shared = model is not None and model.config.features.embedded
        tasks.append(PhraseTask(phrases, interim_scores))
        models.append(embedding_outputs(model.config.features if shared else None))
    task = tasks[0] if len(tasks) == 1 else SideBySide([(t, slice(i, i + 1)) for i, t in enumerate(tasks)])
    return Stream(*open_fronts(models, input_rate), task)
