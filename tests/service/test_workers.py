"""`rnnvoice serve --workers 2` as a user runs it: two worker processes on one loopback port. Streams over several
connections reach both; a resume that lands on the worker not keeping its stream is relayed there; the limits hold
for the whole server; signals reach every worker; a worker that dies is started again."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from rnnvoice.clients.client import Audio, VoiceClient, read_audio, stream_config
from rnnvoice.clients.connection import Connection
from rnnvoice.clients.qa.cutting_proxy import cutting_proxy
from rnnvoice.clients.qa.local_server import free_port, local_server
from rnnvoice.clients.qa.scrape import scrape, value
from rnnvoice.clients.qa.server_under_test import ServerUnderTest
from rnnvoice.protos import DRAINED_METADATA, pb
from tests.conftest import FIXTURES, results, rpc_error, wait_until

OPS, LIMITED, OLD, NEW = "o" * 24, "l" * 24, "d" * 24, "N" * 24
TOKENS = f"ops {OPS}\nlimited {LIMITED} keywords 2\nold {OLD}\n"
WORKERS = ("0", "1")
PCM = np.zeros(1600, "<i2").tobytes()  # 100 ms
SHORT = Audio(PCM, 16000)
WINDOW_S = 3  # the resume window of the module's server: streams the tests leave parked are freed soon
SERVE = [sys.executable, "-m", "rnnvoice.clients.cli", "serve"]
TRIES = 40  # fresh connections to reach a given worker: each lands on either, so all 40 miss one 1 time in 2^40


def serve(tmp_path: Path, *args: str):
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKENS)
    return local_server("--workers", "2", "--tokens", str(tokens), "--grace", "5", *args)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workers")


@pytest.fixture(scope="module")
def workers(folder):
    limits = ("--max-streams", "6", "--resume-window-s", str(WINDOW_S))
    refusals = ("--auth-failures-per-window", "4", "--auth-failure-window-s", str(WINDOW_S))
    with serve(folder, *limits, *refusals) as running:
        yield running


def per_worker(url: str, name: str, **labels: str) -> dict[str, float]:
    samples = scrape(url)
    return {w: value(samples, name, worker=w, **labels) for w in WORKERS}


def completed(url: str) -> dict[str, float]:
    return per_worker(url, "rnnvoice_streams_ended_total", outcome="completed")


def fresh_client(server, token: str = OPS) -> VoiceClient:
    """A client on a connection of its own (the kernel picks its worker)."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    return VoiceClient(server.target, timeout_s=30, options=options, connection=Connection(token=token))


def client_of(server, worker: str) -> VoiceClient:
    """A client whose connection reaches `worker`: fresh connections until a call on one completes there."""
    for _ in range(TRIES):
        client = fresh_client(server)
        before = completed(server.metrics_url)
        client.recognize(SHORT)
        after = completed(server.metrics_url)
        if after[worker] > before[worker]:
            return client
        client.close()
    raise AssertionError(f"no connection of {TRIES} reached worker {worker}")


def held_open(client: VoiceClient, gate: threading.Event, token: str = OPS, resumable: bool = False):
    """A stream that sent one chunk and waits for the gate; its first response (scores, or the resumption) read."""
    config = stream_config(SHORT, interim_scores=True)
    config.resumable = resumable

    def requests():
        yield pb.StreamAudioRequest(config=config)
        yield pb.StreamAudioRequest(audio=pb.AudioChunk(sequence=0, data=PCM))
        gate.wait(30)

    call = client.stub.StreamAudio(requests(), metadata=(("authorization", f"Bearer {token}"),), timeout=60)
    first = next(call)
    return call, first


def test_streams_over_several_connections_reach_both_workers(workers):
    audio = read_audio(FIXTURES / "spoken_seven_yes.wav")
    for worker in WORKERS:
        with client_of(workers, worker) as client:
            before = completed(workers.metrics_url)[worker]
            responses = list(client.stream_audio(audio, resumable=False))
            assert [r.detection.keyword for r in responses if r.HasField("detection")] == ["seven", "yes"]
            assert completed(workers.metrics_url)[worker] == before + 1


