"""`rnnvoice bench` end to end at a small scale: its own servers (batched, per-stream and of two workers), a short
ramp for both cells and both tasks, the client's chunks against the server's own count, the overhead against the
transport floor and the engine alone, the JSON and the plot; and the ramp's search for the most streams kept."""

import asyncio
import json
import math
import subprocess
import sys

import pytest

from rnnvoice.clients.qa.bench import Ramp, memory_slope, search
from tests.conftest import FIXTURES

RECORDING = FIXTURES / "spoken_seven_yes.wav"
KEYS = (
    "max_realtime_streams",
    "p50_chunk_latency_ms",
    "p99_chunk_latency_ms",
    "cpu_ms_per_audio_s",
    "marginal_bytes_per_stream",
    "batched_speedup",
)


@pytest.mark.slow
def test_bench_ramps_streams_for_both_cells_and_tasks(tmp_path):
    report_path, plot_path = tmp_path / "bench.json", tmp_path / "bench.png"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnvoice.clients.cli",
            "bench",
            str(RECORDING),
            "--start-streams",
            "2",
            "--growth",
            "2",
            "--max-streams",
            "4",
            "--level-s",
            "1.5",
            "--step-batch",
            "16",
            "--overhead-streams",
            "keywords=3,transcription=3",
            "--idle-streams",
            "3,9",
            "--workers",
            "1,2",
            "--connections",
            "2",
            "--json",
            str(report_path),
            "--plot",
            str(plot_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "sustained real-time streams" in out.stdout and "server CPU ms per audio s" in out.stdout
    assert "load generator CPU ms per audio s" in out.stdout
    report = json.loads(report_path.read_text())
    for entry in (report["gru"], report["lstm"], report["transcription"]["gru"], report["transcription"]["lstm"]):
        assert set(KEYS) <= set(entry)
        # Four real-time streams are nothing for either path on loopback: the ramp ran to its end.
        assert (
            [lv["streams"] for lv in entry["levels"]] == [2, 4] == [lv["streams"] for lv in entry["per_stream_levels"]]
        )
        assert entry["max_realtime_streams"] == entry["per_stream_max_streams"] == 4
        assert entry["batched_speedup"] == 1.0
        assert 0 < entry["p50_chunk_latency_ms"] <= entry["p99_chunk_latency_ms"] <= 100
        # The server process spent some CPU on every second of audio, and far less than the audio lasted.
        assert 0 < entry["cpu_ms_per_audio_s"] < 1000
        # So did the load generator (this process beside the server), measured apart from it.
        assert 0 < entry["client_cpu_ms_per_audio_s"] < 1000
        assert math.isfinite(entry["marginal_bytes_per_stream"])
        assert all(lv["rss_bytes"] > 10_000_000 and lv["failed_streams"] == 0 for lv in entry["levels"])
        assert entry["cell_step_matmul_fraction"] > 0
    for cell in ("gru", "lstm"):
        for level in report[cell]["levels"]:
            # Interim scores answer every keyword chunk: the server's latency histogram counted the chunks the
            # client timed, every chunk each stream sent.
            assert level["chunks"] == level["server_chunks"] == level["streams"] * 15
    assert plot_path.stat().st_size > 10_000
    for task, cell in [(t, c) for t in ("keywords", "transcription") for c in ("gru", "lstm")]:
        entry = report[cell] if task == "keywords" else report[task][cell]
        server, floor = entry["overhead_level"], entry["floor_level"]
        assert entry["overhead_streams"] == server["streams"] == floor["streams"] == 3
        assert server["failed_streams"] == floor["failed_streams"] == 0
        # The floor answered as many of its chunks as the server did (every keyword chunk, a recogniser's when its
        # partial result changed), and counted their audio to charge its CPU to.
        assert floor["sent_chunks"] == server["sent_chunks"] == 3 * 15
        assert abs(floor["chunks"] - server["server_chunks"]) <= 3
        if task == "keywords":
            assert floor["chunks"] == 3 * 15
        # Server, floor and engine alone each cost something; the server, doing the work of both, more than either.
        assert 0 < entry["floor_cpu_ms_per_audio_s"] < entry["overhead_cpu_ms_per_audio_s"] < 1000
        assert 0 < entry["engine_alone_cpu_ms_per_audio_s"] < entry["overhead_cpu_ms_per_audio_s"]
        least = entry["floor_cpu_ms_per_audio_s"] + entry["engine_alone_cpu_ms_per_audio_s"]
        assert entry["overhead_ratio"] == pytest.approx(entry["overhead_cpu_ms_per_audio_s"] / least)
        # Memory per open stream, read with 3 and then 9 streams held open and idle.
        assert [lv["streams"] for lv in entry["idle_memory_levels"]] == [3, 9]
        assert all(lv["rss_bytes"] > 10_000_000 for lv in entry["idle_memory_levels"])
        assert math.isfinite(entry["idle_bytes_per_stream"])
    assert "server / (floor + engine)" in out.stdout and "transport floor" in out.stdout
    assert len(report["transport_floor"]["levels"]) == 4
    assert {cell: len(v) for cell, v in report["keyword_engine_alone"].items()} == {"gru": 1, "lstm": 1}
    # Two workers kept the ramp's four streams as one did, over two connections.
    workers = report["workers"]
    assert workers["task"] == "keywords" and workers["cell"] == "gru"
    assert workers["max_realtime_streams"] == {"1": 4, "2": 4} and workers["streams_ratio"] == 1.0
    assert all(lv["failed_streams"] == 0 for lv in workers["levels"]["2"])
    assert "most workers over one" in out.stdout


@pytest.mark.parametrize("limit", [9, 10, 100, 300, 2000])
def test_the_search_narrows_to_the_most_streams_a_server_keeps(limit):
    """A server that keeps up to `limit` streams: the ramp grows by half until it misses, then halves the gap."""
    ramp = Ramp(start=10, growth=1.5, max_streams=1000, resolution=0.1)
    measured = []

    async def measure(streams):
        measured.append(streams)
        return {"streams": streams, "failed_streams": 0, "p99_chunk_latency_ms": 50.0 if streams <= limit else 500.0}

    levels = asyncio.run(search(ramp, measure))
    kept = [lv["streams"] for lv in levels if lv["p99_chunk_latency_ms"] <= ramp.p99_limit_ms]
    assert [lv["streams"] for lv in levels] == sorted(lv["streams"] for lv in levels)
    if limit < 10:
        assert kept == [] and measured == [10, 10]  # the first level missed, twice
    elif limit >= 1000:
        assert kept[-1] == max(ramp.levels()) and len(measured) == len(list(ramp.levels()))
    else:
        missed = min(lv["streams"] for lv in levels if lv["streams"] not in kept)
        # The best kept is within the resolution of the limit, and never above it.
        assert kept[-1] <= limit < missed and missed - kept[-1] <= max(1, round(kept[-1] * ramp.resolution))
        assert measured.count(missed) == 2  # a missed level is tried twice before it counts


def test_memory_per_stream_is_the_slope_of_rss_over_the_levels():
    levels = [{"streams": n, "rss_bytes": 100e6 + 40_000 * n} for n in (10, 15, 22)]
    assert memory_slope(levels) == pytest.approx(40_000)
    assert memory_slope(levels + [{"streams": 33, "rss_bytes": math.nan}]) == pytest.approx(40_000)  # not sampled
    assert math.isnan(memory_slope(levels[:1])) and math.isnan(memory_slope(levels[:1] * 2))  # one level: no slope
