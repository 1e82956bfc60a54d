"""Keyword decisions on a stream: the detector over the keyword model's posteriors, and the stream that feeds it."""

from dataclasses import replace

from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.streaming.keyword_detector import DEFAULT_SENSITIVITY, DetectorConfig, KeywordDetector, threshold_for
from rnnvoice.models.streaming.model_step import Posteriors
from rnnvoice.models.streaming.stream import Stream, StreamOutput, open_fronts
from rnnvoice.models.vocabulary import KEYWORDS


class KeywordTask:
    """Detections from per-step posteriors (classes (S, C), speech (S,)) in any chunking."""

    def __init__(self, model: KeywordSpotter, sensitivities: dict[str, float] | None = None,
                 detector: DetectorConfig | None = None, interim_scores: bool = False):
        labels = model.config.labels
        sensitivities = sensitivities or {k: DEFAULT_SENSITIVITY for k in labels if k in KEYWORDS}
        # Each keyword's threshold as tuned for this model (`rnnvoice calibrate`), unless a detector is given.
        tuned = model.metadata.get("detector_thresholds", {}) if detector is None else {}
        detector = detector or DetectorConfig()
        thresholds = {k: threshold_for(s, tuned.get(k, detector.threshold)) for k, s in sensitivities.items()}
        self.step_s = 1.0 / model.config.features.step_rate
        self.detector = KeywordDetector(labels, thresholds, self.step_s, detector)
        self.interim_scores = interim_scores

    def accept(self, posteriors: tuple[Posteriors, ...], first_step: int, final: bool, audio_s: float
               ) -> StreamOutput:
        classes, speech = posteriors[0]
        end_s = (first_step + len(classes)) * self.step_s
        if len(classes) == 0:
            return StreamOutput(time_s=end_s)
        smoothed, detections = self.detector.accept(classes, speech)
        if final:  # the silent tail is not audio the client sent
            detections = [replace(d, start_s=min(d.start_s, audio_s), end_s=min(d.end_s, audio_s))
                          for d in detections]
        scores = self.keyword_scores(smoothed[-1]) if self.interim_scores and not final else None
        return StreamOutput(detections=detections, smoothed=smoothed, scores=scores, time_s=end_s)

    def keyword_scores(self, smoothed) -> dict[str, float]:
        """The reported keywords' scores at one step, from a row of smoothed posteriors."""
        return {k: float(smoothed[c]) for k, c in zip(self.detector.keywords, self.detector.columns)}


def keyword_stream(model: KeywordSpotter, input_rate: int, sensitivities: dict[str, float] | None = None,
                   detector: DetectorConfig | None = None, interim_scores: bool = False) -> Stream:
    """Keyword detections for a stream fed in chunks of any size."""
    return Stream(*open_fronts([model], input_rate), KeywordTask(model, sensitivities, detector, interim_scores))
