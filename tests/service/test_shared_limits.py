"""The limits the workers of one server share, each worker with its own map of the shared file (as two processes
have): stream counts overall and per token holder, the refusal windows of addresses, and who believes a relayed peer."""

import grpc
import pytest

from rnnvoice.service.auth import RELAYED_PEER, Access, Grant, parse_tokens
from rnnvoice.service.errors import StreamError
from rnnvoice.service.shared_limits import SharedRefusalLimit, SharedState, SharedStreamCounts
from tests.conftest import Clock

KIOSK = Grant("kiosk", "k" * 24, max_streams=2)
OPS = Grant("ops", "o" * 24)


@pytest.fixture()
def maps(tmp_path):
    """Two workers' maps of one shared file, for a server of at most 3 streams."""
    states = [SharedState(tmp_path / "shared", 2, 3, addresses=3) for _ in range(2)]
    yield states
    for state in states:
        state.close()


def full(counts: SharedStreamCounts, grant: Grant) -> str:
    with pytest.raises(StreamError) as refused:
        counts.take(grant)
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and refused.value.retry_after_s == 1.0
    return refused.value.message


def test_stream_counts_hold_for_every_worker_together(maps):
    first, second = (SharedStreamCounts(state, worker, 3, 1.0) for worker, state in enumerate(maps))
    first.take(KIOSK)
    second.take(KIOSK)
    for counts in (first, second):
        assert full(counts, KIOSK) == "the token of 'kiosk' has its limit of 2 streams open; retry in 1 s"
    second.take(OPS)
    for counts in (first, second):
        assert full(counts, OPS) == "the server is at its limit of 3 streams; retry in 1 s"
    first.release(KIOSK)
    first.take(OPS)
    assert full(second, KIOSK) == "the server is at its limit of 3 streams; retry in 1 s"
    assert maps[0].streams[:, 0].tolist() == [1, 2]


def test_a_dead_workers_streams_are_forgotten_and_holders_slots_reused(maps):
    first, second = (SharedStreamCounts(state, worker, 3, 1.0) for worker, state in enumerate(maps))
    second.take(KIOSK)
    second.take(KIOSK)
    assert full(first, KIOSK).startswith("the token of 'kiosk'")
    maps[0].end(1)  # what the supervisor does when worker 1 dies
    first.take(KIOSK)
    first.release(KIOSK)
    # Many more holders over time than slots (max_streams + 1): a holder with no stream open gives its slot up.
    for n in range(50):
        holder = Grant(f"holder{n}", "t" * 24, max_streams=1)
        first.take(holder)
        assert full(second, holder).startswith(f"the token of 'holder{n}'")
        first.release(holder)
    assert maps[1].streams.sum() == 0


def test_incarnations_name_the_worker_that_runs_them(maps):
    maps[0].begin(0, 1)
    maps[0].begin(1, 2)
    assert (maps[1].worker_of(1), maps[1].worker_of(2), maps[1].worker_of(3)) == (0, 1, None)
    maps[0].end(1)
    assert maps[1].worker_of(2) is None and maps[1].worker_of(0) is None


def test_refusals_add_up_over_the_workers_and_their_windows_end_on_time(maps):
    clock = Clock()
    first, second = (SharedRefusalLimit(state, 3, 60.0, clock) for state in maps)
    peer = "ipv4:10.0.0.7:53122"
    first.refused(peer)
    second.refused("ipv4:10.0.0.7:40000")  # another connection of the address, to the other worker
    assert first.held_off(peer) is None and second.held_off(peer) is None
    clock.now += 10
    second.refused(peer)
    for limit in (first, second):
        error = limit.held_off(peer)
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and error.retry_after_s == pytest.approx(50.0)
        assert limit.held_off("ipv4:10.0.0.8:1") is None
    clock.now += 50
    assert first.held_off(peer) is None
    first.refused(peer)  # a new window, counted from one
    second.refused(peer)
    assert second.held_off(peer) is None


def test_the_shared_table_of_addresses_is_bounded_and_forgets_the_oldest_window_first(maps):
    clock = Clock()
    first, second = (SharedRefusalLimit(state, 1, 60.0, clock) for state in maps)
    for n in range(5):
        (first, second)[n % 2].refused(f"ipv4:10.0.0.{n}:1")
        clock.now += 1
    assert first.held_off("ipv4:10.0.0.0:1") is None and first.held_off("ipv4:10.0.0.1:1") is None
    assert all(second.held_off(f"ipv4:10.0.0.{n}:1") is not None for n in (2, 3, 4))


def test_a_relayed_peer_is_believed_only_from_a_workers_unix_socket():
    grants = parse_tokens(f"ops {'o' * 24}", "t")
    relayed = ((RELAYED_PEER, "ipv4:10.0.0.7:53122"),)
    worker, single = Access(grants, relays=True), Access(grants)
    assert worker.caller(relayed, "unix:") == "ipv4:10.0.0.7:53122"
    assert worker.caller((), "unix:") == "unix:"
    # Sent by a client over TCP, or to a server that relays nothing, it is one more header.
    assert worker.caller(relayed, "ipv4:10.0.0.9:1") == "ipv4:10.0.0.9:1"
    assert single.caller(relayed, "unix:") == "unix:"
