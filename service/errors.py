"""The exceptions of the service: a gRPC status for a request, and a reason the server cannot start."""

import grpc

from rnnvoice.protos import DRAINED_METADATA

# Client text in messages and logs is cut to this many characters.
SHOWN_CHARS = 40


class StreamError(Exception):
    """Ends a call with a status and a message that says what to fix.

    outcome: how the stream ended, for the metrics (rejected, drained, timed_out; a drained stream says so in the
    trailing metadata); retry_after_s: a hint sent in the trailing metadata (`retry-after-ms`) when waiting will help.
    """

    def __init__(
        self, code: grpc.StatusCode, message: str, outcome: str = "rejected", retry_after_s: float | None = None
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.outcome = outcome
        self.retry_after_s = retry_after_s

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        """The retry hint and the drained mark as the call's trailing metadata (none without them)."""
        hint = (("retry-after-ms", str(round(self.retry_after_s * 1000))),) if self.retry_after_s else ()
        return hint + ((DRAINED_METADATA,) if self.outcome == "drained" else ())


class StartupError(Exception):
    """A setting or file that keeps the server from starting; the message names it."""


def invalid(message: str) -> StreamError:
    return StreamError(grpc.StatusCode.INVALID_ARGUMENT, message)


def shown(text: str) -> str:
    """Client text as it may appear in a message or a log line: quoted, and cut short when long."""
    if len(text) <= SHOWN_CHARS:
        return repr(text)
    return f"{text[:SHOWN_CHARS]!r}... ({len(text)} characters)"
