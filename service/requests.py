"""Checks a stream's configuration and turns it into plain values for a session."""

import math
import unicodedata
from dataclasses import dataclass, field

import grpc

from rnnvoice.models.audio.pcm import ENCODINGS as SAMPLE_TYPES
from rnnvoice.models.audio.pcm import SUPPORTED_RATES
from rnnvoice.models.decoding.context_search import ContextSearch
from rnnvoice.models.nets.speech_recognizer import INDEX, normalise
from rnnvoice.models.nlu.context import ContextError
from rnnvoice.models.streaming.keyword_detector import DEFAULT_SENSITIVITY
from rnnvoice.models.streaming.transcription_stream import DEFAULT_ENDPOINT_S, DEFAULT_INITIAL_SILENCE_S, Endpointing
from rnnvoice.models.types import Cell, Decoder, Task
from rnnvoice.models.vocabulary import WAKE_WORD
from rnnvoice.protos import pb
from rnnvoice.service.errors import StreamError, invalid, shown
from rnnvoice.service.registry import CELLS, ModelRegistry, inline_context

STREAM_TASKS = {
    pb.TASK_KEYWORDS: Task.KEYWORDS,
    pb.TASK_TRANSCRIPTION: Task.TRANSCRIPTION,
    pb.TASK_ASSISTANT: Task.ASSISTANT,
}
# The models each task runs.
TASK_MODELS = {
    Task.KEYWORDS: (Task.KEYWORDS,),
    Task.TRANSCRIPTION: (Task.TRANSCRIPTION,),
    Task.ASSISTANT: (Task.KEYWORDS, Task.TRANSCRIPTION),
}
ENCODINGS = {
    pb.ENCODING_PCM_S16LE: "pcm_s16le",
    pb.ENCODING_FLOAT32LE: "float32le",
    pb.ENCODING_MULAW: "mulaw",
    pb.ENCODING_ALAW: "alaw",
}
DECODERS = {pb.DECODER_UNSPECIFIED: Decoder.BEAM, pb.DECODER_BEAM: Decoder.BEAM, pb.DECODER_GREEDY: Decoder.GREEDY}
MAX_CHANNELS = 8
MAX_HINTS, MAX_HINT_CHARS = 100, 100
MAX_KEYWORD_CHARS = 32
ENDPOINT_RANGE_S = (0.1, 3.0)
MAX_UTTERANCE_RANGE_S = (1.0, 60.0)
INITIAL_SILENCE_RANGE_S = (0.5, 30.0)
VOICE_TIMEOUT_RANGE_S = (0.5, 3600.0)
MAX_ALTERNATIVES = 10
MAX_PHRASES, MAX_PHRASE_CHARS = 20, 50


@dataclass(frozen=True)
class StreamParams:
    task: Task
    cell: Cell
    sample_rate: int
    encoding: str
    channels: int
    sensitivities: dict[str, float] = field(default_factory=dict)
    interim_scores: bool = False
    interim_results: bool = False
    hints: tuple[str, ...] = ()
    endpointing: Endpointing = Endpointing()
    decoder: Decoder = Decoder.BEAM
    max_alternatives: int = 0
    phrases: dict[str, float] = field(default_factory=dict)  # keywords chosen at run time: text -> sensitivity
    voice_events: bool = False
    voice_timeout_s: float | None = None
    context: ContextSearch | None = None  # the assistant's commands read within it

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * self.channels * SAMPLE_TYPES[self.encoding].itemsize


def _enum_name(enum, value: int) -> str:
    try:
        return enum.Name(value)
    except ValueError:
        return str(value)


