"""The streaming engine every task shares: resampling, incremental features and the recurrent state.

One stream per client stream; the model is shared and read-only. Chunk boundaries never change
a result: every stage carries over what it has not consumed yet.
"""

import time

import numpy as np
import torch

from rnnvoice.models.audio.features import StreamingFeatures
from rnnvoice.models.audio.pcm import StreamingResampler
from rnnvoice.models.nets.recurrent import RecurrentModel

# Silence run through the model at the end of a stream, so the last word is still heard out.
TAIL_S = 0.3


class ModelStream:
    """Feeds audio in chunks of any size through a shared model, keeping this stream's state.

    Subclasses turn the model's outputs (S, O) into results in `consume`.
    """

    def __init__(self, model: RecurrentModel, input_rate: int):
        self.model = model
        features = model.config.features
        self.resampler = StreamingResampler(input_rate, features.sample_rate)
        self.features = StreamingFeatures(features)
        self.state = None
        self.input_rate = input_rate
        self.step_s = 1.0 / features.step_rate
        self.samples_in = 0
        self.steps = 0
        self.compute_s = 0.0

    @property
    def audio_s(self) -> float:
        """Audio received so far, in seconds."""
        return self.samples_in / self.input_rate

    def accept(self, samples: torch.Tensor):
        """samples: (T,) mono float at the input rate."""
        self.samples_in += len(samples)
        return self._run(self.resampler.accept(samples), final=False)

    def finish(self):
        """Flushes the resampler and a short silent tail; the stream's last results."""
        tail = torch.zeros(round(TAIL_S * self.model.config.features.sample_rate))
        return self._run(torch.cat([self.resampler.finish(), tail]), final=True)

    @torch.inference_mode()
    def _run(self, samples: torch.Tensor, final: bool):
        started = time.perf_counter()
        steps = self.features.accept(samples)
        outputs = np.zeros((0, self.model.head.out_features))
        if len(steps):
            out, self.state = self.model.encode(steps.unsqueeze(0), self.state)
            outputs = out[0].double().numpy()
        result = self.consume(outputs, self.steps, final)
        self.steps += len(outputs)
        self.compute_s += time.perf_counter() - started
        return result

    def consume(self, outputs: np.ndarray, first_step: int, final: bool):
        """Results from the outputs (S, O) of steps first_step, first_step + 1, ...; step s ends at (s + 1) * step_s."""
        raise NotImplementedError
