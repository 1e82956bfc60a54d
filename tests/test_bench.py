"""`rnnvoice bench` end to end at a small scale: its own server, both cells, client and server views of the same chunks."""

import json
import subprocess
import sys

import pytest

from rnnvoice.clients.client import read_audio
from rnnvoice.models.nets.checkpoint import load_model
from rnnvoice.models.weights import shipped_models
from tests.conftest import FIXTURES

RECORDING = FIXTURES / "spoken_seven_yes.wav"


def test_bench_reports_both_cells_from_client_and_server(tmp_path):
    report_path, plot_path = tmp_path / "bench.json", tmp_path / "bench.png"
    out = subprocess.run([sys.executable, "-m", "rnnvoice.clients.cli", "bench", str(RECORDING), "--streams", "3",
                          "--loops", "1", "--fast", "--json", str(report_path), "--plot", str(plot_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "client latency p50 (ms)" in out.stdout and "server latency p50 (ms)" in out.stdout
    report = json.loads(report_path.read_text())
    chunks = len(list(read_audio(RECORDING).chunks(0.1)))
    for cell in ("gru", "lstm"):
        result = report["cells"][cell]
        assert result["failed_streams"] == 0
        # The server's latency histogram counted exactly the chunks the client timed.
        assert result["chunks"] == result["server_chunks"] == 3 * chunks
        assert result["server_latency_p50_ms"] > 0 and result["client_latency_p50_ms"] > 0
        assert 0 < result["real_time_factor"] < 10
        assert result["server_rss_bytes"] > 10_000_000
    # The keyword models' own figures (the server also hosts recognisers under the same cell labels).
    for cell in ("gru", "lstm"):
        model = load_model(shipped_models()["keywords", cell])
        assert report["cells"][cell]["state_bytes"] == model.state_bytes
    assert report["lstm_over_gru"]["state_bytes"] == pytest.approx(2.0)
    assert plot_path.stat().st_size > 10_000
