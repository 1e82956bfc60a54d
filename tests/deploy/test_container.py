"""The image built from the Dockerfile with no registry (a debootstrap base and local wheels), then run, asked and
streamed to."""

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import uuid

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rnnvoice.clients.client import VoiceClient, read_audio
from rnnvoice.protos import SERVICE_NAME, pb
from tests.conftest import FIXTURES
from tests.daemons import REPO, Daemon, binary
from tests.deploy.test_deploy import SHIPPED_FILES, checked_files

# The image's build takes minutes the first time (its layers are cached after): more than the suite's 600 s default.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(3600)]

# Debian bookworm (Python 3.11) made by debootstrap and imported once; kept by name for later runs.
BASE_IMAGE = "rnnvoice-test-base:bookworm"
IMAGE = "rnnvoice:test"
MIRROR = "http://deb.debian.org/debian"
WHEELS = REPO / "wheels"


def docker(*args: str, timeout_s: float = 120, **kwargs) -> str:
    """A docker command that must succeed; its stdout."""
    out = subprocess.run([binary("docker"), *args], capture_output=True, text=True, timeout=timeout_s, **kwargs)
    assert out.returncode == 0, f"docker {' '.join(args)}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def image_id(name: str) -> str | None:
    out = subprocess.run(
        [binary("docker"), "image", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True, timeout=60
    )
    return out.stdout.strip() if out.returncode == 0 else None


def engine_answers() -> bool:
    return subprocess.run([binary("docker"), "info"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """The Docker engine: the one running, or dockerd started here and stopped after the module."""
    if engine_answers():
        yield
        return
    daemon = Daemon([binary("dockerd")], tmp_path_factory.mktemp("dockerd") / "dockerd.log")
    deadline = time.monotonic() + 60
    while not engine_answers():
        assert daemon.process.poll() is None and time.monotonic() < deadline, f"dockerd:\n{daemon.log()[-3000:]}"
        time.sleep(0.5)
    yield
    daemon.stop()


@pytest.fixture(scope="module")
def base_image(engine, tmp_path_factory) -> str:
    """BASE_IMAGE, made offline when missing: debootstrap's minimal bookworm, imported as an image."""
    if image_id(BASE_IMAGE) is None:
        root = tmp_path_factory.mktemp("bookworm")
        made = subprocess.run(
            [binary("debootstrap"), "--variant=minbase", "bookworm", str(root), MIRROR],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        docker("import", "-", BASE_IMAGE, stdin=tar.stdout, timeout_s=600)
        assert tar.wait() == 0
        shutil.rmtree(root)
    return BASE_IMAGE


@pytest.fixture(scope="module")
def image(base_image) -> str:
    """IMAGE, built from the Dockerfile with pip limited to wheels/ (filled here from this machine's pip sources)."""
    build_requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    wheels = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(WHEELS), str(REPO), *build_requires],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert wheels.returncode == 0, wheels.stderr[-3000:]
    previous = image_id(IMAGE)
    # The classic builder takes the imported base image as it is, asking no registry.
    docker(
        "build",
        "--force-rm",
        "-t",
        IMAGE,
        "--build-arg",
        f"BASE={base_image}",
        "--build-arg",
        "PIP_SOURCE=--no-index --find-links /wheels",
        str(REPO),
        timeout_s=3000,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    if previous not in (None, image_id(IMAGE)):  # the last run's image, untagged now: its own layers go
        subprocess.run([binary("docker"), "rmi", previous], capture_output=True, timeout=300)
    return IMAGE


@pytest.fixture(scope="module")
def container(image):
    """The image running as `docker run` starts it, its gRPC port published on an ephemeral loopback port; removed
    after."""
    name = f"rnnvoice-test-{uuid.uuid4().hex[:12]}"
    docker("run", "-d", "--name", name, "-p", "127.0.0.1::50051", image)
    try:
        yield name
    finally:
        docker("rm", "-f", name)


def health(container: str) -> dict:
    return json.loads(docker("inspect", "-f", "{{json .State.Health}}", container))


def logs(container: str) -> str:
    return subprocess.run(
        [binary("docker"), "logs", container], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60
    ).stdout[-3000:]


def test_the_image_checks_its_models_and_runs_as_a_user(image):
    out = subprocess.run(
        [binary("docker"), "run", "--rm", image, "rnnvoice", "check-models"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert checked_files(out.stdout) == dict.fromkeys(SHIPPED_FILES, "ok"), out.stdout
    user = docker("run", "--rm", image, "id", "-u").strip()
    assert user == "10001"


def test_the_container_health_check_reports_serving(container):
    deadline = time.monotonic() + 300
    while (state := health(container))["Status"] == "starting":
        assert time.monotonic() < deadline, state
        time.sleep(2)
    assert state["Status"] == "healthy", (state, logs(container))
    assert state["Log"][-1]["ExitCode"] == 0 and "SERVING" in state["Log"][-1]["Output"]


def test_keywords_streamed_through_the_published_port_are_detected(container):
    target = docker("port", container, "50051/tcp").splitlines()[0]
    with VoiceClient(target, timeout_s=120) as client:
        client.wait_ready(120)
        served = health_pb2_grpc.HealthStub(client.channel).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        assert served.status == health_pb2.HealthCheckResponse.SERVING
        models = {(m.task, m.cell) for m in client.list_models()}
        assert models == {
            (t, c) for t in (pb.TASK_KEYWORDS, pb.TASK_TRANSCRIPTION) for c in (pb.CELL_GRU, pb.CELL_LSTM)
        }
        audio = read_audio(FIXTURES / "spoken_seven_yes.wav")
        for cell in ("gru", "lstm"):
            results = list(client.stream_audio(audio, cell))
            assert [r.detection.keyword for r in results if r.HasField("detection")] == ["seven", "yes"], cell
            assert results[-1].HasField("summary")
