"""What a keyword model costs to run: multiply-adds, int8 weights, engine CPU per second of audio, cell throughput.

CPU is measured in-process with `time.process_time` (this process's CPU, every thread), so that other work on a
shared machine slows the wall clock but not the figure. Shapes: B streams, L layers, H hidden size.
"""

import io
import statistics
import time
import warnings
from collections.abc import Callable

import torch

from rnnvoice.models.audio.features import FeatureConfig
from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.streaming.frontend import FrontEnd, front_end_steps
from rnnvoice.models.streaming.keyword_stream import keyword_stream
from rnnvoice.models.streaming.stream import step_streams
from rnnvoice.models.types import Cell

__all__ = [
    "cell_throughput",
    "engine_cpu_ms",
    "front_end_cpu_ms",
    "multiply_adds_per_audio_s",
    "quantized",
    "weight_bytes",
]

# Weight matrices a layer multiplies its input and its state by: GRU reset, update, new; LSTM input, forget, cell,
# output.
GATES = {Cell.GRU: 3, Cell.LSTM: 4}
CHUNK_S = 0.1  # what a client sends per request


def multiply_adds_per_audio_s(model: KeywordSpotter) -> float:
    """Multiply-adds of one stream's second of audio, from the layer shapes: the projection, each layer's gates
    (input and state, H x H each, as the projection makes the first layer's input H wide) and the head, once per
    model step. Biases, activations and the front end are left out."""
    c = model.config
    h = c.hidden_size
    per_step = c.features.dim * h + c.num_layers * GATES[c.cell] * 2 * h * h + h * model.head.out_features
    return per_step * c.features.step_rate


def quantized(model: KeywordSpotter) -> KeywordSpotter:
    """A copy with the cell and the head in int8 (`quantize_dynamic`: int8 weights, activations quantised on the
    fly), the projection left in float; the state stays float32."""
    with warnings.catch_warnings():  # torch.ao.quantization warns of its move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {"rnn", "head"}, dtype=torch.qint8)


def weight_bytes(model: KeywordSpotter) -> int:
    """Bytes of the model's saved weights (int8 layers as torch packs them, with their scales)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def _spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _cpu_ms_per_audio_s(
    open_streams: Callable[[], list],
    feed: Callable[[list, torch.Tensor], None],
    audio: torch.Tensor,
    rate: int,
    streams: int,
    repeats: int,
) -> tuple[float, float]:
    """CPU ms per second of audio per stream: `open_streams()` fed the recording in 100 ms chunks (`feed(live,
    chunk)` each), timed apart from opening them. Mean and spread over `repeats` runs."""
    step = round(CHUNK_S * rate)
    chunks = [audio[i : i + step] for i in range(0, len(audio), step)]
    spent = []
    for _ in range(repeats):
        live = open_streams()
        started = time.process_time()
        for chunk in chunks:
            feed(live, chunk)
        spent.append(1000 * (time.process_time() - started) / (streams * len(audio) / rate))
    return _spread(spent)


def engine_cpu_ms(
    model: KeywordSpotter, audio: torch.Tensor, rate: int, streams: int, batched: bool, repeats: int = 3
) -> tuple[float, float]:
    """CPU ms per second of audio per stream through the serving engine (front end, model step, detector):
    `streams` keyword streams fed the recording in 100 ms chunks, each chunk of all of them stepped together
    (`step_streams`, as the batch scheduler does) or stream by stream. Mean and spread over `repeats` runs."""

    def feed(live: list, chunk: torch.Tensor) -> None:
        outputs = step_streams([(s, chunk) for s in live]) if batched else [s.accept(chunk) for s in live]
        failed = next((o for o in outputs if isinstance(o, Exception)), None)
        if failed is not None:
            raise failed

    return _cpu_ms_per_audio_s(
        lambda: [keyword_stream(model, rate) for _ in range(streams)], feed, audio, rate, streams, repeats
    )


def front_end_cpu_ms(
    config: FeatureConfig, audio: torch.Tensor, rate: int, streams: int, batched: bool, repeats: int = 3
) -> tuple[float, float]:
    """The same as `engine_cpu_ms` for the front end alone (resampling, then log-mels or the speech embedding):
    what every model of that front end pays before its cell does anything, so that the cells' own cost can be
    told apart from it."""

    def feed(fronts: list, chunk: torch.Tensor) -> None:
        if batched:
            front_end_steps(config, [f.features for f in fronts], [f.buffer(chunk) for f in fronts])
        else:
            for front in fronts:
                front.accept(chunk)

    return _cpu_ms_per_audio_s(
        lambda: [FrontEnd(config, rate) for _ in range(streams)], feed, audio, rate, streams, repeats
    )


@torch.inference_mode()
def cell_throughput(model: KeywordSpotter, batch: int, repeats: int = 3, min_s: float = 0.05) -> tuple[float, float]:
    """Stream-steps per CPU second of the model's bare recurrent layers: one step of `batch` streams at once,
    repeated for at least `min_s`. Mean and spread over `repeats` runs."""
    x = torch.randn(batch, 1, model.config.hidden_size)
    state = model.initial_state(batch)
    model.rnn(x, state)  # warm-up: first calls allocate
    rates = []
    for _ in range(repeats):
        steps, started = 0, time.process_time()
        while (spent := time.process_time() - started) < min_s or steps == 0:
            model.rnn(x, state)
            steps += 1
        rates.append(steps * batch / spent)
    return _spread(rates)
