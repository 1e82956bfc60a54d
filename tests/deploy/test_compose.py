"""docker-compose.yml brought up for real with its scale profile: two server replicas behind nginx and Prometheus
scraping them, TLS on every hop, every image built here with no registry. Keyword and transcription streams go
through nginx, and streams cut again and again resume on their replica; Prometheus then holds both replicas' latency
and memory, per cell, and has loaded the alert rules."""

import asyncio
import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from rnnvoice.clients.client import CELLS, VoiceClient, read_audio, stream_config
from rnnvoice.clients.connection import Connection
from rnnvoice.clients.load import load_streams
from rnnvoice.clients.qa.cutting_proxy import cutting_proxy
from rnnvoice.models.types import Task
from tests.conftest import FIXTURES, cutting_every, results, wait_until
from tests.daemons import DEPLOY, REPO, binary
from tests.deploy.conftest import health
from tests.deploy.test_prometheus import query

# Building nginx's and Prometheus's images and starting the replicas take minutes the first time.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(3600)]

# What the test needs of the stack: the `rnnvoice` service and Grafana (a registry image) stay down.
SERVICES = ["replica", "lb", "prometheus"]
REPLICAS = 2
STREAMS = 4  # at once, per cell and task


@dataclass(frozen=True)
class Stack:
    balancer: str  # host:port of nginx
    prometheus: str  # its URL
    connection: Connection  # TLS, trusting the stack's CA
    logs: Callable[[], str]  # the services' last log lines, for failure messages


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Path:
    """A CA and certificate made by `make certs`, as the README has users do."""
    folder = tmp_path_factory.mktemp("tls")
    made = subprocess.run(["make", "-s", "certs", f"TLS_DIR={folder}"], capture_output=True, text=True, cwd=REPO)
    assert made.returncode == 0, made.stderr
    folder.chmod(0o755)  # pytest's folders are root's alone; the containers' users read the files
    return folder


@pytest.fixture(scope="module")
def stack(image, base_image, tls) -> Stack:
    """The scale profile up under its own project name, on loopback ports Docker picks; taken down with its volumes
    after, whatever happened."""
    environment = {
        **os.environ,
        "RNNVOICE_BASE_IMAGE": base_image,
        "RNNVOICE_TAG": image.rpartition(":")[2],  # the server's image, built by the `image` fixture
        "RNNVOICE_TLS_DIR": str(tls),
        "RNNVOICE_LB_PUBLISH": "127.0.0.1:0",
        "RNNVOICE_PROMETHEUS_PUBLISH": "127.0.0.1:0",
        # The classic builder takes the imported base image as it is, asking no registry.
        "DOCKER_BUILDKIT": "0",
    }
    project = f"rnnvoice-test-{uuid.uuid4().hex[:12]}"
    command = [binary("docker-compose"), "-f", str(REPO / "docker-compose.yml"), "-p", project, "--profile", "scale"]

    def compose(*args: str, timeout_s: float = 300) -> str:
        out = subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout_s, env=environment)
        assert out.returncode == 0, f"docker-compose {' '.join(args)}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out.stdout

    def logs() -> str:
        return compose("logs", "--no-color", "--tail", "30", *SERVICES)[-6000:]

    try:
        compose("build", "lb", "prometheus", timeout_s=1800)
        # --no-deps leaves out the `rnnvoice` service Prometheus waits for; nginx still waits for healthy replicas.
        compose("up", "-d", "--no-build", "--no-deps", *SERVICES, timeout_s=600)
        ids = {service: compose("ps", "-q", service).split() for service in SERVICES}
        assert len(ids["replica"]) == REPLICAS, ids
        assert wait_until(
            lambda: all(health(i)["Status"] == "healthy" for i in sum(ids.values(), [])), timeout_s=300
        ), logs()
        yield Stack(
            balancer=compose("port", "lb", "50051").strip(),
            prometheus=f"http://{compose('port', 'prometheus', '9090').strip()}",
            connection=Connection(ca=tls / "ca.pem"),
            logs=logs,
        )
    finally:
        subprocess.run([*command, "down", "-v", "--remove-orphans"], capture_output=True, timeout=300, env=environment)


@pytest.fixture(scope="module")
def traffic(stack) -> tuple[float, float]:
    """Keyword and transcription streams through nginx in both cells, each paced as live audio; the seconds of audio
    the replicas' summaries account for, and when the last ended."""
    loads = [
        # One task and cell at a time: its concurrent streams then spread over both replicas (least_conn).
        asyncio.run(load_streams(stack.balancer, audio, cell, STREAMS, task=task, connection=stack.connection))
        for cell in CELLS
        for task, audio in (
            (Task.KEYWORDS, read_audio(FIXTURES / "spoken_seven_yes.wav")),
            (Task.TRANSCRIPTION, read_audio(FIXTURES / "timer_david.wav")),
        )
    ]
    assert [e for load in loads for e in load.errors] == [], stack.logs()
    return sum(load.audio_s for load in loads), time.time()


