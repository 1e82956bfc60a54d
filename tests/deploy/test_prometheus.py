"""The repository's Prometheus configuration and Grafana dashboard against a live server: Debian's prometheus
scrapes it while real streams run through both cells, and every dashboard query is run on what it stored.

Set RNNVOICE_DASHBOARD_PREVIEW=deploy/grafana/dashboard-preview.png to redraw the preview in docs/operations.md as well.
"""

import json
import os
import re
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import yaml

from rnnvoice.clients.client import CELLS, Audio, VoiceClient, read_audio
from rnnvoice.clients.load import run_load
from rnnvoice.clients.qa.dashboard import fill_panels, panels
from rnnvoice.clients.qa.scrape import scrape
from rnnvoice.models.evaluation.plots import plot_dashboard
from tests.conftest import FIXTURES, free_port, rpc_error, wait_until
from tests.daemons import DEPLOY, Daemon, binary

DASHBOARD = json.loads((DEPLOY / "grafana/dashboards/rnnvoice.json").read_text())
# Grafana's $__rate_interval for a 1 s scrape interval: a few scrapes.
RATE_INTERVAL = "5s"


@pytest.fixture(scope="module")
def prometheus(metered_server, tmp_path_factory):
    """Prometheus on the repository's configuration, scraping the test server every second; its URL."""
    tmp = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(DEPLOY / "prometheus" / f) for f in config["rule_files"]]
    targets = {"rnnvoice": urllib.parse.urlsplit(metered_server.metrics_url).netloc, "prometheus": f"127.0.0.1:{port}"}
    # The deployment's replicas sit behind nginx; here there is one server, whose metrics are plain HTTP.
    config["scrape_configs"] = [job for job in config["scrape_configs"] if job["job_name"] in targets]
    for job in config["scrape_configs"]:
        # The deployment finds its targets through Docker's DNS; here there is one, on loopback.
        job.pop("dns_sd_configs", None)
        job.pop("tls_config", None)
        job["scheme"] = "http"
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    daemon = Daemon(
        [
            binary("prometheus"),
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: daemon.answers(f"{url}/-/ready"), timeout_s=60), daemon.log()[-3000:]
        yield url
    finally:
        daemon.stop()


def query(prometheus: str, expr: str) -> dict[tuple, float]:
    """An instant query: {labels as sorted items: value}."""
    with urllib.request.urlopen(
        f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", timeout=30
    ) as r:
        answer = json.load(r)
    assert answer["status"] == "success", answer
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in answer["data"]["result"]}


def cells_of(result: dict[tuple, float]) -> set[str]:
    return {dict(labels).get("cell") for labels in result}


@pytest.fixture(scope="module")
def traffic(metered_server, prometheus) -> tuple[float, float]:
    """Real-time streams through both cells at once, in two waves (2, then 6 per cell), and one bad stream;
    the time span they covered, once Prometheus has scraped the end of it."""
    audio = read_audio(FIXTURES / "spoken_seven_yes.wav")
    assert wait_until(lambda: query(prometheus, 'up{job="rnnvoice"}'), timeout_s=30)  # scraped at least once
    started = time.time()
    for streams in (2, 6):
        with ThreadPoolExecutor(len(CELLS)) as pool:
            loads = list(
                pool.map(lambda cell, n=streams: run_load(metered_server.target, audio, cell, n, loops=2), CELLS)
            )
        assert not [e for load in loads for e in load.errors]
    with VoiceClient(metered_server.target, timeout_s=30) as client:
        bad = rpc_error(lambda: client.recognize(Audio(b"\x00\x00", 12345)))
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    total = sum(s.value for s in scrape(metered_server.metrics_url) if s.name == "rnnvoice_audio_seconds_total")
    assert wait_until(
        lambda: sum(query(prometheus, "rnnvoice_audio_seconds_total").values()) >= total - 1e-6, timeout_s=30
    )
    return started, time.time()


