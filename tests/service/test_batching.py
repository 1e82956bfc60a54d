"""Batching across streams changes no result: streams that start, pause and end at different times, stepped
together by `step_streams`, give what each gives stepped alone, for both cells and every task."""

import dataclasses
import gc
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rnnvoice.clients.client import Audio, VoiceClient, result_dict
from rnnvoice.clients.qa.scrape import buckets, scrape
from rnnvoice.models.nets.checkpoint import load_model
from rnnvoice.models.streaming.assistant_stream import assistant_stream
from rnnvoice.models.streaming.keyword_stream import keyword_stream
from rnnvoice.models.streaming.model_step import ModelLane, StatePool, step_lanes
from rnnvoice.models.streaming.stream import StreamOutput, step_streams
from rnnvoice.models.streaming.transcription_stream import transcription_stream
from rnnvoice.models.streaming.voice_activity import with_voice_activity
from rnnvoice.models.weights import shipped_models
from tests.conftest import ServerThread, free_port
from tests.models.test_chunking import spoken

# What each of up to four streams says: different words, so that their states differ.
SCRIPTS = {
    "keywords": [["seven_lucas.wav", "yes_sc.wav"], ["stop_sc.wav"], ["go_sc.wav", "left_sc.wav"], ["up_sc.wav"]],
    "transcription": [["lights_awb.wav"], ["five_lucas.wav", "three_lucas.wav"], ["time_awb.wav"], ["one_lucas.wav"]],
    "assistant": [
        ["computer_awb.wav", "call_mom_norbert.wav"],
        ["computer_david.wav", "timer_david.wav"],
        ["yes_sc.wav"],
        ["computer_awb.wav", "time_awb.wav"],
    ],
}
# Trained keywords and phrases chosen at run time side by side, with voice activity on top.
SCRIPTS["phrases"] = [["call_mom_norbert.wav", "yes_sc.wav"], *SCRIPTS["keywords"][1:]]
RATES = (16000, 8000, 44100, 16000)

# A stream: when it starts (in scheduler ticks), its chunk sizes (ms), and the ticks at which it sends nothing.
stream_plans = st.lists(
    st.tuples(
        st.integers(0, 6),
        st.lists(st.sampled_from([10, 30, 100, 100, 100, 170, 400]), min_size=1, max_size=6),
        st.sets(st.integers(0, 40), max_size=8),
    ),
    min_size=2,
    max_size=4,
)


@pytest.fixture(scope="module")
def models():
    return {key: load_model(path) for key, path in shipped_models().items()}


def open_stream(models, task: str, cell: str, rate: int):
    if task == "keywords":
        return keyword_stream(models["keywords", cell], rate, interim_scores=True)
    if task == "transcription":
        return transcription_stream(models["transcription", cell], rate, hints=["turn on the kitchen lights"])
    if task == "phrases":
        return with_voice_activity(
            keyword_stream(
                models["keywords", cell],
                rate,
                {"yes": 0.5, "stop": 0.5},
                phrases={"call mom": 0.5, "seven": 0.5},
            )
        )
    return assistant_stream(models["keywords", cell], models["transcription", cell], rate)