def test_keywords_and_transcripts_come_back_through_nginx(stack):
    with VoiceClient(stack.balancer, timeout_s=120, connection=stack.connection) as client:
        for cell in CELLS:
            detected = client.stream_audio(read_audio(FIXTURES / "spoken_seven_yes.wav"), cell)
            assert [r.detection.keyword for r in detected if r.HasField("detection")] == ["seven", "yes"], cell
            heard = client.stream_audio(read_audio(FIXTURES / "timer_david.wav"), cell, task="transcription")
            finals = [r.transcript.text for r in heard if r.HasField("transcript") and r.transcript.is_final]
            assert finals == ["set a timer for five minutes"], cell


@pytest.mark.parametrize("cell", CELLS)
def test_a_stream_cut_again_and_again_resumes_on_its_replica(stack, cell):
    audio = read_audio(FIXTURES / "spoken_seven_yes.wav")
    config = stream_config(audio, cell=cell, interim_scores=True)
    with VoiceClient(stack.balancer, timeout_s=120, connection=stack.connection) as direct:
        expected = results(direct.stream(config, audio.chunks(0.1), resumable=False))
    with (
        cutting_proxy(stack.balancer) as (proxy, cut),
        VoiceClient(proxy.target, timeout_s=120, connection=stack.connection) as client,
    ):
        stream = client.stream(config, audio.chunks(0.1), pace_s=0.05)
        responses = iter(stream)
        # Cut once the stream is under way, its resume token in hand: its first call crosses docker-proxy and two TLS
        # handshakes, which cuts from the start (tests/deploy/test_nginx.py's) may not leave time for.
        got = [next(responses)]
        with cutting_every(proxy, cut, interval_s=0.2):
            got += responses
    # Each resume that reached the other replica would have failed the stream (NOT_FOUND): with several, a
    # balancer that sent them to either replica (as `hash ... consistent` did, nginx taking turns between the
    # addresses of the one name `replica`) fails this.
    assert results(got) == expected and stream.resumes >= 3, (stream.resumes, stack.logs())


def instances_and_cells(result: dict[tuple, float]) -> set[tuple[str, str]]:
    return {(dict(labels)["instance"], dict(labels)["cell"]) for labels in result}


def test_prometheus_scrapes_both_replicas_over_https(stack, traffic):
    """Every replica's latency and memory, per cell, once Prometheus has scraped the end of the traffic."""
    audio_s, ended = traffic
    assert wait_until(
        lambda: min(query(stack.prometheus, 'timestamp(up{job="rnnvoice"})').values(), default=0) > ended,
        timeout_s=120,  # the configuration's 15 s scrape interval, and its 15 s DNS refresh
    ), stack.logs()
    assert sum(query(stack.prometheus, "rnnvoice_audio_seconds_total").values()) >= audio_s - 1e-6
    with urllib.request.urlopen(f"{stack.prometheus}/api/v1/targets", timeout=30) as r:
        targets = [t for t in json.load(r)["data"]["activeTargets"] if t["labels"]["job"] == "rnnvoice"]
    assert len(targets) == REPLICAS and all(t["scrapeUrl"].startswith("https://") for t in targets), targets
    up = query(stack.prometheus, 'up{job="rnnvoice"}')
    assert len(up) == REPLICAS and set(up.values()) == {1.0}, up
    replicas = {t["labels"]["instance"] for t in targets}
    both = {(i, c) for i in replicas for c in CELLS}
    for task in (Task.KEYWORDS, Task.TRANSCRIPTION):
        latency = query(stack.prometheus, f'rnnvoice_result_latency_seconds_count{{task="{task}"}} > 0')
        assert instances_and_cells(latency) == both, (task, latency)
        state = query(stack.prometheus, f'rnnvoice_stream_state_bytes{{task="{task}"}}')
        assert instances_and_cells(state) == both and all(v > 0 for v in state.values()), (task, state)
    memory = query(stack.prometheus, 'process_resident_memory_bytes{job="rnnvoice"}')
    assert {dict(labels)["instance"] for labels in memory} == replicas
    assert all(v > 100_000_000 for v in memory.values()), memory  # the models are loaded


def test_prometheus_loaded_the_recording_and_alert_rules(stack, traffic):
    files = [yaml.safe_load((DEPLOY / "prometheus" / f).read_text()) for f in ("rules.yml", "alerts.yml")]
    shipped = {g["name"]: len(g["rules"]) for f in files for g in f["groups"]}

    def loaded() -> list[dict]:
        with urllib.request.urlopen(f"{stack.prometheus}/api/v1/rules", timeout=30) as r:
            return json.load(r)["data"]["groups"]

    assert {g["name"]: len(g["rules"]) for g in loaded()} == shipped
    alerts = {r["name"] for g in loaded() for r in g["rules"] if r["type"] == "alerting"}
    assert {"RnnvoiceHighResultLatency", "RnnvoiceStreamErrors", "RnnvoiceHighMemory"} <= alerts
    # Every rule evaluated without error on the replicas' series (the evaluation interval is 15 s).
    assert wait_until(lambda: all(r["health"] == "ok" for g in loaded() for r in g["rules"]), timeout_s=60), loaded()