@pytest.mark.slow
def test_prometheus_stores_latency_and_memory_of_both_cells(prometheus, traffic):
    up = query(prometheus, 'up{job="rnnvoice"}')
    assert list(up.values()) == [1.0]
    for expr in (
        "rnnvoice_result_latency_seconds_count",
        "rnnvoice_chunk_compute_seconds_bucket",
        "rnnvoice_stream_state_bytes",
        "rnnvoice_model_parameter_bytes",
    ):
        assert cells_of(query(prometheus, expr)) == set(CELLS), expr
    assert all(v > 0 for v in query(prometheus, 'rnnvoice_result_latency_seconds_count{task="keywords"}').values())
    memory = query(prometheus, 'process_resident_memory_bytes{job="rnnvoice"}')
    assert len(memory) == 1 and list(memory.values())[0] > 10_000_000
    state = {dict(k)["cell"]: v for k, v in query(prometheus, 'rnnvoice_stream_state_bytes{task="keywords"}').items()}
    assert state["lstm"] == 2 * state["gru"]
    # Every stream played "seven" and "yes".
    heard = query(prometheus, 'sum by (cell, keyword) (rnnvoice_detections_total{keyword=~"seven|yes"})')
    assert len(heard) == 4 and all(v > 0 for v in heard.values()), heard


@pytest.mark.slow
def test_recording_rules_give_each_cell_its_percentiles_and_real_time_factor(prometheus, traffic):
    for rule in (
        "task_cell:rnnvoice_result_latency_seconds:p50_5m",
        "task_cell:rnnvoice_result_latency_seconds:p99_5m",
        "task_cell:rnnvoice_chunk_compute_seconds:p99_5m",
        "task_cell:rnnvoice_real_time_factor:ratio_rate5m",
    ):
        keywords = rule + '{task="keywords"}'  # the traffic is keyword streams; other tasks have no data
        assert wait_until(lambda q=keywords: cells_of(query(prometheus, q)) == set(CELLS), timeout_s=20), rule
        assert all(0 < v < 10 for v in query(prometheus, keywords).values()), rule
    # One refused request, no server errors: a ratio of 0 (NaN until the rule has seen streams end).
    assert wait_until(
        lambda: list(query(prometheus, "job:rnnvoice_stream_errors:ratio_rate5m").values()) == [0.0], timeout_s=20
    )
    rules = json.load(urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=30))["data"]["groups"]
    assert all(r["health"] == "ok" for group in rules for r in group["rules"]), rules


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are neither functions, keywords nor labels."""
    expr = re.sub(r'\{[^}]*\}|\[[^\]]*\]|"[^"]*"', " ", expr)  # label matchers, ranges, strings
    expr = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)  # label lists
    return {
        m[0]
        for m in re.finditer(r"[A-Za-z_:][\w:]*", expr)
        if not expr[m.end() :].lstrip().startswith("(") and m[0] not in {"and", "or", "unless", "bool", "offset"}
    }


def test_every_dashboard_query_reads_metrics_the_server_exports(metered_server):
    exported = {s.name for s in scrape(metered_server.metrics_url)}
    queries = [t["expr"] for p in DASHBOARD["panels"] for t in p["targets"]]
    assert len(queries) >= 10
    for expr in queries:
        names = metric_names(expr)
        assert names and names <= exported, (expr, names - exported)


@pytest.mark.slow
def test_dashboard_shows_gru_beside_lstm_with_data_in_every_panel(prometheus, traffic, tmp_path):
    repeated = [p for p in DASHBOARD["panels"] if p.get("repeat") == "cell"]
    assert repeated and all(p["repeatDirection"] == "h" and "$cell" in p["title"] for p in repeated)
    assert [o["value"] for o in DASHBOARD["templating"]["list"][0]["options"]] == list(CELLS)
    start, end = traffic
    filled = fill_panels(prometheus, DASHBOARD, start - 5, end + 2, 1.0, RATE_INTERVAL)
    assert len(filled) == len(panels(DASHBOARD)) == len(DASHBOARD["panels"]) + len(repeated)
    for panel in filled:
        assert panel.series, f"{panel.title}: no data"
    for panel in filled:  # the cell-by-cell panels show their own cell; the others both
        shown = " ".join(s.label for s in panel.series)
        if "GRU" in panel.title or "LSTM" in panel.title:
            assert all(f'cell="{panel.title.split()[-1].lower()}"' in q for q, _ in panel.queries)
        elif "{{cell}}" in " ".join(f for _, f in panel.queries):
            assert all(cell in shown for cell in CELLS), (panel.title, shown)
    targets = [tmp_path / "dashboard-preview.png"]
    if os.environ.get("RNNVOICE_DASHBOARD_PREVIEW"):
        targets.append(os.environ["RNNVOICE_DASHBOARD_PREVIEW"])
    for path in targets:
        plot_dashboard(filled, f"{DASHBOARD['title']} (test traffic: 2, then 6 real-time streams per cell)", path)
    assert targets[0].stat().st_size > 20_000
