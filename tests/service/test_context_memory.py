"""What inline contexts cost a real server: 100 open assistant streams, each with a context of its own, measured as
the `rnnvoice serve` process's resident memory against 100 streams without one (issue 24)."""

import gc
import threading
import weakref
from contextlib import ExitStack

import numpy as np
import pytest

from rnnvoice.clients.client import Audio, VoiceClient, requests, stream_config
from rnnvoice.clients.qa.local_server import local_server
from rnnvoice.clients.qa.scrape import scrape, value
from rnnvoice.models.nlu.context import MAX_CHARACTERS, MAX_CONTEXT_CHARS, MAX_WORDS, parse_context
from rnnvoice.service.registry import InlineContexts
from tests.conftest import wait_until

STREAMS = 100
# What 100 streams with different contexts at the size limits may add to the server's resident memory, over 100
# streams without a context; docs/api.md ("Contexts") cites it with the measured cost (about 390 MB).
CONTEXTS_AT_LIMITS_MB = 450
CHUNK = np.zeros(1600, "<i2").tobytes()  # 100 ms of silence: the stream is set up and has heard audio


def letters(n: int, width: int) -> str:
    """n written in `width` letters (base 26)."""
    return "".join(chr(97 + n // 26**i % 26) for i in range(width))


def context_at_limits(seed: int) -> str:
    """A context as large as the limits let it compile, its own for each seed: 2,000 slot values of eight letters
    said in two expressions (4,000 words, 36,000 characters), then 250 expressions of four two-letter words, with
    an option and a choice, up to the word and character limits."""
    values = ", ".join(letters(seed * 2000 + i, 8) for i in range(2000))
    short = [f"{letters(i, 2)} ({letters(i + 1, 2)}) [{letters(i + 2, 2)}, {letters(i + 3, 2)}]" for i in range(249)]
    expressions = "".join(f"      - '{e}'\n" for e in ["go $thing:a", "put $thing:a", *short])
    return f"context:\n  expressions:\n    say:\n{expressions}  slots:\n    thing: [{values}]\n"


def test_the_test_contexts_reach_the_limits():
    context = parse_context(context_at_limits(7))
    assert 0.95 * MAX_WORDS <= context.words <= MAX_WORDS
    assert 0.95 * MAX_CHARACTERS <= context.characters <= MAX_CHARACTERS
    assert len(context_at_limits(7)) < MAX_CONTEXT_CHARS
    assert context_at_limits(7) != context_at_limits(8)


def test_a_context_is_shared_while_a_stream_holds_it_and_goes_with_its_last_stream():
    contexts = InlineContexts(recent=2)
    texts = [context_at_limits(i) for i in range(5)]
    held = contexts.get(texts[0])  # as an open stream holds its context
    for text in texts[1:]:
        contexts.get(text)
    assert contexts.get(texts[0]) is held  # not compiled again, though three others were asked for since
    gone = weakref.ref(held)
    del held
    for text in texts[1:]:
        contexts.get(text)
    gc.collect()
    assert gone() is None and len(contexts.open) == len(contexts.recent) == 2


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def held_open(server, contexts: list[str]) -> float:
    """The server's resident memory (MB) while one assistant stream per context ("": none) is open, each having sent
    a chunk; every stream ended before this returns."""
    gate = threading.Event()

    def chunks():
        yield CHUNK
        gate.wait(300)

    with ExitStack() as stack:
        client = stack.enter_context(VoiceClient(server.target, timeout_s=300))
        calls = [
            client.stub.StreamAudio(
                requests(stream_config(Audio(b"", 16000), task="assistant", context_yaml=c), chunks()), timeout=300
            )
            for c in contexts
        ]
        stack.callback(gate.set)
        # Open: counted by the server, each context compiled (a context is compiled before the stream opens).
        opened = wait_until(
            lambda: value(scrape(server.metrics_url), "rnnvoice_active_streams") == len(contexts), timeout_s=240
        )
        assert opened, value(scrape(server.metrics_url), "rnnvoice_active_streams")
        rss = rss_mb(server.process.pid)
        gate.set()
        for call in calls:
            assert list(call)[-1].HasField("summary")
    assert wait_until(lambda: value(scrape(server.metrics_url), "rnnvoice_active_streams") == 0, timeout_s=60)
    return rss


@pytest.mark.slow
def test_a_hundred_streams_with_contexts_at_the_limits_stay_within_the_documented_memory():
    with local_server("--max-streams", str(STREAMS + 16)) as server:
        started = rss_mb(server.process.pid)
        plain = held_open(server, [""] * STREAMS)
        at_limits = held_open(server, [context_at_limits(i) for i in range(STREAMS)])
        after = rss_mb(server.process.pid)
    print(
        f"server RSS: {started:.0f} MB started; with {STREAMS} streams open: {plain:.0f} MB without contexts, "
        f"{at_limits:.0f} MB with contexts at the limits; {after:.0f} MB after they closed"
    )
    assert at_limits - plain <= CONTEXTS_AT_LIMITS_MB
