"""One client stream through the engine's three layers: front end, model step, task decisions.

A `Stream` owns its front ends and its model lanes' state, and hands posteriors to a task (keyword detection,
transcription, the assistant's flow) that knows nothing of audio or models. `step_streams` takes a chunk of
each of any number of streams through the three layers, every model stepped once over all of them; a stream's
own `accept` is `step_streams` of one. A scheduler that batches streams calls it with many: the same code.
"""

import functools
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from rnnvoice.models.audio.features import Block
from rnnvoice.models.streaming.frontend import FrontEnd, front_end_steps
from rnnvoice.models.streaming.model_step import ModelLane, Posteriors, step_lanes

if TYPE_CHECKING:
    from rnnvoice.models.streaming.assistant_stream import Command
    from rnnvoice.models.streaming.keyword_detector import Detection
    from rnnvoice.models.streaming.transcription_stream import Transcript
    from rnnvoice.models.streaming.voice_activity import VoiceEvent


@dataclass
class StreamOutput:
    """What a chunk produced, whatever the task: the one shape every consumer reads."""

    detections: list["Detection"] = field(default_factory=list)
    transcripts: list["Transcript"] = field(default_factory=list)  # partial and final (assistant: partial only)
    commands: list["Command"] = field(default_factory=list)
    smoothed: np.ndarray | None = None  # keywords: smoothed class posteriors of the chunk's steps (S, C)
    scores: dict[str, float] | None = None  # keywords, if asked: the reported keywords' scores at the last step
    time_s: float = 0.0  # the end of the chunk's last step on the stream's clock
    voice: list["VoiceEvent"] = field(default_factory=list)  # speech begin and end, if asked
    silence_s: float = 0.0  # with voice activity on: audio since speech last ended (or since the start), else 0

    def merge(self, other: "StreamOutput") -> "StreamOutput":
        """Two tasks' outputs of the same steps as one (detections in the order they were decided)."""
        return StreamOutput(
            detections=sorted(self.detections + other.detections, key=lambda d: d.detected_s),
            transcripts=self.transcripts + other.transcripts,
            commands=self.commands + other.commands,
            smoothed=self.smoothed if self.smoothed is not None else other.smoothed,
            scores=None
            if self.scores is None and other.scores is None
            else {**(self.scores or {}), **(other.scores or {})},
            time_s=max(self.time_s, other.time_s),
            voice=self.voice + other.voice,
            silence_s=max(self.silence_s, other.silence_s),
        )

    @property
    def finals(self) -> int:
        """Final transcripts and commands."""
        return sum(t.is_final for t in self.transcripts) + len(self.commands)


class Task(Protocol):
    """Decisions from the posteriors of each lane's new steps, lane l's being steps first_steps[l], first_steps[l]
    + 1, ...: lanes of models of other step rates (the speech embedding's 80 ms, log-mels' 30 ms) count apart.

    A kind of task may also define `accept_together(tasks, posteriors, first_steps, finals, audio_s)`: `accept`
    of many streams' tasks at once, which `step_streams` then calls with every such stream of a batch.
    """

    def accept(
        self, posteriors: tuple[Posteriors, ...], first_steps: tuple[int, ...], final: bool, audio_s: float
    ) -> StreamOutput: ...


class SideBySide:
    """Tasks on the same stream, each reading its own lanes (a slice of them); their outputs merged."""

    def __init__(self, tasks: list[tuple[Task, slice]]):
        self.tasks = tasks

    def accept(
        self, posteriors: tuple[Posteriors, ...], first_steps: tuple[int, ...], final: bool, audio_s: float
    ) -> StreamOutput:
        return functools.reduce(
            StreamOutput.merge,
            [task.accept(posteriors[lanes], first_steps[lanes], final, audio_s) for task, lanes in self.tasks],
        )


def step_counts(posteriors: tuple[Posteriors, ...] | list[Posteriors]) -> tuple[int, ...]:
    """Steps in each lane's posteriors: its rows (a recogniser's CTC frames, `tokens_per_step` a model step)."""
    return tuple(len(p[0] if isinstance(p, tuple) else p) for p in posteriors)


