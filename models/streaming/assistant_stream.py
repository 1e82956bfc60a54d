"""The voice-assistant flow on one stream: the wake word opens a command, the recogniser transcribes it
to its endpoint, the grammar reads its intent, then listening for the wake word resumes."""

from dataclasses import dataclass, field

import torch

from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.nets.speech_recognizer import SpeechRecognizer
from rnnvoice.models.nlu.intents import Intent, parse_intent
from rnnvoice.models.streaming.keyword_detector import DEFAULT_SENSITIVITY, Detection
from rnnvoice.models.streaming.keyword_stream import KeywordStream
from rnnvoice.models.streaming.transcription_stream import DEFAULT_ENDPOINT_S, Transcript, TranscriptionStream
from rnnvoice.models.vocabulary import WAKE_WORD

# A wake word with no command after it gives up after this long.
COMMAND_TIMEOUT_S = 6.0


@dataclass(frozen=True)
class Command:
    wake: Detection
    transcript: Transcript | None
    intent: Intent


@dataclass
class AssistantOutput:
    detections: list[Detection] = field(default_factory=list)  # the wake word, as soon as it is heard
    transcripts: list[Transcript] = field(default_factory=list)  # partial results of the open command
    commands: list[Command] = field(default_factory=list)
    time_s: float = 0.0


class AssistantStream:
    """Runs the keyword model and the recogniser side by side over the same audio, each with its own state."""

    def __init__(self, keywords: KeywordSpotter, recognizer: SpeechRecognizer, input_rate: int,
                 sensitivity: float = DEFAULT_SENSITIVITY, decoder: str = "beam", hints: list[str] | None = None,
                 endpoint_s: float = DEFAULT_ENDPOINT_S, interim: bool = True):
        self.spotter = KeywordStream(keywords, input_rate, {WAKE_WORD: sensitivity})
        self.transcriber = TranscriptionStream(recognizer, input_rate, decoder, hints, endpoint_s, interim)
        self.wake: Detection | None = None

    @property
    def audio_s(self) -> float:
        return self.spotter.audio_s

    @property
    def steps(self) -> int:
        return self.spotter.steps

    @property
    def compute_s(self) -> float:
        return self.spotter.compute_s + self.transcriber.compute_s

    def accept(self, samples: torch.Tensor) -> AssistantOutput:
        return self._combine(self.spotter.accept(samples), self.transcriber.accept(samples))

    def finish(self) -> AssistantOutput:
        return self._combine(self.spotter.finish(), self.transcriber.finish(), final=True)

    def _combine(self, heard, transcribed, final: bool = False) -> AssistantOutput:
        out = AssistantOutput(time_s=transcribed.time_s)
        results = transcribed.results if self.wake is not None else []
        for detection in heard.detections:
            if self.wake is None:
                self.wake = detection
                out.detections.append(detection)
                # The command starts where the wake word ended: decode again from there.
                results = self.transcriber.restart_at(detection.end_s)
        for result in results:
            if result.is_final:
                out.commands.append(Command(self.wake, result, parse_intent(result.text)))
                self.wake = None
                break
            out.transcripts.append(result)
        if self.wake is not None and (final or transcribed.time_s - self.wake.end_s > COMMAND_TIMEOUT_S):
            out.commands.append(Command(self.wake, None, Intent("unknown")))
            self.wake = None
        return out
