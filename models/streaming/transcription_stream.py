"""Speech-recognition decisions on a stream: CTC decoding and endpointing over the recogniser's log-probabilities.

Partial results as audio arrives; a final result when an utterance ends (trailing silence),
after which the next utterance starts in the same stream, with the same recurrent state.
"""

import math
from dataclasses import dataclass

import numpy as np

from rnnvoice.models.decoding.ctc import Alternative, Hypothesis, alternatives, make_decoder, word_confidences
from rnnvoice.models.nets.speech_recognizer import BLANK, INDEX, SpeechRecognizer
from rnnvoice.models.streaming.model_step import Posteriors
from rnnvoice.models.streaming.stream import Stream, StreamOutput, open_fronts
from rnnvoice.models.types import Decoder

# Chosen on new commands in training voices: 0.25 s split one in five utterances at a pause, 0.35 s
# one in forty, still within 0.4 s of the end of speech at the 90th percentile.
DEFAULT_ENDPOINT_S = 0.35
# Silence before any speech of an utterance that starts the decoder afresh (sherpa-onnx's first endpoint rule):
# nothing was said, so nothing is lost, and the decoder's work stays bounded in a long silence.
DEFAULT_INITIAL_SILENCE_S = 5.0
BLANK_ID = INDEX[BLANK]
# Steps of log-probabilities kept, so decoding can restart a little in the past (after a wake word).
HISTORY_S = 3.0
# A command starts after the first pause this long that follows its wake word, so that the end of a
# wake word detected early, still being spelled out, is not part of it. On new commands in training
# voices the shipped recognisers' pauses inside a command last 60 ms at the median and 150 ms at the
# 90th percentile: a command said with no pause after its wake word may lose its first words.
COMMAND_PAUSE_S = 0.15


@dataclass(frozen=True)
class Endpointing:
    """When an utterance ends: trailing silence after speech, silence before any (no result), a length limit."""

    endpoint_s: float = DEFAULT_ENDPOINT_S
    initial_silence_s: float = DEFAULT_INITIAL_SILENCE_S
    max_utterance_s: float = math.inf  # from its first speech


@dataclass(frozen=True)
class WordTiming:
    word: str
    start_s: float
    end_s: float
    confidence: float = 0.0


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
    alternatives: tuple[Alternative, ...] = ()  # final results, if asked: best first


