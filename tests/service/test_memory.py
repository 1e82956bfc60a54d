"""The memory a burst freed goes back to the system: the allocator's call, and the scheduler that makes it."""

import os
import time

import numpy as np

from rnnvoice.clients.client import Audio
from rnnvoice.service.batching import IDLE_TRIM_S
from rnnvoice.service.memory import give_back_freed_memory
from tests.conftest import fixture_clip, wait_until


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_freed_memory_the_allocator_kept_goes_back():
    """64 MB in blocks too small for their own mappings, freed under one still held (so that free cannot shrink the
    heap from its top): the process holds the pages until they are given back."""
    blocks = [np.ones(64 * 1024 // 8) for _ in range(1000)]
    last = blocks.pop()
    del blocks
    held = rss_bytes()
    assert give_back_freed_memory()
    assert held - rss_bytes() > 48 * 2**20
    del last


def test_the_batch_scheduler_gives_back_freed_memory_once_idle(server, client):
    engine = server.server.servicer.engine
    before = engine.trims
    list(client.stream_audio(Audio.from_array(fixture_clip("yes_sc.wav"), 16000), "gru"))
    assert wait_until(lambda: engine.trims > before)
    trims = engine.trims
    time.sleep(4 * IDLE_TRIM_S)
    assert engine.trims == trims  # idle since, with nothing freed: no more
