"""The voice-assistant flow on one stream: the wake word opens a command, the recogniser transcribes it
to its endpoint, the command's posteriors are searched within a context (the stream's, or the built-in assistant's
commands), then listening for the wake word resumes."""

import functools
from dataclasses import dataclass

import numpy as np

from rnnvoice.models.decoding.context_search import ContextSearch, Understanding
from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.nets.speech_recognizer import SpeechRecognizer
from rnnvoice.models.nlu.assistant_context import ASSISTANT_CONTEXT_FILE, assistant_slots
from rnnvoice.models.nlu.context import parse_context
from rnnvoice.models.nlu.intents import Intent
from rnnvoice.models.streaming.keyword_detector import DEFAULT_SENSITIVITY, Detection
from rnnvoice.models.streaming.keyword_stream import KeywordTask
from rnnvoice.models.streaming.model_step import Posteriors
from rnnvoice.models.streaming.stream import Stream, StreamOutput, open_fronts
from rnnvoice.models.streaming.transcription_stream import Endpointing, Transcript, TranscriptionTask
from rnnvoice.models.types import Decoder
from rnnvoice.models.vocabulary import WAKE_WORD
from rnnvoice.models.weights import WEIGHTS

# A wake word with no command after it gives up after this long.
COMMAND_TIMEOUT_S = 6.0


@dataclass(frozen=True)
class Command:
    wake: Detection
    transcript: Transcript | None
    intent: Intent
    understood: bool = True
    slot_types: dict[str, str] | None = None  # with a context: slot name -> its type


@functools.cache
def built_in_context() -> ContextSearch:
    """The built-in assistant's commands (models/weights/assistant_context.yml), compiled once per process."""
    return ContextSearch(parse_context((WEIGHTS / ASSISTANT_CONTEXT_FILE).read_text()))


def built_in_intent(read: Understanding) -> Intent:
    """A reading of the built-in context as the built-in intents give it: slots typed, or unknown."""
    return Intent(read.intent, assistant_slots(read.intent, read.slots)) if read.understood else Intent("unknown")


class AssistantTask:
    """Wake-word detection and transcription side by side: posteriors of the keyword model, then the recogniser's."""

    def __init__(self, spotter: KeywordTask, transcriber: TranscriptionTask, context: ContextSearch | None = None):
        """context: the stream's own; none: the built-in commands, read into their typed slots."""
        self.spotter = spotter
        self.transcriber = transcriber
        self.built_in = context is None
        self.context = built_in_context() if context is None else context
        self.wake: Detection | None = None
        self.command: list[np.ndarray] = []  # the recogniser's steps since the wake word
        self.command_start = 0  # the step they begin at

    def accept(
        self, posteriors: tuple[Posteriors, ...], first_steps: tuple[int, ...], final: bool, audio_s: float
    ) -> StreamOutput:
        heard = self.spotter.accept(posteriors[:1], first_steps[:1], final, audio_s)
        transcribed = self.transcriber.accept(posteriors[1:], first_steps[1:], final, audio_s)
        out = StreamOutput(time_s=transcribed.time_s)
        results = transcribed.transcripts if self.wake is not None else []
        if self.wake is not None:
            self.command.append(posteriors[1])
        for detection in heard.detections:
            if self.wake is None:
                self.wake = detection
                out.detections.append(detection)
                # The command starts where the wake word ended: decode again from there.
                results = self.transcriber.restart_at(detection.end_s)
                t = self.transcriber
                self.command_start = max(round(detection.end_s / t.step_s), t.history_start)
                self.command = [t.history[self.command_start - t.history_start :]]
        for result in results:
            if result.is_final:
                out.commands.append(self._command(result))
                self.wake = None
                break
            out.transcripts.append(result)
        if self.wake is not None and (final or transcribed.time_s - self.wake.end_s > COMMAND_TIMEOUT_S):
            out.commands.append(Command(self.wake, None, Intent("unknown"), False))
            self.wake = None
        return out

    def _command(self, result: Transcript) -> Command:
        """The command a final transcript ends: its intent from the context over the recogniser's steps from the
        wake word to the transcript's end."""
        steps, step_s = np.concatenate(self.command), self.transcriber.step_s
        # To the command's last word and a little after (the blanks that end it), not into what follows; it may
        # begin where the transcript does, after what the recogniser heard of the wake word's end.
        end = round(result.end_s / step_s) + self.transcriber.endpoint_steps - self.command_start
        lead = max(0, round(result.start_s / step_s) - self.command_start)
        read = self.context.search(steps[: max(1, end)], lead)
        self.command = []
        if self.built_in:  # the built-in intents' slots are typed already
            return Command(self.wake, result, built_in_intent(read), read.understood)
        intent = Intent(read.intent or "", read.slots)
        return Command(self.wake, result, intent, read.understood, self.context.context.slot_types)


def assistant_stream(
    keywords: KeywordSpotter,
    recognizer: SpeechRecognizer,
    input_rate: int,
    sensitivity: float = DEFAULT_SENSITIVITY,
    decoder: Decoder = Decoder.BEAM,
    hints: list[str] | None = None,
    endpointing: Endpointing = Endpointing(),
    interim: bool = True,
    max_alternatives: int = 0,
    context: ContextSearch | None = None,
) -> Stream:
    """Both models over the same audio, each with its own state; one front end when their features agree. Commands
    are read within the context, or the built-in assistant's."""
    task = AssistantTask(
        KeywordTask(keywords, {WAKE_WORD: sensitivity}),
        TranscriptionTask(recognizer, decoder, hints, endpointing, interim, max_alternatives),
        context,
    )
    return Stream(*open_fronts([keywords, recognizer], input_rate), task)