class TranscriptionTask:
    """Transcripts from per-step token log-probabilities (S, V) in any chunking."""

    def __init__(
        self,
        model: SpeechRecognizer,
        decoder: Decoder = Decoder.BEAM,
        hints: list[str] | None = None,
        endpointing: Endpointing = Endpointing(),
        interim: bool = True,
        max_alternatives: int = 0,
    ):
        # A "step" here is a row of log-probabilities (a CTC frame), as the stream counts them: `rows_per_step` of
        # them a step of the model.
        self.step_s = model.config.features.step_s / model.rows_per_step
        self.audio_s = 0.0
        self.decoder_kind, self.hints = decoder, hints
        self.endpoint_steps = max(1, round(endpointing.endpoint_s / self.step_s))
        self.initial_steps = max(1, round(endpointing.initial_silence_s / self.step_s))
        self.max_steps = endpointing.max_utterance_s / self.step_s
        self.interim = interim
        self.max_alternatives = max_alternatives
        self.history = np.zeros((0, len(model.config.labels)))
        self.history_start = 0
        self._restart(0)

    def _restart(self, step: int, after_pause: bool = False) -> None:
        self.decoder = make_decoder(self.decoder_kind, self.hints)
        self.utterance_start = step
        self.first_voiced = None  # the utterance's first step whose most likely token was a character
        self.last_voiced = None  # and its last
        self.last_text = ""
        # Skip everything until the first pause (a run of steps whose most likely token is the blank).
        self.after_pause = after_pause
        self.pause_steps = 0

    def restart_at(self, time_s: float) -> list[Transcript]:
        """Forgets the current utterance and decodes again from the first pause after `time_s` (within the
        last few seconds): what ends a wake word is not part of the command that follows it."""
        step = max(round(time_s / self.step_s), self.history_start)
        self._restart(step, after_pause=True)
        buffered = self.history[step - self.history_start :]
        return self._decode(buffered, step) if len(buffered) else []

    def accept(
        self, posteriors: tuple[Posteriors, ...], first_steps: tuple[int, ...], final: bool, audio_s: float
    ) -> StreamOutput:
        log_probs, first_step = posteriors[0], first_steps[0]
        self.audio_s = audio_s
        end_step = first_step + len(log_probs)
        results = []
        if len(log_probs):
            self._remember(log_probs, first_step)
            results += self._decode(log_probs, first_step)
        if final:
            results += self._end_utterance(end_step)
        return StreamOutput(transcripts=results, time_s=end_step * self.step_s)

    def _end_utterance(self, step: int) -> list[Transcript]:
        """The utterance's final result, if it said anything; the next utterance starts at `step`."""
        best = self.decoder.final()
        results = [self._result(best, True, step)] if best.text else []
        self._restart(step)
        return results

    def _remember(self, log_probs: np.ndarray, first_step: int) -> None:
        keep = round(HISTORY_S / self.step_s)
        self.history = np.concatenate([self.history, log_probs])[-keep:]
        self.history_start = first_step + len(log_probs) - len(self.history)

    def _decode(self, log_probs: np.ndarray, first_step: int) -> list[Transcript]:
        """Feeds the decoder endpoint by endpoint: an utterance ends endpoint_steps after the last step whose
        most likely token was a character, initial_steps after its start if there was none, or max_steps after
        its first. Every decision rests on single steps, so chunking changes none."""
        results, i = [], 0
        blank = log_probs.argmax(axis=1) == BLANK_ID
        voiced = np.nonzero(~blank)[0]
        if self.after_pause:
            needed = max(1, round(COMMAND_PAUSE_S / self.step_s))
            for is_blank in blank:
                self.pause_steps = self.pause_steps + 1 if is_blank else 0
                if self.pause_steps >= needed:
                    self.after_pause = False
                    break
            else:
                return results
        while i < len(log_probs):
            silence_end = (
                self.utterance_start + self.initial_steps
                if self.last_voiced is None
                else self.last_voiced + 1 + self.endpoint_steps
            ) - first_step
            limit = (
                math.inf
                if self.first_voiced is None or math.isinf(self.max_steps)
                else math.ceil(self.first_voiced + self.max_steps) - first_step
            )
            end = min(silence_end, limit, len(log_probs))
            ahead = voiced[(voiced >= i) & (voiced < end)]
            if len(ahead):
                end = int(ahead[0]) + 1
                self.last_voiced = first_step + end - 1
                self.first_voiced = self.last_voiced if self.first_voiced is None else self.first_voiced
            self.decoder.accept(log_probs[i:end], first_step + i)
            i = end
            if end == limit or (not len(ahead) and end == silence_end):
                results += self._end_utterance(first_step + end)
        best = self.decoder.best
        if self.interim and best.text and best.text != self.last_text:
            self.last_text = best.text
            results.append(self._result(best, False, first_step + len(log_probs)))
        return results

    def _result(self, best: Hypothesis, is_final: bool, step: int) -> Transcript:
        s = self.step_s
        ranked = alternatives(self.decoder.scored(), max(1, self.max_alternatives)) if is_final else []
        # The beam's word posteriors where it has them (final results of the beam search), else each word's
        # lowest character probability; a beam whose best text is not `best` has none to give.
        if ranked and ranked[0].hypothesis.text == best.text:
            best = ranked[0].hypothesis
            confidences = word_confidences(ranked)
        else:
            ranked, confidences = [], [w.confidence for w in best.words()]
        words = tuple(
            WordTiming(w.text, round(w.start_step * s, 3), round((w.end_step + 1) * s, 3), round(c, 4))
            for w, c in zip(best.words(), confidences)
        )
        settled = sum(1 for t in best.steps if step - t > self.endpoint_steps)
        end_s = min(words[-1].end_s, self.audio_s) if words else step * s
        stability = 1.0 if is_final else round(settled / max(1, len(best.steps)), 3)
        return Transcript(
            best.text,
            is_final,
            words[0].start_s if words else step * s,
            end_s,
            round(best.confidence, 4),
            stability,
            words,
            round(min(step * s, self.audio_s), 3),
            tuple(ranked[: self.max_alternatives]),
        )


def transcription_stream(
    model: SpeechRecognizer,
    input_rate: int,
    decoder: Decoder = Decoder.BEAM,
    hints: list[str] | None = None,
    endpointing: Endpointing = Endpointing(),
    interim: bool = True,
    max_alternatives: int = 0,
) -> Stream:
    """Transcripts for a stream fed in chunks of any size."""
    task = TranscriptionTask(model, decoder, hints, endpointing, interim, max_alternatives)
    return Stream(*open_fronts([model], input_rate), task)