def test_a_resume_that_lands_on_the_other_worker_is_relayed_with_all_its_results(workers):
    audio = read_audio(FIXTURES / "spoken_seven_yes.wav")
    config = stream_config(audio, interim_scores=True)
    with fresh_client(workers) as direct:
        expected = results(direct.stream(config, audio.chunks(0.1), resumable=False))
    url = workers.metrics_url
    before_resumes, before_relays = per_worker(url, "rnnvoice_stream_resumes_total"), relays(url)

    with (
        cutting_proxy(workers.target) as (proxy, cut),
        VoiceClient(proxy.target, timeout_s=60, connection=Connection(token=OPS)) as client,
    ):

        def chunks():
            """Half the audio; then its connection is cut, and each reconnection (to either worker) resumes the
            stream, until one was relayed; then the rest."""
            parts = list(audio.chunks(0.1))
            yield from parts[: len(parts) // 2]
            for _ in range(TRIES):
                resumed = sum(per_worker(url, "rnnvoice_stream_resumes_total").values())
                assert cut() >= 1
                assert wait_until(lambda r=resumed: sum(per_worker(url, "rnnvoice_stream_resumes_total").values()) > r)
                if sum(relays(url).values()) > sum(before_relays.values()):
                    break
            yield from parts[len(parts) // 2 :]

        stream = client.stream(config, chunks())
        got = results(stream)
    assert got == expected
    resumed = {w: n - before_resumes[w] for w, n in per_worker(url, "rnnvoice_stream_resumes_total").items()}
    relayed = {w: n - before_relays[w] for w, n in relays(url).items()}
    # Every resume reached the worker keeping the stream; those that landed on the other came through its relay.
    [owner] = [w for w in WORKERS if resumed[w]]
    [other] = [w for w in WORKERS if w != owner]
    assert resumed == {owner: stream.resumes, other: 0}
    assert relayed[owner] == 0 and 1 <= relayed[other] <= stream.resumes


def relays(url: str) -> dict[str, float]:
    return per_worker(url, "rnnvoice_stream_relays_total")


def test_a_relayed_resume_is_checked_by_the_worker_keeping_the_stream(workers):
    gate = threading.Event()
    with client_of(workers, "0") as first, client_of(workers, "1") as second:
        call, opened = held_open(first, gate, resumable=True)
        token = opened.resumption.token
        call.cancel()  # parked on worker 0
        assert wait_until(lambda: per_worker(workers.metrics_url, "rnnvoice_parked_streams")["0"] == 1)
        gate.set()
        before = relays(workers.metrics_url)["1"]
        resume = pb.StreamAudioRequest(resume=pb.ResumeStream(token=token))
        # Another holder's token, valid on both workers: worker 1 relays the call, worker 0 refuses it.
        error = rpc_error(
            lambda: second.stub.StreamAudio(iter([resume]), metadata=(("authorization", f"Bearer {OLD}"),), timeout=30)
        )
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED and "another bearer token" in error.details()
        assert relays(workers.metrics_url)["1"] == before + 1
        # The holder's own token resumes it through the relay; the client's cancel reaches worker 0, which parks
        # the stream again (and counts that call; worker 1 counts nothing).
        url = workers.metrics_url
        parked = per_worker(url, "rnnvoice_streams_ended_total", outcome="parked")
        call = second.stub.StreamAudio(iter([resume]), metadata=(("authorization", f"Bearer {OPS}"),), timeout=30)
        assert next(call).resumption.token == token
        call.cancel()
        again = {"0": parked["0"] + 1, "1": parked["1"]}
        assert wait_until(lambda: per_worker(url, "rnnvoice_streams_ended_total", outcome="parked") == again)
        # Bytes that are no request go on to worker 0, which refuses them and closes the stream, as it would have
        # on a connection of its own.
        resumed = threading.Event()

        def requests():
            yield resume.SerializeToString()
            resumed.wait(30)
            yield b"\xff\xff\xff"

        rejected = per_worker(url, "rnnvoice_streams_ended_total", outcome="rejected", code="INVALID_ARGUMENT")
        raw = second.channel.stream_stream("/rnnvoice.v1.Voice/StreamAudio")
        call = raw(requests(), metadata=(("authorization", f"Bearer {OPS}"),), timeout=30)
        assert pb.StreamAudioResponse.FromString(next(call)).resumption.token == token
        resumed.set()
        with pytest.raises(grpc.RpcError) as refused:
            list(call)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid StreamAudioRequest message" in refused.value.details()
        # Counted by worker 0 alone, and closed there, not parked.
        after = per_worker(url, "rnnvoice_streams_ended_total", outcome="rejected", code="INVALID_ARGUMENT")
        assert after == {"0": rejected["0"] + 1, "1": rejected["1"]}
        assert wait_until(lambda: active(url)["0"] == 0, timeout_s=WINDOW_S / 3) and relays(url)["1"] == before + 3


def active(url: str) -> dict[str, float]:
    return per_worker(url, "rnnvoice_active_streams")


def test_limits_hold_for_the_whole_server(workers):
    assert wait_until(lambda: sum(active(workers.metrics_url).values()) == 0, 3 * WINDOW_S)  # left by tests before
    gate = threading.Event()
    clients = [client_of(workers, w) for w in WORKERS]
    calls = []
    try:
        # The token's own limit, 2: one stream on each worker, and no third on either.
        for client in clients:
            calls.append(held_open(client, gate, LIMITED)[0])
        for client in clients:
            error = rpc_error(lambda c=client: held_open(c, gate, LIMITED))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "the token of 'limited' has its limit of 2 streams open" in error.details()
        # The server's, 6: four more, and no seventh on either.
        for client in clients * 2:
            calls.append(held_open(client, gate)[0])
        for client in clients:
            error = rpc_error(lambda c=client: held_open(c, gate))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "the server is at its limit of 6 streams" in error.details()
        assert active(workers.metrics_url) == {"0": 3, "1": 3}
        gate.set()
        for call in calls:
            assert list(call)[-1].HasField("summary")
        # Closed streams free their slots, whichever worker held them.
        assert wait_until(lambda: sum(active(workers.metrics_url).values()) == 0)
        again = threading.Event()
        calls = [held_open(client, again, LIMITED)[0] for client in clients]
        again.set()
        for call in calls:
            assert list(call)[-1].HasField("summary")
    finally:
        gate.set()
        for client in clients:
            client.close()


def test_an_address_refused_by_one_worker_is_held_off_by_the_other(workers):
    with client_of(workers, "0") as first, client_of(workers, "1") as second:

        def list_models(client: VoiceClient, token: str) -> grpc.RpcError:
            return rpc_error(
                lambda: client.stub.ListModels(pb.ListModelsRequest(), metadata=(("authorization", f"Bearer {token}"),))
            )

        for _ in range(4):
            assert list_models(first, "a wrong token guessed").code() == grpc.StatusCode.UNAUTHENTICATED
        error = list_models(second, OPS)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "were refused" in error.details()
        time.sleep(WINDOW_S)  # the window ends: the tests after it call from the same address
        assert len(second.list_models()) == 4


def test_sighup_reaches_every_worker(workers, folder):
    (folder / "tokens").write_text(TOKENS.replace(f"old {OLD}", f"new {NEW}"))
    os.kill(workers.process.pid, signal.SIGHUP)
    for worker in WORKERS:
        with client_of(workers, worker) as client:

            def refused(token: str) -> bool:
                try:
                    client.stub.ListModels(pb.ListModelsRequest(), metadata=(("authorization", f"Bearer {token}"),))
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.UNAUTHENTICATED
                    return True
                return False

            assert wait_until(lambda: refused(OLD), timeout_s=10)
            assert not refused(NEW)


@pytest.mark.slow
def test_sigterm_drains_every_worker_and_stops(tmp_path):
    gate = threading.Event()
    with serve(tmp_path) as running:
        clients = [client_of(running, w) for w in WORKERS]
        calls = [held_open(client, gate)[0] for client in clients]
        os.kill(running.process.pid, signal.SIGTERM)
        for call in calls:
            summary = None
            with pytest.raises(grpc.RpcError) as ended:
                for response in call:
                    summary = response.summary if response.HasField("summary") else summary
            assert summary.end_reason == pb.STREAM_END_DRAINED
            assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
            assert DRAINED_METADATA in tuple(ended.value.trailing_metadata())
        assert running.process.wait(30) == 0
        gate.set()
        for client in clients:
            client.close()


def worker_pids(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.slow
def test_a_worker_that_dies_is_started_again_and_only_its_streams_are_lost(tmp_path):
    with serve(tmp_path, "--max-streams", "2", "--resume-window-s", "30") as running:
        url = running.metrics_url
        gate = threading.Event()
        tokens = {}
        for worker in WORKERS:  # a parked stream on each worker: the whole server's limit
            with client_of(running, worker) as client:
                call, opened = held_open(client, gate, resumable=True)
                tokens[worker] = opened.resumption.token
                call.cancel()
        gate.set()
        assert wait_until(lambda: per_worker(url, "rnnvoice_parked_streams") == {"0": 1, "1": 1})
        os.kill(worker_pids(running.process.pid)[0], signal.SIGKILL)
        assert wait_until(lambda: sum(per_worker(url, "rnnvoice_worker_restarts_total").values()) == 1, 60)
        [killed] = [w for w, n in per_worker(url, "rnnvoice_worker_restarts_total").items() if n]
        [alive] = [w for w in WORKERS if w != killed]
        # Started again: its metrics answer once it serves.
        assert wait_until(lambda: any(s.labels["worker"] == killed for s in scrape(url) if s.name == "python_info"), 60)
        with client_of(running, killed) as client, client_of(running, alive) as other:
            # The killed worker's parked stream is gone, wherever its resume lands; the other's resumes.
            resume = pb.StreamAudioRequest(resume=pb.ResumeStream(token=tokens[killed]))
            for c in (client, other):
                error = rpc_error(lambda c=c: c.stub.StreamAudio(iter([resume]), metadata=c.metadata, timeout=30))
                assert error.code() == grpc.StatusCode.NOT_FOUND
            # Its slot was given back: one parked stream and one new one make the limit of 2.
            again = threading.Event()
            call, _ = held_open(client, again)
            error = rpc_error(lambda: held_open(other, again))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            again.set()
            assert list(call)[-1].HasField("summary")
            resume = pb.StreamAudioRequest(resume=pb.ResumeStream(token=tokens[alive]))
            responses = client.stub.StreamAudio(iter([resume]), metadata=client.metadata, timeout=30)
            assert next(responses).resumption.token == tokens[alive]
            responses.cancel()


def test_workers_need_a_port_of_their_own_and_one_or_more():
    for args, said in (
        (["--workers", "2", "--port", "0"], "error: --workers needs a --port"),
        (["--workers", "0"], "error: --workers 0: give 1 or more"),
    ):
        out = subprocess.run([*SERVE, *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and said in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_a_worker_that_cannot_start_stops_the_server_with_its_reason(tmp_path):
    missing = tmp_path / "gone.pt"
    out = subprocess.run(
        [*SERVE, "--workers", "2", "--port", str(free_port()), "--model", f"keywords:gru={missing}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.splitlines()[-1] == f"error: the keywords gru model file {missing} does not exist"


def test_the_soak_reads_the_memory_of_every_worker(workers):
    """`rnnvoice soak --workers 2` watches the memory of the whole server: the supervisor's process and its
    workers', as the workers' own metrics count it."""
    tree = ServerUnderTest(workers.target, workers.metrics_url, workers.process.pid).rss_bytes()
    metrics = value(scrape(workers.metrics_url), "process_resident_memory_bytes")  # every worker and the supervisor
    workers_alone = sum(per_worker(workers.metrics_url, "process_resident_memory_bytes").values())
    assert workers_alone > 2 * 100_000_000  # each holds its own models
    assert tree == pytest.approx(metrics, rel=0.1)
