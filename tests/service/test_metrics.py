"""The server's Prometheus metrics, scraped over HTTP from a real server while real streams run."""

import threading

import grpc
import numpy as np
import pytest

from rnnvoice.clients.client import CELLS, Audio, VoiceClient, stream_config
from rnnvoice.clients.qa.scrape import buckets, scrape, value
from rnnvoice.models.vocabulary import KEYWORDS
from rnnvoice.protos import pb
from rnnvoice.service.metrics import PHRASES_LABEL
from tests.conftest import fixture_clip, rpc_error, wait_until

NOISE = Audio.from_array(np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1, 16000)


@pytest.fixture()
def metered_client(metered_server):
    with VoiceClient(metered_server.target, timeout_s=60) as c:
        c.wait_ready()
        yield c


def held_open(gate: threading.Event):
    yield np.zeros(1600, "<i2").tobytes()
    gate.wait(20)


def test_streams_are_measured_per_cell(metered_server, metered_client):
    before = scrape(metered_server.metrics_url)
    summaries = {}
    for cell in CELLS:
        # Every keyword at the most sensitive setting, and interim scores: every chunk gets a response.
        responses = list(
            metered_client.stream_audio(
                NOISE, cell, chunk_s=0.1, interim_scores=True, sensitivities={k: 1.0 for k in KEYWORDS}
            )
        )
        summaries[cell] = responses[-1].summary
    after = scrape(metered_server.metrics_url)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    for cell in CELLS:
        summary = summaries[cell]
        assert delta("rnnvoice_chunk_compute_seconds_count", cell=cell) == summary.chunks == 10
        # The summary's compute also covers the flush at the end of the stream, which is no chunk.
        assert 0 < delta("rnnvoice_chunk_compute_seconds_sum", cell=cell) <= summary.compute_s
        assert delta("rnnvoice_audio_seconds_total", cell=cell) == pytest.approx(1.0)
        assert delta("rnnvoice_result_latency_seconds_count", cell=cell) == 10
        assert delta("rnnvoice_streams_ended_total", cell=cell, outcome="completed", code="OK") == 1
        assert delta("rnnvoice_detections_total", cell=cell) == summary.detections
        assert value(after, "rnnvoice_active_streams", cell=cell) == 0
        # Histogram buckets are cumulative and end at +Inf with the count.
        counts = list(buckets(after, "rnnvoice_result_latency_seconds", cell=cell).values())
        assert counts == sorted(counts) and counts[-1] == value(
            after, "rnnvoice_result_latency_seconds_count", cell=cell
        )
        keywords = {
            s.labels["keyword"] for s in after if s.name == "rnnvoice_detections_total" and s.labels["cell"] == cell
        }
        assert keywords == {*KEYWORDS, PHRASES_LABEL}


def test_model_memory_gauges_match_the_model_list(metered_server, metered_client):
    samples = scrape(metered_server.metrics_url)
    for model in metered_client.list_models():
        cell = pb.Cell.Name(model.cell).removeprefix("CELL_").lower()
        task = pb.Task.Name(model.task).removeprefix("TASK_").lower()
        assert value(samples, "rnnvoice_stream_state_bytes", task=task, cell=cell) == model.state_bytes
        assert value(samples, "rnnvoice_model_parameter_bytes", task=task, cell=cell) == 4 * model.parameters
    # prometheus-client's own collectors: process memory and CPU, Python's platform and garbage collector.
    assert value(samples, "process_resident_memory_bytes") > 10_000_000
    assert value(samples, "process_cpu_seconds_total") > 0
    assert any(s.name == "python_info" for s in samples)
    assert any(s.name == "python_gc_collections_total" for s in samples)


def test_open_streams_and_how_streams_end(metered_server, metered_client):
    url = metered_server.metrics_url
    before = scrape(url)
    gate = threading.Event()
    call = metered_client.stream(stream_config(NOISE, cell="lstm"), held_open(gate), resumable=False)
    assert wait_until(lambda: value(scrape(url), "rnnvoice_active_streams", cell="lstm") == 1)
    call.cancel()
    gate.set()
    assert wait_until(lambda: value(scrape(url), "rnnvoice_active_streams", cell="lstm") == 0)
    bad = stream_config(NOISE, cell="gru")
    bad.format.sample_rate_hz = 12345
    assert (
        rpc_error(lambda: metered_client.stub.StreamAudio(iter([pb.StreamAudioRequest(config=bad)]))).code()
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    after = scrape(url)

    def ended(**labels):
        return value(after, "rnnvoice_streams_ended_total", **labels) - value(
            before, "rnnvoice_streams_ended_total", **labels
        )

    assert ended(cell="lstm", outcome="cancelled", code="CANCELLED") == 1
    # Refused before its configuration named a model: no task or cell to count it under.
    assert ended(task="none", cell="none", outcome="rejected", code="INVALID_ARGUMENT") == 1


def test_each_server_counts_only_its_own_streams(metered_server, client):
    """Two servers in one process: separate registries, no clash, no mixing."""
    before = value(scrape(metered_server.metrics_url), "rnnvoice_audio_seconds_total")
    assert list(client.stream_audio(NOISE, "gru"))[-1].summary.audio_s == pytest.approx(1.0)
    assert value(scrape(metered_server.metrics_url), "rnnvoice_audio_seconds_total") == before


def test_phrases_chosen_at_run_time_are_counted_under_one_label(metered_server, metered_client):
    before = scrape(metered_server.metrics_url)
    call = Audio.from_array(fixture_clip("call_mom_norbert.wav"), 16000)
    responses = list(metered_client.stream_audio(call, "gru", phrases={"call mom": None, "jarvis": None}))
    after = scrape(metered_server.metrics_url)
    assert responses[-1].summary.detections == 1
    assert (
        value(after, "rnnvoice_detections_total", cell="gru", task="keywords", keyword=PHRASES_LABEL)
        - value(before, "rnnvoice_detections_total", cell="gru", task="keywords", keyword=PHRASES_LABEL)
        == 1
    )
    assert not any(s.labels.get("keyword") in ("call mom", "jarvis") for s in after)