class Stream:
    """Front ends (one per distinct feature config), one lane per model, and the task on top."""

    def __init__(self, fronts: list[FrontEnd], lanes: list[tuple[int, ModelLane]], task: Task):
        self.fronts = fronts
        self.lanes = lanes  # (index of the front end it reads, lane)
        self.task = task
        self.steps = (0,) * len(lanes)  # each lane's steps so far
        self.compute_s = 0.0

    @property
    def audio_s(self) -> float:
        return self.fronts[0].audio_s

    @property
    def input_rate(self) -> int:
        return self.fronts[0].input_rate

    def buffer(self, samples: torch.Tensor | None) -> list[Block]:
        """Front end, first half: (T,) samples, or None for the end of the stream -> each front end's block of
        new frames (see `frames_of`)."""
        return [front.buffer(samples) for front in self.fronts]

    def lane_steps(self, steps: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each front end's new steps (S, D) -> each lane's."""
        return [steps[f] for f, _ in self.lanes]

    def decide(self, posteriors: list[Posteriors], final: bool) -> StreamOutput:
        """Task decisions on each lane's posteriors of the new steps."""
        started = time.perf_counter()
        out = self.task.accept(tuple(posteriors), self.steps, final, self.audio_s)
        self.count_steps(posteriors)
        self.compute_s += time.perf_counter() - started
        return out

    def count_steps(self, posteriors) -> None:
        self.steps = tuple(s + n for s, n in zip(self.steps, step_counts(posteriors)))

    def accept(self, samples: torch.Tensor) -> StreamOutput:
        """samples: (T,) mono float at the input rate."""
        return self._alone(samples)

    def finish(self) -> StreamOutput:
        """The stream's last results, after a short silent tail."""
        return self._alone(None)

    def _alone(self, samples: torch.Tensor | None) -> StreamOutput:
        out = step_streams([(self, samples)])[0]
        if isinstance(out, BaseException):
            raise out
        return out


# A chunk of one stream: its samples (T,), or None for the end of the stream.
Chunk = tuple[Stream, torch.Tensor | None]


def step_streams(
    chunks: list[Chunk], max_batch: int = 1 << 30, batched: Callable[[object, int], None] | None = None
) -> list[StreamOutput | Exception]:
    """One chunk of each stream (at most one per stream) through front end, model and decisions, every model
    stepped over the lanes of all the streams at once, at most `max_batch` lanes a step.

    Each stream's output, or the exception its chunk raised: one stream's failure is not the others'.
    `batched(model, lanes)` hears of every batched step. A stream is charged its share of each step.
    """
    results: list[StreamOutput | Exception | None] = [None] * len(chunks)
    features = _front_ends(chunks, results)
    posteriors = _model_steps(chunks, features, max_batch, batched)
    for i in range(len(chunks)):
        failed = [p for p in posteriors[i] if isinstance(p, Exception)]
        if results[i] is None and failed:
            results[i] = failed[0]
    _decisions(chunks, posteriors, results)
    return results


def _front_ends(chunks: list[Chunk], results: list) -> dict[int, list[torch.Tensor]]:
    """Each chunk's new steps per lane; per feature config, one transform over the new frames of all streams
    (`front_end_steps`). A chunk that fails here gets its exception in `results`."""
    started = time.perf_counter()
    blocks = {}  # chunk -> each of its front ends' block of new frames
    for i, (stream, samples) in enumerate(chunks):
        try:
            blocks[i] = stream.buffer(samples)
        except Exception as e:  # handed back to the stream's caller
            results[i] = e
    by_config = defaultdict(list)  # config -> [(chunk, front end)]
    for i in blocks:
        for f, front in enumerate(chunks[i][0].fronts):
            by_config[front.config].append((i, f))
    steps = {i: [None] * len(b) for i, b in blocks.items()}  # chunk -> each of its front ends' new steps
    for config, members in by_config.items():
        states = [chunks[i][0].fronts[f].features for i, f in members]
        added = front_end_steps(config, states, [blocks[i][f] for i, f in members])
        for (i, f), new in zip(members, added):
            steps[i][f] = new
    features = {i: chunks[i][0].lane_steps(steps[i]) for i in blocks}
    _charge([chunks[i][0] for i in blocks], time.perf_counter() - started)
    return features


def _model_steps(
    chunks: list[Chunk],
    features: dict[int, list[torch.Tensor]],
    max_batch: int,
    batched: Callable[[object, int], None] | None,
) -> list[list[Posteriors | Exception | None]]:
    """Each chunk's posteriors per lane (or the exception its step raised): every model stepped once over the
    lanes of all chunks (per max_batch)."""
    groups = defaultdict(list)  # model -> [(chunk, lane)]
    for i in features:
        for j, (_, lane) in enumerate(chunks[i][0].lanes):
            groups[lane.model].append((i, j))
    posteriors = [[None] * len(stream.lanes) for stream, _ in chunks]
    for model, members in groups.items():
        for first in range(0, len(members), max_batch):
            part = members[first : first + max_batch]
            started = time.perf_counter()
            stepped = _step_apart_on_failure(
                [chunks[i][0].lanes[j][1] for i, j in part], [features[i][j] for i, j in part]
            )
            for (i, j), p in zip(part, stepped):
                posteriors[i][j] = p
            _charge([chunks[i][0] for i, _ in part], time.perf_counter() - started)
            if batched is not None:
                batched(model, sum(features[i][j].shape[0] > 0 for i, j in part))
    return posteriors


def _step_apart_on_failure(lanes: list[ModelLane], features: list[torch.Tensor]) -> list[Posteriors | Exception]:
    """`step_lanes`; if the batched step fails, each lane alone, so that the failure is the stream's whose input
    caused it and every other stream goes on. A failed step leaves the states as they were."""
    try:
        return step_lanes(lanes, features)
    except Exception as e:  # handed back to the stream's caller
        if len(lanes) == 1:
            return [e]
        return [out for lane, f in zip(lanes, features) for out in _step_apart_on_failure([lane], [f])]


def _decisions(chunks: list[Chunk], posteriors: list[list[Posteriors]], results: list) -> None:
    """Task decisions of every chunk not failed yet, into `results`: tasks of a kind that decides for many streams
    at once (`accept_together`, equal to each stream's `accept`) do so."""
    kinds = defaultdict(list)  # accept_together of the task's kind, or None -> [chunk]
    for i, (stream, _) in enumerate(chunks):
        if results[i] is None:
            kinds[getattr(type(stream.task), "accept_together", None)].append(i)
    for together, members in kinds.items():
        if together is None or len(members) == 1:
            for i in members:
                try:
                    results[i] = chunks[i][0].decide(posteriors[i], final=chunks[i][1] is None)
                except Exception as e:  # handed back to the stream's caller
                    results[i] = e
            continue
        started = time.perf_counter()
        streams = [chunks[i][0] for i in members]
        try:
            outputs = together(
                [s.task for s in streams],
                [tuple(posteriors[i]) for i in members],
                [s.steps for s in streams],
                [chunks[i][1] is None for i in members],
                [s.audio_s for s in streams],
            )
        except Exception as e:  # handed back to the callers of the streams decided together
            outputs = [e] * len(members)
        for i, stream, out in zip(members, streams, outputs):
            results[i] = out
            stream.count_steps(posteriors[i])
        _charge(streams, time.perf_counter() - started)


def _charge(streams: list[Stream], seconds: float) -> None:
    """Shares the compute of a batched stage equally among the streams in it."""
    share = seconds / max(1, len(streams))
    for stream in streams:
        stream.compute_s += share


def open_fronts(models, input_rate: int) -> tuple[list[FrontEnd], list[tuple[int, ModelLane]]]:
    """A front end per distinct feature config among the models (one when they agree), and a lane per model."""
    configs = list(dict.fromkeys(m.config.features for m in models))
    fronts = [FrontEnd(c, input_rate) for c in configs]
    return fronts, [(configs.index(m.config.features), ModelLane(m)) for m in models]


def recording_posteriors(model, samples: torch.Tensor, input_rate: int) -> Posteriors:
    """A whole recording and the stream's silent tail through the front end and the model only, as a stream
    would see it: for replaying decisions (calibration) without running the model again."""
    front = FrontEnd(model.config.features, input_rate)
    features = torch.cat([front.accept(samples), front.accept(None)])
    return step_lanes([ModelLane(model)], [features])[0]
