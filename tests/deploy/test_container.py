"""The image built from the Dockerfile with no registry (a debootstrap base and local wheels), then run, asked and
streamed to."""

import subprocess
import time
import uuid

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rnnvoice.clients.client import VoiceClient, read_audio
from rnnvoice.protos import SERVICE_NAME, pb
from tests.conftest import FIXTURES
from tests.daemons import binary
from tests.deploy.conftest import docker, health
from tests.deploy.test_deploy import SHIPPED_FILES, checked_files

# The image's build takes minutes the first time (its layers are cached after): more than the suite's 600 s default.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(3600)]


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
