"""The voice-assistant flow on one stream: the wake word opens a command, the recogniser transcribes it
to its endpoint, the grammar reads its intent, then listening for the wake word resumes."""

from dataclasses import dataclass

from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.nets.speech_recognizer import SpeechRecognizer
from rnnvoice.models.nlu.intents import Intent, parse_intent
from rnnvoice.models.streaming.keyword_detector import DEFAULT_SENSITIVITY, Detection
from rnnvoice.models.streaming.keyword_stream import KeywordTask
from rnnvoice.models.streaming.model_step import Posteriors
from rnnvoice.models.streaming.stream import Stream, StreamOutput, open_fronts
from rnnvoice.models.streaming.transcription_stream import Endpointing, Transcript, TranscriptionTask
from rnnvoice.models.types import Decoder
from rnnvoice.models.vocabulary import WAKE_WORD

# A wake word with no command after it gives up after this long.
COMMAND_TIMEOUT_S = 6.0


@dataclass(frozen=True)
class Command:
    wake: Detection
    transcript: Transcript | None
    intent: Intent


class AssistantTask:
    """Wake-word detection and transcription side by side: posteriors of the keyword model, then the recogniser's."""

    def __init__(self, spotter: KeywordTask, transcriber: TranscriptionTask):
        self.spotter = spotter
        self.transcriber = transcriber
        self.wake: Detection | None = None

    def accept(
        self, posteriors: tuple[Posteriors, ...], first_steps: tuple[int, ...], final: bool, audio_s: float
    ) -> StreamOutput:
        heard = self.spotter.accept(posteriors[:1], first_steps[:1], final, audio_s)
        transcribed = self.transcriber.accept(posteriors[1:], first_steps[1:], final, audio_s)
        out = StreamOutput(time_s=transcribed.time_s)
        results = transcribed.transcripts if self.wake is not None else []
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
) -> Stream:
    """Both models over the same audio, each with its own state; one front end when their features agree."""
    task = AssistantTask(
        KeywordTask(keywords, {WAKE_WORD: sensitivity}),
        TranscriptionTask(recognizer, decoder, hints, endpointing, interim, max_alternatives),
    )
    return Stream(*open_fronts([keywords, recognizer], input_rate), task)
