"""The deployment's files as their own tools read them (docker-compose, promtool), and its health checks' commands."""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnnvoice.clients.client import VoiceClient
from rnnvoice.clients.connection import Connection
from rnnvoice.models.decoding.ctc import DECODER_FILE, LEXICON_FILE, LM_FILE
from rnnvoice.models.nets.speech_embedding import EMBEDDING_FILE
from rnnvoice.models.streaming.phrase_spotter import BACKGROUND_FILE
from rnnvoice.models.weights import WEIGHTS, model_files
from tests.conftest import ServerThread
from tests.daemons import DEPLOY, REPO, binary

RNNVOICE = [sys.executable, "-m", "rnnvoice.clients.cli"]
# Every file the server loads: the four models, the speech embedding, then the beam search's settings, lexicon and
# language model.
SHIPPED_FILES = [path.name for path in model_files().values()] + [
    EMBEDDING_FILE,
    BACKGROUND_FILE,
    DECODER_FILE,
    LEXICON_FILE,
    LM_FILE,
]


def compose_config(*profiles: str) -> dict:
    """The compose file as docker-compose resolves it (it validates it first; no Docker engine needed)."""
    flags = [arg for p in profiles for arg in ("--profile", p)]
    out = subprocess.run(
        [binary("docker-compose"), "-f", str(REPO / "docker-compose.yml"), *flags, "config"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_starts_each_service_once_the_one_it_needs_is_healthy():
    resolved = compose_config()["services"]
    # docker-compose 1.29 lists the scale profile's services too, marked as such; they start only with it.
    services = {name: s for name, s in resolved.items() if "profiles" not in s}
    assert set(services) == {"rnnvoice", "prometheus", "grafana"}
    assert {name: s["profiles"] for name, s in resolved.items() if name not in services} == {
        "replica": ["scale"],
        "lb": ["scale"],
    }
    assert services["prometheus"]["depends_on"] == {"rnnvoice": {"condition": "service_healthy"}}
    assert services["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
    for name in ("prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"]
    # The server's health check is the image's own (Dockerfile HEALTHCHECK).
    assert "healthcheck" not in services["rnnvoice"] and services["rnnvoice"]["build"]
    environment = services["rnnvoice"]["environment"]
    assert environment["RNNVOICE_METRICS_PORT"] == "9100"
    assert environment["RNNVOICE_WORKERS"] == "1"  # one process unless RNNVOICE_WORKERS says more
    # Clients and Prometheus reach the server over TLS, with the files `make certs` makes in deploy/tls/.
    assert (
        environment["RNNVOICE_TLS_CERT"] == "/tls/server.pem" and environment["RNNVOICE_TLS_KEY"] == "/tls/server.key"
    )
    # Only Grafana comes from a registry: the others are built here on Debian (tests/deploy/test_compose.py).
    assert [name for name, s in resolved.items() if "build" not in s] == ["grafana"]
    mounted = [v.split(":")[0] for service in services.values() for v in service.get("volumes", [])]
    files = [Path(m) for m in mounted if m.startswith("/")]  # the others are named volumes
    assert len(files) == 5 and all(f.exists() and f.is_relative_to(REPO) for f in files), files
    assert str(DEPLOY / "tls") in mounted


def test_compose_scale_profile_adds_replicas_behind_nginx():
    services = compose_config("scale")["services"]
    assert {"replica", "lb"} <= set(services)
    assert services["replica"]["deploy"]["replicas"] >= 2
    assert services["replica"]["image"] == services["rnnvoice"]["image"]
    # The replicas serve TLS like the server, to nginx (grpcs) and to Prometheus (https).
    assert services["replica"]["environment"] == services["rnnvoice"]["environment"]
    assert "grpc_pass grpcs://" in (DEPLOY / "nginx/nginx.conf").read_text()
    assert services["lb"]["depends_on"] == {"replica": {"condition": "service_healthy"}}
    assert any("deploy/nginx/nginx.conf:/etc/nginx/nginx.conf" in str(v) for v in services["lb"]["volumes"])
    assert any("deploy/tls:/etc/nginx/tls" in str(v) for v in services["lb"]["volumes"])
    # Prometheus scrapes every replica: its DNS discovery names the replica service.
    scrape = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())["scrape_configs"]
    names = [n for job in scrape for sd in job.get("dns_sd_configs", []) for n in sd["names"]]
    assert {"rnnvoice", "replica"} <= set(names)
    assert all(job["scheme"] == "https" for job in scrape if "dns_sd_configs" in job)


def dockerfile_defaults(dockerfile: Path) -> dict[str, str]:
    """The Dockerfile's build arguments with their defaults."""
    return {
        m["name"]: m["value"].strip('"')
        for m in re.finditer(r"^ARG (?P<name>\w+)=(?P<value>.*)$", dockerfile.read_text(), re.MULTILINE)
    }


def test_compose_builds_each_image_with_its_dockerfiles_defaults():
    """The build arguments compose passes when their variables are unset are the Dockerfiles' own defaults."""
    unset = {k: v for k, v in os.environ.items() if not k.startswith("RNNVOICE_")}
    out = subprocess.run(
        [binary("docker-compose"), "-f", str(REPO / "docker-compose.yml"), "--profile", "scale", "config"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=unset,
    )
    assert out.returncode == 0, out.stderr
    builds = {name: s["build"] for name, s in yaml.safe_load(out.stdout)["services"].items() if "build" in s}
    assert set(builds) == {"rnnvoice", "replica", "lb", "prometheus"}
    for name, build in builds.items():
        assert build["args"] == dockerfile_defaults(Path(build["context"]) / "Dockerfile"), name


def test_promtool_accepts_the_configuration_and_the_rules_pass_their_unit_tests():
    promtool = binary("promtool")
    prometheus = DEPLOY / "prometheus"
    for command in (
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "rules.yml", "alerts.yml"],
        ["test", "rules", "tests.yml"],
    ):
        out = subprocess.run([promtool, *command], capture_output=True, text=True, timeout=120, cwd=prometheus)
        assert out.returncode == 0, out.stdout + out.stderr
    alerts = yaml.safe_load((prometheus / "alerts.yml").read_text())["groups"][0]["rules"]
    assert {"RnnvoiceHighResultLatency", "RnnvoiceStreamErrors", "RnnvoiceHighMemory"} <= {a["alert"] for a in alerts}


def test_dockerfile_installs_the_dependencies_of_pyproject_from_the_cpu_index_by_default():
    """What the offline build of tests/deploy/test_container.py does not try: the default wheel source."""
    dockerfile = (REPO / "Dockerfile").read_text()
    source = re.search(r'^ARG PIP_SOURCE="(.*)"$', dockerfile, re.MULTILINE)
    assert source and "https://download.pytorch.org/whl/cpu" in source.group(1).split()
    # torch and torchaudio come with the rest of pyproject's pinned dependencies: no second list of versions.
    assert "['project']['dependencies']" in dockerfile and "torch==" not in dockerfile
    assert re.search(r"^RUN .*rnnvoice check-models", dockerfile, re.MULTILINE)


def checked_files(table: str) -> dict[str, str]:
    """`rnnvoice check-models`'s table: file name -> status."""
    return {row.split()[0]: row.split()[2] for row in table.splitlines()[1:]}


@pytest.mark.slow
def test_check_models_loads_every_shipped_file():
    out = subprocess.run([*RNNVOICE, "check-models"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert checked_files(out.stdout) == dict.fromkeys(SHIPPED_FILES, "ok"), out.stdout


@pytest.mark.slow
def test_check_models_names_each_missing_or_corrupt_file(tmp_path):
    weights = tmp_path / "weights"
    shutil.copytree(WEIGHTS, weights)
    (weights / "transcription_gru.pt").unlink()
    (weights / "keywords_lstm.pt").write_bytes((WEIGHTS / "keywords_lstm.pt").read_bytes()[:5000])
    shutil.copy(WEIGHTS / "keywords_gru.pt", weights / "transcription_lstm.pt")  # a model of another task
    (weights / "transcription_lm.arpa").write_text("not an ARPA file\n")
    embedding = bytearray((WEIGHTS / EMBEDDING_FILE).read_bytes())
    embedding[len(embedding) // 2] ^= 1  # a flipped bit in a weight: the file still loads, its checksum tells
    (weights / EMBEDDING_FILE).write_bytes(embedding)
    (weights / BACKGROUND_FILE).write_bytes((WEIGHTS / BACKGROUND_FILE).read_bytes()[:3000])
    out = subprocess.run(
        [*RNNVOICE, "check-models", "--weights", str(weights)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 1, out.stdout + out.stderr
    broken = [
        "keywords_lstm.pt",
        "transcription_gru.pt",
        "transcription_lstm.pt",
        EMBEDDING_FILE,
        BACKGROUND_FILE,
        "transcription_lm.arpa",
    ]
    assert checked_files(out.stdout) == {name: "FAILED" if name in broken else "ok" for name in SHIPPED_FILES}
    failures = [line for line in out.stderr.splitlines() if line.startswith("check-models: ")]
    assert [line.split()[1] for line in failures] == [f"{weights / name}:" for name in broken], out.stderr
    assert "missing" in failures[1] and "holds a keywords gru model, not transcription lstm" in failures[2]


def test_kubernetes_probes_ask_the_servers_health_service():
    documents = {
        (d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all((DEPLOY / "k8s/rnnvoice.yaml").read_text())
    }
    container = documents["Deployment", "replica"]["spec"]["template"]["spec"]["containers"][0]
    # The image's own health command (as its HEALTHCHECK runs it), over TLS: the kubelet's gRPC probe speaks none.
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["rnnvoice", "health", "--server", "localhost:50051"]
    environment = {e["name"]: e["value"] for e in container["env"]}
    assert {"RNNVOICE_TLS_CERT", "RNNVOICE_TLS_KEY", "RNNVOICE_TLS_CA"} <= set(environment)
    assert documents["Service", "replica"]["spec"]["clusterIP"] == "None"  # one DNS address per replica, for nginx
    assert "server replica:50051;" in (DEPLOY / "nginx/nginx.conf").read_text()


def test_health_command_is_zero_only_for_a_serving_server(server):
    ok = subprocess.run([*RNNVOICE, "health", "--server", server.target], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "SERVING" in ok.stdout
    closed = subprocess.run(
        [*RNNVOICE, "health", "--server", "127.0.0.1:1", "--timeout", "1"], capture_output=True, text=True, timeout=60
    )
    assert closed.returncode == 1 and "UNAVAILABLE" in closed.stderr


def test_make_certs_gives_a_certificate_the_server_serves_and_clients_trust(settings, tmp_path):
    out = subprocess.run(
        ["make", "-s", "certs", f"TLS_DIR={tmp_path}"], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    server = ServerThread(
        dataclasses.replace(settings, tls_cert=tmp_path / "server.pem", tls_key=tmp_path / "server.key")
    )
    try:
        with VoiceClient(
            f"localhost:{server.server.port}", timeout_s=30, connection=Connection(ca=tmp_path / "ca.pem")
        ) as c:
            assert len(c.list_models()) == 4
        health = subprocess.run(
            [*RNNVOICE, "health", "--server", f"localhost:{server.server.port}"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "RNNVOICE_TLS_CA": str(tmp_path / "ca.pem")},
        )
        assert health.returncode == 0 and "SERVING" in health.stdout  # the image's health check, as it runs there
    finally:
        server.stop()
