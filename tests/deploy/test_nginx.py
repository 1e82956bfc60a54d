"""The repository's nginx load balancer in front of two real server replicas: every stream succeeds through it
(over TLS, from the client to nginx and from nginx to the replicas), stays on one replica from its first chunk to its
summary, and the streams spread over both replicas; a resumable stream's resumes go back to the replica that holds
it."""

import dataclasses
import re
import socket
import ssl

import pytest

from rnnvoice.clients.client import CELLS, VoiceClient, read_audio, stream_config
from rnnvoice.clients.connection import Connection
from rnnvoice.clients.load import run_load
from rnnvoice.clients.qa.cutting_proxy import cutting_proxy
from rnnvoice.clients.qa.scrape import scrape, value
from tests.certificates import LOOPBACK, make_certificates
from tests.conftest import FIXTURES, ServerThread, cutting_every, free_port, results, wait_until
from tests.daemons import DEPLOY, Daemon, binary

STREAMS = 6


@pytest.fixture()
def certificates(tmp_path):
    # nginx checks the replicas' certificate for the name rnnvoice, as in the deployment.
    return make_certificates(tmp_path, names=("rnnvoice", *LOOPBACK))


@pytest.fixture()
def replicas(settings, certificates):
    tls = dict(tls_cert=certificates.server_cert, tls_key=certificates.server_key)
    running = [ServerThread(dataclasses.replace(settings, metrics_port=free_port(), **tls)) for _ in range(2)]
    yield running
    for replica in running:
        replica.stop()


def replica_metrics(replica: ServerThread, certificates) -> list:
    """The replica's metrics, served over HTTPS like its gRPC."""
    return scrape(replica.metrics_url, context=ssl.create_default_context(cafile=certificates.ca))


@pytest.fixture()
def balancer(replicas, certificates, tmp_path) -> str:
    """nginx on deploy/nginx/nginx.conf with the test's TLS certificate, its upstream the two replicas, on a free
    port; its host:port."""
    port = free_port()
    config = (DEPLOY / "nginx/nginx.conf").read_text()
    for name, path in (
        ("server.pem", certificates.server_cert),
        ("server.key", certificates.server_key),
        ("ca.pem", certificates.ca),
    ):
        config, n = re.subn(rf"/etc/nginx/tls/{name};", f"{path};", config)
        assert n == 1
    # Both upstreams (least connections, and hashed by route) are the same replicas, a server line each where the
    # deployment has one name with an address each: how nginx picks within one name is test_compose.py's to see.
    config, n = re.subn(r"server replica:50051;", " ".join(f"server {r.target};" for r in replicas), config)
    assert n == 2
    config, n = re.subn(r"listen 50051 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;", config)
    assert n == 1
    (tmp_path / "nginx.conf").write_text(config)
    daemon = Daemon(
        [
            binary("nginx"),
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            "stderr",
            "-g",
            f"daemon off; pid {tmp_path / 'nginx.pid'};",
        ],
        tmp_path / "nginx.log",
    )
    try:
        assert wait_until(lambda: _listening(port, daemon), timeout_s=30), daemon.log()[-3000:]
        yield f"127.0.0.1:{port}"
        assert "[emerg]" not in daemon.log() and "[error]" not in daemon.log(), daemon.log()[-3000:]
    finally:
        daemon.stop()


def _listening(port: int, daemon: Daemon) -> bool:
    assert daemon.process.poll() is None, f"nginx exited:\n{daemon.log()[-3000:]}"
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_streams_through_nginx_stay_on_one_replica_and_spread_over_both(replicas, balancer, certificates):
    audio = read_audio(FIXTURES / "spoken_seven_yes.wav")
    chunks = len(list(audio.chunks(0.1)))
    for cell in CELLS:
        load = run_load(balancer, audio, cell, STREAMS, realtime=False, connection=Connection(ca=certificates.ca))
        assert load.errors == []
        # Each stream's summary accounts for all its audio: one replica saw every chunk, in order.
        assert load.audio_s == pytest.approx(STREAMS * audio.seconds)
        assert len(load.latencies_s) == STREAMS * chunks
    metrics = [replica_metrics(r, certificates) for r in replicas]
    completed = [value(m, "rnnvoice_streams_ended_total", outcome="completed") for m in metrics]
    assert sum(completed) == len(CELLS) * STREAMS
    assert all(n > 0 for n in completed), completed
    audio_s = [value(m, "rnnvoice_audio_seconds_total") for m in metrics]
    assert sum(audio_s) == pytest.approx(len(CELLS) * STREAMS * audio.seconds)


@pytest.mark.slow
def test_resumes_through_nginx_reach_the_replica_that_holds_the_stream(replicas, balancer, certificates):
    audio = read_audio(FIXTURES / "spoken_seven_yes.wav")
    config = stream_config(audio, cell="gru", interim_scores=True)
    connection = Connection(ca=certificates.ca)
    with VoiceClient(balancer, timeout_s=60, connection=connection) as direct:
        expected = results(direct.stream(config, audio.chunks(0.1), resumable=False))
    resumes = 0
    with (
        cutting_proxy(balancer) as (proxy, cut),
        VoiceClient(proxy.target, timeout_s=60, connection=connection) as client,
    ):
        # Four streams, each cut every 50 ms (see cutting_every): a resume sent to the other replica would fail the
        # stream (NOT_FOUND),
        # as each would have even odds of doing without the route.
        for _ in range(4):
            with cutting_every(proxy, cut):
                stream = client.stream(config, audio.chunks(0.1), pace_s=0.01)
                got = results(stream)
            assert got == expected
            resumes += stream.resumes
    # (The client counts every try; a try cut before it reached a replica is not a resume there.)
    resumed = [value(replica_metrics(r, certificates), "rnnvoice_stream_resumes_total") for r in replicas]
    assert resumes >= sum(resumed) >= 4
