"""Checks a stream's configuration and turns it into plain values for a session."""

from dataclasses import dataclass

from rnnvoice.models.audio import SUPPORTED_RATES
from rnnvoice.models.detector import DEFAULT_SENSITIVITY
from rnnvoice.protos import pb
from rnnvoice.service.errors import invalid
from rnnvoice.service.registry import CELLS, TASKS, ModelRegistry

ENCODINGS = {pb.ENCODING_PCM_S16LE: "pcm_s16le", pb.ENCODING_FLOAT32LE: "float32le"}
MAX_CHANNELS = 8


@dataclass(frozen=True)
class StreamParams:
    task: str
    cell: str
    sample_rate: int
    encoding: str
    channels: int
    sensitivities: dict[str, float]
    interim_scores: bool

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * self.channels * (2 if self.encoding == "pcm_s16le" else 4)


def _enum_name(enum, value: int) -> str:
    try:
        return enum.Name(value)
    except ValueError:
        return str(value)


def parse_config(config: pb.StreamConfig, registry: ModelRegistry) -> StreamParams:
    """Raises StreamError with the status and a message that says what to fix."""
    tasks = {v: k for k, v in TASKS.items()}
    cells = {v: k for k, v in CELLS.items()}
    if config.task not in tasks:
        raise invalid(f"unknown task {_enum_name(pb.Task, config.task)}; set task to one of "
                      f"{', '.join(pb.Task.Name(t) for t in tasks)}")
    if config.cell not in cells:
        raise invalid(f"unknown cell {_enum_name(pb.Cell, config.cell)}; set cell to CELL_GRU or CELL_LSTM")
    task, cell = tasks[config.task], cells[config.cell]
    model = registry.get(task, cell)
    fmt = config.format
    if fmt.sample_rate_hz not in SUPPORTED_RATES:
        raise invalid(f"unsupported sample rate {fmt.sample_rate_hz} Hz; use one of "
                      f"{', '.join(map(str, SUPPORTED_RATES))} (the server resamples)")
    if fmt.encoding not in ENCODINGS:
        raise invalid(f"unsupported encoding {_enum_name(pb.Encoding, fmt.encoding)}; "
                      "use ENCODING_PCM_S16LE or ENCODING_FLOAT32LE")
    channels = fmt.channels or 1
    if channels > MAX_CHANNELS:
        raise invalid(f"{channels} channels; at most {MAX_CHANNELS} are mixed down")
    keywords = [k for k in model.config.labels if not k.startswith("_")]
    sensitivities = {}
    for setting in config.keywords.keywords:
        if setting.keyword not in keywords:
            raise invalid(f"unknown keyword {setting.keyword!r}; the {cell.upper()} model knows {', '.join(keywords)}")
        if setting.keyword in sensitivities:
            raise invalid(f"keyword {setting.keyword!r} is listed twice")
        sensitivity = setting.sensitivity if setting.HasField("sensitivity") else DEFAULT_SENSITIVITY
        if not 0.0 <= sensitivity <= 1.0:
            raise invalid(f"sensitivity {sensitivity} for {setting.keyword!r} is outside 0 to 1")
        sensitivities[setting.keyword] = sensitivity
    if not sensitivities:
        sensitivities = {k: DEFAULT_SENSITIVITY for k in keywords}
    return StreamParams(task, cell, fmt.sample_rate_hz, ENCODINGS[fmt.encoding], channels, sensitivities,
                        config.keywords.interim_scores)
