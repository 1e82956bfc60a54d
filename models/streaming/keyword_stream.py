"""One keyword-spotting stream: the streaming engine plus keyword decisions."""

from dataclasses import dataclass, field, replace

import numpy as np

from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.streaming.keyword_detector import DEFAULT_SENSITIVITY, Detection, DetectorConfig, KeywordDetector, threshold_for
from rnnvoice.models.streaming.model_stream import ModelStream
from rnnvoice.models.vocabulary import KEYWORDS


@dataclass
class KeywordOutput:
    """What a chunk produced: detections, and the smoothed posteriors of its steps (S, C)."""

    detections: list[Detection] = field(default_factory=list)
    smoothed: np.ndarray | None = None
    time_s: float = 0.0
    raw: np.ndarray | None = None  # the model's outputs (S, C + 1), for replaying the detector


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class KeywordStream(ModelStream):
    """Keyword detections for a stream fed in chunks of any size."""

    def __init__(self, model: KeywordSpotter, input_rate: int, sensitivities: dict[str, float] | None = None,
                 detector: DetectorConfig | None = None):
        super().__init__(model, input_rate)
        labels = model.config.labels
        sensitivities = sensitivities or {k: DEFAULT_SENSITIVITY for k in labels if k in KEYWORDS}
        # Each keyword's threshold as tuned for this model (`rnnvoice calibrate`), unless a detector is given.
        tuned = model.metadata.get("detector_thresholds", {}) if detector is None else {}
        detector = detector or DetectorConfig()
        thresholds = {k: threshold_for(s, tuned.get(k, detector.threshold)) for k, s in sensitivities.items()}
        self.detector = KeywordDetector(labels, thresholds, self.step_s, detector)

    def consume(self, outputs: np.ndarray, first_step: int, final: bool) -> KeywordOutput:
        end_s = (first_step + len(outputs)) * self.step_s
        if len(outputs) == 0:
            return KeywordOutput(time_s=end_s)
        posteriors = softmax(outputs[:, :-1])
        speech = 1.0 / (1.0 + np.exp(-outputs[:, -1]))
        smoothed, detections = self.detector.accept(posteriors, speech)
        if final:  # the silent tail is not audio the client sent
            detections = [replace(d, start_s=min(d.start_s, self.audio_s), end_s=min(d.end_s, self.audio_s))
                          for d in detections]
        return KeywordOutput(detections, smoothed, end_s, outputs)

    def keyword_scores(self, smoothed: np.ndarray) -> dict[str, float]:
        """The reported keywords' scores at one step, from a row of smoothed posteriors."""
        return {k: float(smoothed[c]) for k, c in zip(self.detector.keywords, self.detector.columns)}
