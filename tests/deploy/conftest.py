"""What the tests that build and run images share: the Docker engine, the offline base image and the server's image,
made once per test session."""

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib

import pytest

from tests.daemons import REPO, Daemon, binary

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


def health(container: str) -> dict:
    """The container's health as Docker records it: Status and the last checks' Log."""
    return json.loads(docker("inspect", "-f", "{{json .State.Health}}", container))


def engine_answers() -> bool:
    return subprocess.run([binary("docker"), "info"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    """The Docker engine: the one running, or dockerd started here and stopped after the tests."""
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


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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