def parse_config(config: pb.StreamConfig, registry: ModelRegistry) -> StreamParams:
    """Raises StreamError with the status and a message that says what to fix."""
    cells = {v: k for k, v in CELLS.items()}
    if config.task not in STREAM_TASKS:
        raise invalid(
            f"unknown task {_enum_name(pb.Task, config.task)}; set task to one of "
            f"{', '.join(pb.Task.Name(t) for t in STREAM_TASKS)}"
        )
    if config.cell not in cells:
        raise invalid(f"unknown cell {_enum_name(pb.Cell, config.cell)}; set cell to CELL_GRU or CELL_LSTM")
    task, cell = STREAM_TASKS[config.task], cells[config.cell]
    for model_task in TASK_MODELS[task]:
        if task == Task.ASSISTANT and (model_task, cell) not in registry.models:
            raise StreamError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"assistant mode needs a {model_task} model with a {cell.upper()} cell, and this "
                "server has none loaded; start it with both, or use another task",
            )
        registry.get(model_task, cell)
    fmt = config.format
    if fmt.sample_rate_hz not in SUPPORTED_RATES:
        raise invalid(
            f"unsupported sample rate {fmt.sample_rate_hz} Hz; use one of "
            f"{', '.join(map(str, SUPPORTED_RATES))} (the server resamples)"
        )
    if fmt.encoding not in ENCODINGS:
        raise invalid(
            f"unsupported encoding {_enum_name(pb.Encoding, fmt.encoding)}; use one of "
            f"{', '.join(pb.Encoding.Name(e) for e in ENCODINGS)}"
        )
    channels = fmt.channels or 1
    if channels > MAX_CHANNELS:
        raise invalid(f"{channels} channels; at most {MAX_CHANNELS} are mixed down")
    params = dict(
        task=task,
        cell=cell,
        sample_rate=fmt.sample_rate_hz,
        encoding=ENCODINGS[fmt.encoding],
        channels=channels,
        voice_events=config.enable_voice_activity_events,
        voice_timeout_s=_optional_range(config, "voice_activity_timeout_s", None, VOICE_TIMEOUT_RANGE_S),
    )
    if config.keywords.phrases:
        if task != Task.KEYWORDS:
            raise invalid("phrases are keywords chosen at run time, for TASK_KEYWORDS; drop them for this task")
        params["phrases"] = _phrases(config.keywords.phrases)
    if task in (Task.KEYWORDS, Task.ASSISTANT):
        keywords = registry.get(Task.KEYWORDS, cell).config.keywords if task == Task.KEYWORDS else (WAKE_WORD,)
        params |= _keywords(config.keywords, keywords, cell, everything=not params.get("phrases"))
    if task in (Task.TRANSCRIPTION, Task.ASSISTANT):
        params |= _transcription(config.transcription)
    if config.HasField("assistant"):
        if task != Task.ASSISTANT:
            raise invalid("assistant settings (a context) are for TASK_ASSISTANT; drop them for this task")
        params["context"] = _context(config.assistant, registry)
    return StreamParams(**params)


def _context(config: pb.AssistantConfig, registry: ModelRegistry) -> ContextSearch | None:
    """The context a stream names or sends; INVALID_ARGUMENT for an unknown name or a bad context, with its line."""
    if config.context and config.context_yaml:
        raise invalid("set assistant.context (a context the server loaded) or assistant.context_yaml, not both")
    if config.context:
        if config.context not in registry.contexts:
            known = ", ".join(sorted(registry.contexts)) or "none (see `rnnvoice serve --context`)"
            raise invalid(f"unknown context {shown(config.context)}; this server has {known}")
        return registry.contexts[config.context]
    if not config.context_yaml:
        return None
    try:
        return inline_context(config.context_yaml)
    except ContextError as e:
        raise invalid(f"assistant.context_yaml: {e}") from None


def _optional_range(message, name: str, default: float | None, allowed: tuple[float, float]) -> float | None:
    """An optional field's value (default when absent), checked against its range."""
    if not message.HasField(name):
        return default
    value, (low, high) = getattr(message, name), allowed
    if not low <= value <= high:
        raise invalid(f"{name} {value:g} is outside {low:g} to {high:g} seconds")
    return value


def _sensitivity(setting, what: str) -> float:
    sensitivity = setting.sensitivity if setting.HasField("sensitivity") else DEFAULT_SENSITIVITY
    if not 0.0 <= sensitivity <= 1.0:
        raise invalid(f"sensitivity {sensitivity} for {what} is outside 0 to 1")
    return sensitivity


