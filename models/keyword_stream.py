"""One keyword-spotting stream: resampler, features, recurrent state and detector, kept across chunks.

The one streaming code path: the server, evaluation and the benchmark all run audio through it.
"""

import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from rnnvoice.models.audio import StreamingResampler
from rnnvoice.models.detector import DEFAULT_SENSITIVITY, Detection, DetectorConfig, KeywordDetector, threshold_for
from rnnvoice.models.features import StreamingFeatures
from rnnvoice.models.keyword_model import KeywordSpotter
from rnnvoice.models.vocabulary import KEYWORDS

# Silence run through the model at the end of a stream, so a keyword spoken at the very end is still heard out.
TAIL_S = 0.3


@dataclass
class StepOutput:
    """What a chunk produced: detections, and the smoothed posteriors of its steps (S, C)."""

    detections: list[Detection] = field(default_factory=list)
    smoothed: np.ndarray | None = None
    time_s: float = 0.0


class KeywordStream:
    """Feeds a stream's audio, in chunks of any size, through a shared model with this stream's state."""

    def __init__(
        self,
        model: KeywordSpotter,
        input_rate: int,
        sensitivities: dict[str, float] | None = None,
        detector: DetectorConfig | None = None,
    ):
        self.model = model
        config = model.config
        self.resampler = StreamingResampler(input_rate, config.features.sample_rate)
        self.features = StreamingFeatures(config.features)
        self.state = None
        detector = detector or DetectorConfig()
        sensitivities = sensitivities or {k: DEFAULT_SENSITIVITY for k in config.labels if k in KEYWORDS}
        thresholds = {k: threshold_for(s, detector.threshold) for k, s in sensitivities.items()}
        self.step_s = 1.0 / config.features.step_rate
        self.detector = KeywordDetector(config.labels, thresholds, self.step_s, detector)
        self.input_rate = input_rate
        self.samples_in = 0
        self.steps = 0
        self.compute_s = 0.0

    @property
    def audio_s(self) -> float:
        return self.samples_in / self.input_rate

    def accept(self, samples: torch.Tensor) -> StepOutput:
        """samples: (T,) mono float at the input rate."""
        self.samples_in += len(samples)
        return self._run(self.resampler.accept(samples))

    def finish(self) -> StepOutput:
        """Flushes the resampler and a short silent tail; the stream's last results."""
        tail = torch.zeros(round(TAIL_S * self.model.config.features.sample_rate))
        out = self._run(torch.cat([self.resampler.finish(), tail]))
        end = self.audio_s  # the tail is not audio the client sent
        out.detections = [replace(d, start_s=min(d.start_s, end), end_s=min(d.end_s, end)) for d in out.detections]
        return out

    @torch.inference_mode()
    def _run(self, samples: torch.Tensor) -> StepOutput:
        started = time.perf_counter()
        steps = self.features.accept(samples)
        if len(steps) == 0:
            self.compute_s += time.perf_counter() - started
            return StepOutput(time_s=self.steps * self.step_s)
        logits, speech, self.state = self.model(steps.unsqueeze(0), self.state)
        posteriors = torch.softmax(logits[0], dim=-1).double().numpy()
        speech = torch.sigmoid(speech[0]).double().numpy()
        smoothed, detections = self.detector.accept(posteriors, speech)
        self.steps += len(steps)
        self.compute_s += time.perf_counter() - started
        return StepOutput(detections, smoothed, self.steps * self.step_s)

    def keyword_scores(self, smoothed: np.ndarray) -> dict[str, float]:
        """The reported keywords' scores at one step, from a row of smoothed posteriors."""
        return {k: float(smoothed[c]) for k, c in zip(self.detector.keywords, self.detector.columns)}
