"""One speech-recognition stream: the streaming engine, CTC decoding and endpointing.

Partial results as audio arrives; a final result when an utterance ends (trailing silence),
after which the next utterance starts in the same stream, with the same recurrent state.
"""

from dataclasses import dataclass, field

import numpy as np

from rnnvoice.models.asr_model import SpeechRecognizer
from rnnvoice.models.ctc_decoding import Hypothesis, make_decoder
from rnnvoice.models.streaming import ModelStream

DEFAULT_ENDPOINT_S = 0.25
# Steps of log-probabilities kept, so decoding can restart a little in the past (after a wake word).
HISTORY_S = 3.0


@dataclass(frozen=True)
class WordTiming:
    word: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Transcript:
    """A partial or final result; times on the stream's audio clock."""

    text: str
    is_final: bool
    start_s: float
    end_s: float
    confidence: float = 0.0
    stability: float = 0.0
    words: tuple[WordTiming, ...] = ()
    decided_s: float = 0.0  # audio clock time at which the result was made


@dataclass
class TranscriptionOutput:
    results: list[Transcript] = field(default_factory=list)
    time_s: float = 0.0


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class TranscriptionStream(ModelStream):
    """Transcripts for a stream fed in chunks of any size."""

    def __init__(self, model: SpeechRecognizer, input_rate: int, decoder: str = "beam",
                 hints: list[str] | None = None, endpoint_s: float = DEFAULT_ENDPOINT_S, interim: bool = True):
        super().__init__(model, input_rate)
        self.decoder_kind, self.hints = decoder, hints
        self.endpoint_steps = max(1, round(endpoint_s / self.step_s))
        self.interim = interim
        self.history = np.zeros((0, len(model.config.labels)))
        self.history_start = 0
        self._restart(0)

    def _restart(self, step: int) -> None:
        self.decoder = make_decoder(self.decoder_kind, self.hints)
        self.utterance_start = step
        self.last_text = ""

    def restart_at(self, time_s: float) -> list[Transcript]:
        """Forgets the current utterance and decodes again from `time_s` (within the last few seconds)."""
        step = max(round(time_s / self.step_s), self.history_start)
        self._restart(step)
        buffered = self.history[step - self.history_start :]
        return self._decode(buffered, step) if len(buffered) else []

    def consume(self, outputs: np.ndarray, first_step: int, final: bool) -> TranscriptionOutput:
        end_step = first_step + len(outputs)
        results = []
        if len(outputs):
            log_probs = log_softmax(outputs)
            self._remember(log_probs, first_step)
            results += self._decode(log_probs, first_step)
        best = self.decoder.best
        if final and best.text:
            results.append(self._result(best, True, end_step))
            self._restart(end_step)
        return TranscriptionOutput(results, end_step * self.step_s)

    def _remember(self, log_probs: np.ndarray, first_step: int) -> None:
        keep = round(HISTORY_S / self.step_s)
        self.history = np.concatenate([self.history, log_probs])[-keep:]
        self.history_start = first_step + len(log_probs) - len(self.history)

    def _decode(self, log_probs: np.ndarray, first_step: int) -> list[Transcript]:
        """Feeds the decoder up to each endpoint in turn: an utterance ends after endpoint_steps without a character."""
        results, start = [], 0
        while start < len(log_probs):
            best = self.decoder.best
            quiet_from = (best.steps[-1] + 1) if best.steps else None
            if quiet_from is None:
                end = len(log_probs)
            else:
                end = min(len(log_probs), max(start + 1, quiet_from + self.endpoint_steps - first_step))
            self.decoder.accept(log_probs[start:end], first_step + start)
            start = end
            best = self.decoder.best
            step = first_step + end
            if best.steps and step - (best.steps[-1] + 1) >= self.endpoint_steps:
                results.append(self._result(best, True, step))
                self._restart(step)
        best = self.decoder.best
        if self.interim and best.text and best.text != self.last_text:
            self.last_text = best.text
            results.append(self._result(best, False, first_step + len(log_probs)))
        return results

    def _result(self, best: Hypothesis, is_final: bool, step: int) -> Transcript:
        s = self.step_s
        words = tuple(WordTiming(w.text, round(w.start_step * s, 3), round((w.end_step + 1) * s, 3))
                      for w in best.words())
        settled = sum(1 for t in best.steps if step - t > self.endpoint_steps)
        end_s = min(words[-1].end_s, self.audio_s) if words else step * s
        stability = 1.0 if is_final else round(settled / max(1, len(best.steps)), 3)
        return Transcript(best.text, is_final, words[0].start_s if words else step * s, end_s,
                          round(best.confidence, 4), stability, words, round(min(step * s, self.audio_s), 3))
