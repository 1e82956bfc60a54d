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
TASK_UNSPECIFIED: Task
TASK_KEYWORDS: Task
CELL_UNSPECIFIED: Cell
CELL_GRU: Cell
CELL_LSTM: Cell
ENCODING_UNSPECIFIED: Encoding
ENCODING_PCM_S16LE: Encoding
ENCODING_FLOAT32LE: Encoding

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

class KeywordConfig(_message.Message):
    __slots__ = ("keywords", "interim_scores")
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    INTERIM_SCORES_FIELD_NUMBER: _ClassVar[int]
    keywords: _containers.RepeatedCompositeFieldContainer[KeywordSetting]
    interim_scores: bool
    def __init__(self, keywords: _Optional[_Iterable[_Union[KeywordSetting, _Mapping]]] = ..., interim_scores: _Optional[bool] = ...) -> None: ...

class StreamConfig(_message.Message):
    __slots__ = ("task", "cell", "format", "keywords")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    task: Task
    cell: Cell
    format: AudioFormat
    keywords: KeywordConfig
    def __init__(self, task: _Optional[_Union[Task, str]] = ..., cell: _Optional[_Union[Cell, str]] = ..., format: _Optional[_Union[AudioFormat, _Mapping]] = ..., keywords: _Optional[_Union[KeywordConfig, _Mapping]] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("sequence", "data")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    data: bytes
    def __init__(self, sequence: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class StreamAudioRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    audio: AudioChunk
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., audio: _Optional[_Union[AudioChunk, _Mapping]] = ...) -> None: ...

class KeywordDetection(_message.Message):
    __slots__ = ("keyword", "score", "start_s", "end_s")
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    keyword: str
    score: float
    start_s: float
    end_s: float
    def __init__(self, keyword: _Optional[str] = ..., score: _Optional[float] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ...) -> None: ...

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

class StreamSummary(_message.Message):
    __slots__ = ("audio_s", "chunks", "frames", "compute_s", "detections")
    AUDIO_S_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_S_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    audio_s: float
    chunks: int
    frames: int
    compute_s: float
    detections: int
    def __init__(self, audio_s: _Optional[float] = ..., chunks: _Optional[int] = ..., frames: _Optional[int] = ..., compute_s: _Optional[float] = ..., detections: _Optional[int] = ...) -> None: ...

class StreamAudioResponse(_message.Message):
    __slots__ = ("sequence", "detection", "scores", "summary")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    detection: KeywordDetection
    scores: KeywordScores
    summary: StreamSummary
    def __init__(self, sequence: _Optional[int] = ..., detection: _Optional[_Union[KeywordDetection, _Mapping]] = ..., scores: _Optional[_Union[KeywordScores, _Mapping]] = ..., summary: _Optional[_Union[StreamSummary, _Mapping]] = ...) -> None: ...

class RecognizeRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    audio: bytes
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., audio: _Optional[bytes] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("detections", "summary")
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    detections: _containers.RepeatedCompositeFieldContainer[KeywordDetection]
    summary: StreamSummary
    def __init__(self, detections: _Optional[_Iterable[_Union[KeywordDetection, _Mapping]]] = ..., summary: _Optional[_Union[StreamSummary, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...
