from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Task(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_UNSPECIFIED: _ClassVar[Task]
    TASK_KEYWORDS: _ClassVar[Task]
    TASK_TRANSCRIPTION: _ClassVar[Task]
    TASK_ASSISTANT: _ClassVar[Task]

class Cell(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CELL_UNSPECIFIED: _ClassVar[Cell]
    CELL_GRU: _ClassVar[Cell]
    CELL_LSTM: _ClassVar[Cell]

class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENCODING_UNSPECIFIED: _ClassVar[Encoding]
    ENCODING_PCM_S16LE: _ClassVar[Encoding]
    ENCODING_FLOAT32LE: _ClassVar[Encoding]
    ENCODING_MULAW: _ClassVar[Encoding]
    ENCODING_ALAW: _ClassVar[Encoding]

class Decoder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECODER_UNSPECIFIED: _ClassVar[Decoder]
    DECODER_GREEDY: _ClassVar[Decoder]
    DECODER_BEAM: _ClassVar[Decoder]

class StreamEnd(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STREAM_END_UNSPECIFIED: _ClassVar[StreamEnd]
    STREAM_END_COMPLETED: _ClassVar[StreamEnd]
    STREAM_END_DRAINED: _ClassVar[StreamEnd]
    STREAM_END_MAX_DURATION: _ClassVar[StreamEnd]
    STREAM_END_VOICE_ACTIVITY_TIMEOUT: _ClassVar[StreamEnd]
TASK_UNSPECIFIED: Task
TASK_KEYWORDS: Task
TASK_TRANSCRIPTION: Task
TASK_ASSISTANT: Task
CELL_UNSPECIFIED: Cell
CELL_GRU: Cell
CELL_LSTM: Cell
ENCODING_UNSPECIFIED: Encoding
ENCODING_PCM_S16LE: Encoding
ENCODING_FLOAT32LE: Encoding
ENCODING_MULAW: Encoding
ENCODING_ALAW: Encoding
DECODER_UNSPECIFIED: Decoder
DECODER_GREEDY: Decoder
DECODER_BEAM: Decoder
STREAM_END_UNSPECIFIED: StreamEnd
STREAM_END_COMPLETED: StreamEnd
STREAM_END_DRAINED: StreamEnd
STREAM_END_MAX_DURATION: StreamEnd
STREAM_END_VOICE_ACTIVITY_TIMEOUT: StreamEnd

class AudioFormat(_message.Message):
    __slots__ = ("sample_rate_hz", "encoding", "channels")
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    sample_rate_hz: int
    encoding: Encoding
    channels: int
    def __init__(self, sample_rate_hz: _Optional[int] = ..., encoding: _Optional[_Union[Encoding, str]] = ..., channels: _Optional[int] = ...) -> None: ...

class KeywordSetting(_message.Message):
    __slots__ = ("keyword", "sensitivity")
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    keyword: str
    sensitivity: float
    def __init__(self, keyword: _Optional[str] = ..., sensitivity: _Optional[float] = ...) -> None: ...

class PhraseSetting(_message.Message):
    __slots__ = ("phrase", "sensitivity")
    PHRASE_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    phrase: str
    sensitivity: float
    def __init__(self, phrase: _Optional[str] = ..., sensitivity: _Optional[float] = ...) -> None: ...

class KeywordConfig(_message.Message):
    __slots__ = ("keywords", "interim_scores", "phrases")
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    INTERIM_SCORES_FIELD_NUMBER: _ClassVar[int]
    PHRASES_FIELD_NUMBER: _ClassVar[int]
    keywords: _containers.RepeatedCompositeFieldContainer[KeywordSetting]
    interim_scores: bool
    phrases: _containers.RepeatedCompositeFieldContainer[PhraseSetting]
    def __init__(self, keywords: _Optional[_Iterable[_Union[KeywordSetting, _Mapping]]] = ..., interim_scores: _Optional[bool] = ..., phrases: _Optional[_Iterable[_Union[PhraseSetting, _Mapping]]] = ...) -> None: ...

class TranscriptionConfig(_message.Message):
    __slots__ = ("interim_results", "phrase_hints", "endpoint_silence_s", "decoder", "max_alternatives", "max_utterance_s", "initial_silence_s")
    INTERIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    PHRASE_HINTS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_SILENCE_S_FIELD_NUMBER: _ClassVar[int]
    DECODER_FIELD_NUMBER: _ClassVar[int]
    MAX_ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    MAX_UTTERANCE_S_FIELD_NUMBER: _ClassVar[int]
    INITIAL_SILENCE_S_FIELD_NUMBER: _ClassVar[int]
    interim_results: bool
    phrase_hints: _containers.RepeatedScalarFieldContainer[str]
    endpoint_silence_s: float
    decoder: Decoder
    max_alternatives: int
    max_utterance_s: float
    initial_silence_s: float
    def __init__(self, interim_results: _Optional[bool] = ..., phrase_hints: _Optional[_Iterable[str]] = ..., endpoint_silence_s: _Optional[float] = ..., decoder: _Optional[_Union[Decoder, str]] = ..., max_alternatives: _Optional[int] = ..., max_utterance_s: _Optional[float] = ..., initial_silence_s: _Optional[float] = ...) -> None: ...

class AssistantConfig(_message.Message):
    __slots__ = ("context", "context_yaml")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_YAML_FIELD_NUMBER: _ClassVar[int]
    context: str
    context_yaml: str
    def __init__(self, context: _Optional[str] = ..., context_yaml: _Optional[str] = ...) -> None: ...

class StreamConfig(_message.Message):
    __slots__ = ("task", "cell", "format", "keywords", "transcription", "assistant", "resumable", "enable_voice_activity_events", "voice_activity_timeout_s")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_FIELD_NUMBER: _ClassVar[int]
    RESUMABLE_FIELD_NUMBER: _ClassVar[int]
    ENABLE_VOICE_ACTIVITY_EVENTS_FIELD_NUMBER: _ClassVar[int]
    VOICE_ACTIVITY_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    task: Task
    cell: Cell
    format: AudioFormat
    keywords: KeywordConfig
    transcription: TranscriptionConfig
    assistant: AssistantConfig
    resumable: bool
    enable_voice_activity_events: bool
    voice_activity_timeout_s: float
    def __init__(self, task: _Optional[_Union[Task, str]] = ..., cell: _Optional[_Union[Cell, str]] = ..., format: _Optional[_Union[AudioFormat, _Mapping]] = ..., keywords: _Optional[_Union[KeywordConfig, _Mapping]] = ..., transcription: _Optional[_Union[TranscriptionConfig, _Mapping]] = ..., assistant: _Optional[_Union[AssistantConfig, _Mapping]] = ..., resumable: _Optional[bool] = ..., enable_voice_activity_events: _Optional[bool] = ..., voice_activity_timeout_s: _Optional[float] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("sequence", "data", "results_received")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    RESULTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    data: bytes
    results_received: int
    def __init__(self, sequence: _Optional[int] = ..., data: _Optional[bytes] = ..., results_received: _Optional[int] = ...) -> None: ...

class ResumeStream(_message.Message):
    __slots__ = ("token", "results_received")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESULTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    token: str
    results_received: int
    def __init__(self, token: _Optional[str] = ..., results_received: _Optional[int] = ...) -> None: ...

class EndOfAudio(_message.Message):
    __slots__ = ("results_received",)
    RESULTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    results_received: int
    def __init__(self, results_received: _Optional[int] = ...) -> None: ...

class StreamAudioRequest(_message.Message):
    __slots__ = ("config", "audio", "resume", "end")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    audio: AudioChunk
    resume: ResumeStream
    end: EndOfAudio
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., audio: _Optional[_Union[AudioChunk, _Mapping]] = ..., resume: _Optional[_Union[ResumeStream, _Mapping]] = ..., end: _Optional[_Union[EndOfAudio, _Mapping]] = ...) -> None: ...

class KeywordDetection(_message.Message):
    __slots__ = ("keyword", "score", "start_s", "end_s", "detected_s")
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    DETECTED_S_FIELD_NUMBER: _ClassVar[int]
    keyword: str
    score: float
    start_s: float
    end_s: float
    detected_s: float
    def __init__(self, keyword: _Optional[str] = ..., score: _Optional[float] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., detected_s: _Optional[float] = ...) -> None: ...

class KeywordScores(_message.Message):
    __slots__ = ("time_s", "scores")
    class ScoresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    time_s: float
    scores: _containers.ScalarMap[str, float]
    def __init__(self, time_s: _Optional[float] = ..., scores: _Optional[_Mapping[str, float]] = ...) -> None: ...

class WordInfo(_message.Message):
    __slots__ = ("word", "start_s", "end_s", "confidence")
    WORD_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    word: str
    start_s: float
    end_s: float
    confidence: float
    def __init__(self, word: _Optional[str] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., confidence: _Optional[float] = ...) -> None: ...

class SpeechAlternative(_message.Message):
    __slots__ = ("text", "score", "confidence")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    text: str
    score: float
    confidence: float
    def __init__(self, text: _Optional[str] = ..., score: _Optional[float] = ..., confidence: _Optional[float] = ...) -> None: ...

class TranscriptResult(_message.Message):
    __slots__ = ("text", "is_final", "stability", "confidence", "start_s", "end_s", "words", "alternatives")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    STABILITY_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    text: str
    is_final: bool
    stability: float
    confidence: float
    start_s: float
    end_s: float
    words: _containers.RepeatedCompositeFieldContainer[WordInfo]
    alternatives: _containers.RepeatedCompositeFieldContainer[SpeechAlternative]
    def __init__(self, text: _Optional[str] = ..., is_final: _Optional[bool] = ..., stability: _Optional[float] = ..., confidence: _Optional[float] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., words: _Optional[_Iterable[_Union[WordInfo, _Mapping]]] = ..., alternatives: _Optional[_Iterable[_Union[SpeechAlternative, _Mapping]]] = ...) -> None: ...

class Intent(_message.Message):
    __slots__ = ("name", "slots", "understood")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    UNDERSTOOD_FIELD_NUMBER: _ClassVar[int]
    name: str
    slots: _struct_pb2.Struct
    understood: bool
    def __init__(self, name: _Optional[str] = ..., slots: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., understood: _Optional[bool] = ...) -> None: ...

class AssistantCommand(_message.Message):
    __slots__ = ("wake_word", "transcript", "intent")
    WAKE_WORD_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    wake_word: KeywordDetection
    transcript: TranscriptResult
    intent: Intent
    def __init__(self, wake_word: _Optional[_Union[KeywordDetection, _Mapping]] = ..., transcript: _Optional[_Union[TranscriptResult, _Mapping]] = ..., intent: _Optional[_Union[Intent, _Mapping]] = ...) -> None: ...

class VoiceActivityEvent(_message.Message):
    __slots__ = ("kind", "time_s")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[VoiceActivityEvent.Kind]
        SPEECH_BEGIN: _ClassVar[VoiceActivityEvent.Kind]
        SPEECH_END: _ClassVar[VoiceActivityEvent.Kind]
    KIND_UNSPECIFIED: VoiceActivityEvent.Kind
    SPEECH_BEGIN: VoiceActivityEvent.Kind
    SPEECH_END: VoiceActivityEvent.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    kind: VoiceActivityEvent.Kind
    time_s: float
    def __init__(self, kind: _Optional[_Union[VoiceActivityEvent.Kind, str]] = ..., time_s: _Optional[float] = ...) -> None: ...

class StreamSummary(_message.Message):
    __slots__ = ("audio_s", "chunks", "frames", "compute_s", "detections", "finals", "end_reason")
    AUDIO_S_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_S_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    FINALS_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    audio_s: float
    chunks: int
    frames: int
    compute_s: float
    detections: int
    finals: int
    end_reason: StreamEnd
    def __init__(self, audio_s: _Optional[float] = ..., chunks: _Optional[int] = ..., frames: _Optional[int] = ..., compute_s: _Optional[float] = ..., detections: _Optional[int] = ..., finals: _Optional[int] = ..., end_reason: _Optional[_Union[StreamEnd, str]] = ...) -> None: ...

class StreamResumption(_message.Message):
    __slots__ = ("token", "window_s", "next_sequence")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    NEXT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    token: str
    window_s: float
    next_sequence: int
    def __init__(self, token: _Optional[str] = ..., window_s: _Optional[float] = ..., next_sequence: _Optional[int] = ...) -> None: ...

class AudioAck(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StreamAudioResponse(_message.Message):
    __slots__ = ("sequence", "detection", "scores", "summary", "transcript", "command", "resumption", "ack", "voice_activity")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    RESUMPTION_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    VOICE_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    detection: KeywordDetection
    scores: KeywordScores
    summary: StreamSummary
    transcript: TranscriptResult
    command: AssistantCommand
    resumption: StreamResumption
    ack: AudioAck
    voice_activity: VoiceActivityEvent
    def __init__(self, sequence: _Optional[int] = ..., detection: _Optional[_Union[KeywordDetection, _Mapping]] = ..., scores: _Optional[_Union[KeywordScores, _Mapping]] = ..., summary: _Optional[_Union[StreamSummary, _Mapping]] = ..., transcript: _Optional[_Union[TranscriptResult, _Mapping]] = ..., command: _Optional[_Union[AssistantCommand, _Mapping]] = ..., resumption: _Optional[_Union[StreamResumption, _Mapping]] = ..., ack: _Optional[_Union[AudioAck, _Mapping]] = ..., voice_activity: _Optional[_Union[VoiceActivityEvent, _Mapping]] = ...) -> None: ...

class RecognizeRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    audio: bytes
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., audio: _Optional[bytes] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("detections", "summary", "transcripts", "commands", "voice_activity")
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPTS_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    VOICE_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    detections: _containers.RepeatedCompositeFieldContainer[KeywordDetection]
    summary: StreamSummary
    transcripts: _containers.RepeatedCompositeFieldContainer[TranscriptResult]
    commands: _containers.RepeatedCompositeFieldContainer[AssistantCommand]
    voice_activity: _containers.RepeatedCompositeFieldContainer[VoiceActivityEvent]
    def __init__(self, detections: _Optional[_Iterable[_Union[KeywordDetection, _Mapping]]] = ..., summary: _Optional[_Union[StreamSummary, _Mapping]] = ..., transcripts: _Optional[_Iterable[_Union[TranscriptResult, _Mapping]]] = ..., commands: _Optional[_Iterable[_Union[AssistantCommand, _Mapping]]] = ..., voice_activity: _Optional[_Iterable[_Union[VoiceActivityEvent, _Mapping]]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("task", "cell", "name", "keywords", "parameters", "state_bytes", "hidden_size", "layers", "sample_rate_hz", "frame_rate_hz")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    STATE_BYTES_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_SIZE_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    task: Task
    cell: Cell
    name: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    parameters: int
    state_bytes: int
    hidden_size: int
    layers: int
    sample_rate_hz: int
    frame_rate_hz: float
    def __init__(self, task: _Optional[_Union[Task, str]] = ..., cell: _Optional[_Union[Cell, str]] = ..., name: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., parameters: _Optional[int] = ..., state_bytes: _Optional[int] = ..., hidden_size: _Optional[int] = ..., layers: _Optional[int] = ..., sample_rate_hz: _Optional[int] = ..., frame_rate_hz: _Optional[float] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "contexts")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    CONTEXTS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    contexts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., contexts: _Optional[_Iterable[str]] = ...) -> None: ...
