"""Voice activity as a decision layer: speech begin and end events, and the silence a stream has gone without
speech, from what a task's model already computes (no model of its own)."""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.nets.speech_recognizer import BLANK, INDEX, SpeechRecognizer
from rnnvoice.models.streaming.model_step import Posteriors
from rnnvoice.models.streaming.stream import Stream, StreamOutput, Task

# Speech ends after this much non-speech: the recogniser's default endpoint, longer than the gaps between words.
HANGOVER_S = 0.35


class VoiceEventKind(StrEnum):
    BEGIN = "begin"
    END = "end"


@dataclass(frozen=True)
class VoiceEvent:
    kind: VoiceEventKind
    time_s: float  # when speech began, or ended (the event comes a hangover later)


def keyword_model_speech(posteriors: tuple[Posteriors, ...]) -> np.ndarray:
    """The keyword model's speech-activity output (the first lane): (S,) speech or not."""
    return posteriors[0][1] > 0.5


def recogniser_speech(posteriors: tuple[Posteriors, ...]) -> np.ndarray:
    """The recogniser (the first lane, where no keyword model runs) writing a character rather than the blank: (S,)
    speech or not."""
    return posteriors[0].argmax(axis=1) != INDEX[BLANK]


class VoiceActivityTask:
    """A task with voice activity on top: its output gains the speech events of its steps and the silence so far."""

    def __init__(self, task: Task, speech, step_s: float, events: bool = True):
        """speech: posteriors -> (S,) booleans; events: also report them (else only the silence is kept)."""
        self.task, self.speech, self.step_s, self.events = task, speech, step_s, events
        self.hangover = max(1, round(HANGOVER_S / step_s))
        self.last_speech: int | None = None  # the last step of speech
        self.in_speech = False

    def accept(
        self, posteriors: tuple[Posteriors, ...], first_steps: tuple[int, ...], final: bool, audio_s: float
    ) -> StreamOutput:
        out = self.task.accept(posteriors, first_steps, final, audio_s)
        events = []
        for step, is_speech in enumerate(self.speech(posteriors).tolist(), first_steps[0]):
            if is_speech:
                if not self.in_speech:
                    events.append(VoiceEvent(VoiceEventKind.BEGIN, self._time(step, audio_s)))
                self.in_speech, self.last_speech = True, step
            elif self.in_speech and step - self.last_speech >= self.hangover:
                events.append(VoiceEvent(VoiceEventKind.END, self._time(self.last_speech + 1, audio_s)))
                self.in_speech = False
        if final and self.in_speech:  # the stream ends in speech: so does its speech
            events.append(VoiceEvent(VoiceEventKind.END, self._time(self.last_speech + 1, audio_s)))
            self.in_speech = False
        quiet_since = 0.0 if self.last_speech is None else (self.last_speech + 1) * self.step_s
        out.silence_s = 0.0 if self.in_speech else max(0.0, min(out.time_s, audio_s) - quiet_since)
        out.voice = events if self.events else []
        return out

    def _time(self, step: int, audio_s: float) -> float:
        return round(min(step * self.step_s, audio_s), 3)


def with_voice_activity(stream: Stream, events: bool = True) -> Stream:
    """The stream with voice activity from its keyword model if it runs one (the first lane), else its recogniser."""
    model = stream.lanes[0][1].model
    if not isinstance(model, KeywordSpotter | SpeechRecognizer):
        raise ValueError("voice activity reads a keyword model's or a recogniser's outputs; the stream runs neither")
    speech = keyword_model_speech if isinstance(model, KeywordSpotter) else recogniser_speech
    # A row of posteriors: a step of the keyword model, a CTC frame of the recogniser (two a step on the embedding).
    stream.task = VoiceActivityTask(stream.task, speech, model.config.features.step_s / model.rows_per_step, events)
    return stream