def chunks_of(audio: torch.Tensor, sizes_ms: list[int], rate: int) -> list[torch.Tensor]:
    chunks, start, i = [], 0, 0
    while start < len(audio):
        n = max(1, sizes_ms[i % len(sizes_ms)] * rate // 1000)
        chunks.append(audio[start : start + n])
        start, i = start + n, i + 1
    return chunks + [None]  # the end of the stream


def assert_same(batched: StreamOutput, alone: StreamOutput) -> None:
    def key(d):
        return d.keyword, d.start_s, d.end_s, d.detected_s

    assert [key(d) for d in batched.detections] == [key(d) for d in alone.detections]
    np.testing.assert_allclose([d.score for d in batched.detections], [d.score for d in alone.detections], atol=1e-5)
    assert (batched.smoothed is None) == (alone.smoothed is None)
    if alone.smoothed is not None:
        np.testing.assert_allclose(batched.smoothed, alone.smoothed, atol=1e-5)
        assert batched.scores.keys() == alone.scores.keys() if alone.scores else batched.scores is None

    # Confidences (of results and of words) are rounded to 1e-4 from scores equal to 1e-5.
    def plain(t):
        words = tuple(dataclasses.replace(w, confidence=0.0) for w in t.words)
        return dataclasses.replace(t, confidence=0.0, words=words)

    assert [plain(t) for t in batched.transcripts] == [plain(t) for t in alone.transcripts]
    for b, a in zip(batched.transcripts, alone.transcripts):
        assert b.confidence == pytest.approx(a.confidence, abs=2e-4)
        assert [w.confidence for w in b.words] == pytest.approx([w.confidence for w in a.words], abs=2e-4)
    assert [(c.wake.keyword, c.transcript and c.transcript.text, c.intent) for c in batched.commands] == [
        (c.wake.keyword, c.transcript and c.transcript.text, c.intent) for c in alone.commands
    ]
    assert batched.time_s == alone.time_s
    assert (batched.voice, batched.silence_s) == (alone.voice, alone.silence_s)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["keywords", "transcription", "assistant", "phrases"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=stream_plans, max_batch=st.integers(1, 4))
@example(plans=[(0, [100], set()), (0, [170, 30], {2}), (3, [400], set())], max_batch=3)
def test_streams_batched_together_give_what_each_gives_alone(models, task, cell, plans, max_batch):
    audio = [spoken(SCRIPTS[task][i], RATES[i]) for i in range(len(plans))]
    chunks = [chunks_of(a, sizes, RATES[i]) for i, (a, (_, sizes, _)) in enumerate(zip(audio, plans))]
    alone = []
    for i, stream_chunks in enumerate(chunks):
        stream = open_stream(models, task, cell, RATES[i])
        alone.append([stream.accept(c) if c is not None else stream.finish() for c in stream_chunks])

    streams = [open_stream(models, task, cell, RATES[i]) for i in range(len(plans))]
    sent, batched, tick, sizes = [0] * len(plans), [[] for _ in plans], 0, []
    while any(s < len(c) for s, c in zip(sent, chunks)):
        # Who has a chunk this tick: started, not pausing, not ended.
        ready = [
            i
            for i, (start, _, pauses) in enumerate(plans)
            if start <= tick and tick not in pauses and sent[i] < len(chunks[i])
        ]
        outputs = step_streams(
            [(streams[i], chunks[i][sent[i]]) for i in ready], max_batch, lambda model, n: sizes.append(n)
        )
        for i, out in zip(ready, outputs):
            assert not isinstance(out, Exception), out
            batched[i].append(out)
            sent[i] += 1
        tick += 1
    if max_batch > 1 and all(
        start == 0 and sizes_ms[0] >= 100 and 0 not in pauses for start, sizes_ms, pauses in plans[:2]
    ):
        assert max(sizes) > 1  # the first tick's steps, at least, were shared
    for b, a in zip(batched, alone):
        assert len(b) == len(a)
        for out_b, out_a in zip(b, a):
            assert_same(out_b, out_a)


def comparable(result: dict) -> dict:
    """A response without what legitimately differs between two runs: compute time, and the scores' values (see
    `assert_same_scores`)."""
    result = {k: v for k, v in result.items() if k not in ("compute_s", "score", "confidence")}
    return result if result["type"] != "scores" else {**result, "scores": sorted(result["scores"])}


def assert_same_scores(batched: list, alone: list) -> None:
    """Interim scores of two runs of one stream: equal to 1e-3 (a batched step sums in another order)."""
    pick = [[r["scores"] for r in run if r["type"] == "scores"] for run in (batched, alone)]
    assert len(pick[0]) == len(pick[1])
    for a, b in zip(*pick):
        np.testing.assert_allclose([a[k] for k in sorted(a)], [b[k] for k in sorted(a)], atol=1e-3)


@pytest.mark.slow
def test_a_batching_server_answers_concurrent_streams_as_each_stream_alone(settings):
    """Real servers: concurrent streams of every task through one scheduler (a long wait, so that they share
    steps), against the same streams one at a time on a per-stream server."""
    batching = ServerThread(dataclasses.replace(settings, batch_wait_ms=100, max_batch=8, metrics_port=free_port()))
    alone = ServerThread(dataclasses.replace(settings, batching=False))
    spoken_audio = spoken(["computer_awb.wav", "call_mom_norbert.wav", "seven_lucas.wav"], 16000)
    recording = Audio.from_array(spoken_audio.numpy(), 16000)
    requests = [(task, cell) for task in ("keywords", "transcription", "assistant") for cell in ("gru", "lstm")]

    def run(target: str, task: str, cell: str) -> list[dict]:
        with VoiceClient(target, timeout_s=120) as c:
            return [
                result_dict(r) for r in c.stream_audio(recording, cell, chunk_s=0.1, task=task, interim_scores=True)
            ]

    try:
        with ThreadPoolExecutor(len(requests)) as pool:
            together = list(pool.map(lambda r: run(batching.target, *r), requests))
        for (task, cell), results in zip(requests, together):
            alone_results = run(alone.target, task, cell)
            assert [comparable(r) for r in results] == [comparable(r) for r in alone_results], (task, cell)
            assert_same_scores(results, alone_results)
        steps = buckets(scrape(batching.metrics_url), "rnnvoice_batch_size", task="keywords", cell="gru")
        assert steps[math.inf] > steps[1.0]  # some steps served several streams
    finally:
        batching.stop()
        alone.stop()


def test_state_slots_start_at_zero_survive_growth_and_are_reused(models):
    model = models["keywords", "lstm"]
    gc.collect()  # streams of earlier tests give their slots back now, not in the middle of this test
    lanes = [ModelLane(model) for _ in range(3)]
    step_lanes(lanes, [torch.randn(n, model.config.features.dim) for n in (1, 3, 2)])
    kept = [lane.state for lane in lanes]
    more = [ModelLane(model) for _ in range(150)]  # past the pool's first 64 slots: it grows
    for lane, state in zip(lanes, kept):
        assert all(torch.equal(a, b) and a.abs().sum() > 0 for a, b in zip(lane.state, state))
    assert not any(part.any() for lane in more for part in lane.state)
    slot = lanes[0].slot
    del lanes[0]
    gc.collect()
    reused = ModelLane(model)
    assert reused.slot == slot and not any(part.any() for part in reused.state)


def test_lanes_freed_by_the_garbage_collector_inside_take_give_their_slots_back(models):
    """A lane in a reference cycle (as a rejected stream's traceback makes) is finalized whenever the cyclic
    collector runs, which may be inside `take` with the pool's lock held: it must neither deadlock nor leak."""
    model = models["keywords", "gru"]
    thresholds = gc.get_threshold()
    gc.set_threshold(5, 1, 1)  # the collector runs every few allocations, inside take as anywhere else

    def churn():
        for _ in range(3000):
            cycle = [ModelLane(model)]
            cycle.append(cycle)

    worker = threading.Thread(target=churn, daemon=True)  # a daemon: a deadlocked one cannot hold up the tests
    try:
        worker.start()
        worker.join(120)
    finally:
        gc.set_threshold(*thresholds)
    assert not worker.is_alive(), "taking a slot deadlocked with a lane giving one back"
    gc.collect()
    slots = ModelLane(model).pool.parts[0].shape[1]
    assert slots < 3000  # dropped lanes' slots were taken again: the pool did not grow with every lane


def test_a_slot_given_back_by_the_garbage_collector_inside_take_does_not_deadlock(models):
    """Found by `rnnvoice fuzz`: a lane's finalizer ran while its pool's take() held the lock, and the server hung."""
    pool = StatePool(models["keywords", "gru"], slots=1)
    slot = pool.take()
    giver = threading.Thread(
        target=lambda: (pool.lock.acquire(), pool.give_back(slot), pool.lock.release()), daemon=True
    )
    giver.start()  # as the collector would, in the thread that holds the lock
    giver.join(10)
    assert not giver.is_alive()
    assert pool.take() == slot