def _phrases(settings) -> dict[str, float]:
    if len(settings) > MAX_PHRASES:
        raise invalid(f"{len(settings)} phrases; send at most {MAX_PHRASES}")
    phrases = {}
    for i, setting in enumerate(settings):
        if len(setting.phrase) > MAX_PHRASE_CHARS:
            raise invalid(f"phrase {i} has {len(setting.phrase)} characters; at most {MAX_PHRASE_CHARS}")
        text = _spoken_text(setting.phrase, f"phrase {i}")
        if text in phrases:
            raise invalid(f"phrase {shown(setting.phrase)} is listed twice")
        phrases[text] = _sensitivity(setting, f"phrase {shown(setting.phrase)}")
    return phrases


def _keywords(config: pb.KeywordConfig, keywords: tuple[str, ...], cell: str, everything: bool) -> dict:
    """everything: no keyword listed means all of them (else none: the stream spots only its phrases)."""
    sensitivities = {}
    for setting in config.keywords:
        if len(setting.keyword) > MAX_KEYWORD_CHARS:
            raise invalid(
                f"a keyword name of {len(setting.keyword)} characters; names have at most "
                f"{MAX_KEYWORD_CHARS} (see ListModels)"
            )
        if setting.keyword not in keywords:
            raise invalid(
                f"unknown keyword {shown(setting.keyword)}; the {cell.upper()} model knows {', '.join(keywords)}"
            )
        if setting.keyword in sensitivities:
            raise invalid(f"keyword {shown(setting.keyword)} is listed twice")
        sensitivities[setting.keyword] = _sensitivity(setting, shown(setting.keyword))
    if not sensitivities and everything:
        sensitivities = {k: DEFAULT_SENSITIVITY for k in keywords}
    return {"sensitivities": sensitivities, "interim_scores": config.interim_scores}


def _transcription(config: pb.TranscriptionConfig) -> dict:
    if len(config.phrase_hints) > MAX_HINTS:
        raise invalid(f"{len(config.phrase_hints)} phrase hints; send at most {MAX_HINTS}")
    hints = []
    for i, phrase in enumerate(config.phrase_hints):
        if len(phrase) > MAX_HINT_CHARS:
            raise invalid(f"phrase hint {i} has {len(phrase)} characters; at most {MAX_HINT_CHARS}")
        hints.append(_spoken_text(phrase, f"phrase hint {i}"))
    endpointing = Endpointing(
        _optional_range(config, "endpoint_silence_s", DEFAULT_ENDPOINT_S, ENDPOINT_RANGE_S),
        _optional_range(config, "initial_silence_s", DEFAULT_INITIAL_SILENCE_S, INITIAL_SILENCE_RANGE_S),
        _optional_range(config, "max_utterance_s", math.inf, MAX_UTTERANCE_RANGE_S),
    )
    if config.decoder not in DECODERS:
        raise invalid(f"unknown decoder {_enum_name(pb.Decoder, config.decoder)}; use DECODER_GREEDY or DECODER_BEAM")
    if config.max_alternatives > MAX_ALTERNATIVES:
        raise invalid(f"max_alternatives {config.max_alternatives} is more than {MAX_ALTERNATIVES}")
    return {
        "interim_results": config.interim_results,
        "hints": tuple(hints),
        "endpointing": endpointing,
        "decoder": DECODERS[config.decoder],
        "max_alternatives": config.max_alternatives,
    }


def _spoken_text(text: str, what: str) -> str:
    """Client text the recogniser is to listen for, as it writes it (accents folded); INVALID_ARGUMENT if it has
    letters the recogniser cannot write, or none at all."""
    folded = fold_accents(text)
    foreign = sorted({c for c in folded if c.isalpha() and c not in INDEX})
    if foreign:
        raise invalid(
            f"{what} ({shown(text)}) has letters the recogniser cannot write "
            f"({''.join(foreign[:10])}); it writes a to z and apostrophes (accents are dropped)"
        )
    spoken = normalise(folded)
    if not any(c.isalpha() for c in spoken):
        raise invalid(f"{what} ({shown(text)}) has no letters; spell numbers and symbols as words")
    return spoken


def fold_accents(text: str) -> str:
    """Lower case with accents and ligatures taken apart and the marks dropped: "Héllo" -> "hello",
    "Straße" -> "strasse", "ﬁx" -> "fix". Letters of other scripts stay as they are."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
