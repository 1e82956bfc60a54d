"""Who gets in: bearer tokens (each with the tasks it may use and its own stream limit) and TLS credentials."""

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from rnnvoice.models.types import Task
from rnnvoice.protos import SERVICE_NAME
from rnnvoice.service.errors import StartupError, StreamError

# Shorter tokens can be guessed; `python -c "import secrets; print(secrets.token_urlsafe(32))"` makes a good one.
MIN_TOKEN_CHARS = 16
ALL_TASKS = frozenset(Task)


@dataclass(frozen=True)
class Grant:
    """What one token lets its holder do. The name is what logs and limits know the holder by."""

    name: str
    token: str = field(repr=False)  # never in a log line or a message
    tasks: frozenset[Task] = ALL_TASKS
    max_streams: int | None = None  # None: only the server's limit


# The caller of a server without tokens: everything, within the server's limits.
ANYONE = Grant("anyone", "", ALL_TASKS)


def parse_tokens(text: str, source: str) -> tuple[Grant, ...]:
    """Lines of `NAME TOKEN [TASKS [MAX_STREAMS]]` (TASKS: comma-separated, or * for all); # starts a comment.
    `;` separates entries too, so that an environment variable can hold several."""
    grants = []
    for number, line in enumerate(text.replace(";", "\n").splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{source}, entry {number}"
        if not 2 <= len(fields) <= 4:
            raise StartupError(f"{where}: expected NAME TOKEN [TASKS [MAX_STREAMS]], got {len(fields)} fields")
        name, token, tasks, limit = fields + ["*", ""][len(fields) - 2 :]
        if len(token) < MIN_TOKEN_CHARS:
            raise StartupError(
                f"{where}: the token of {name!r} has {len(token)} characters; use at least "
                f"{MIN_TOKEN_CHARS} random ones"
            )
        try:
            allowed = ALL_TASKS if tasks == "*" else frozenset(Task(t) for t in tasks.split(","))
        except ValueError:
            raise StartupError(f"{where}: tasks {tasks!r}; use * or some of {','.join(ALL_TASKS)}") from None
        if limit and not (limit.isdigit() and int(limit) > 0):
            raise StartupError(f"{where}: MAX_STREAMS {limit!r} is not a positive number")
        grants.append(Grant(name, token, allowed, int(limit) if limit else None))
    return tuple(grants)


def load_tokens(path: Path | None, environment: str | None) -> tuple[Grant, ...]:
    """The grants of a token file and of the environment variable's text, together."""
    grants = parse_tokens(environment, "RNNVOICE_TOKENS") if environment else ()
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise StartupError(f"cannot read the token file {path}: {e.strerror}") from None
        grants += parse_tokens(text, str(path))
    if len({g.name for g in grants}) < len(grants) or len({g.token for g in grants}) < len(grants):
        raise StartupError(
            "every token entry needs a name and a token of its own (RNNVOICE_TOKENS and the token file together)"
        )
    return grants


class Access:
    """Finds the grant of a call from its `authorization: Bearer TOKEN` metadata."""

    def __init__(self, grants: Iterable[Grant]):
        self.grants = tuple(grants)
        # Digests are compared, not tokens: equal lengths, so not even a token's length shows in the timing.
        self.digests = [(_digest(g.token), g) for g in self.grants]

    @property
    def required(self) -> bool:
        return bool(self.grants)

    def grant(self, metadata) -> Grant:
        """The caller's grant; StreamError UNAUTHENTICATED without a valid token."""
        if not self.grants:
            return ANYONE
        header = next((value for key, value in metadata or () if key == "authorization"), None)
        if header is None:
            raise StreamError(
                grpc.StatusCode.UNAUTHENTICATED,
                "this server needs a token: send `authorization: Bearer TOKEN` metadata (--token)",
            )
        scheme, _, token = header.partition(" ")
        presented, found = _digest(token), None
        for digest, grant in self.digests:  # every one compared, in constant time: no timing says how close a guess was
            if hmac.compare_digest(presented, digest):
                found = grant
        if found is None or scheme.lower() != "bearer":
            raise StreamError(grpc.StatusCode.UNAUTHENTICATED, "the token is not valid for this server")
        return found

    @staticmethod
    def permit(grant: Grant, task: Task) -> None:
        """StreamError PERMISSION_DENIED unless the grant covers the task."""
        if task not in grant.tasks:
            raise StreamError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"the token of {grant.name!r} may not use {task}; it may use {', '.join(sorted(grant.tasks))}",
            )


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenCheck(grpc.aio.ServerInterceptor):
    """Refuses Voice calls without a valid token before their first message is read; health stays open."""

    def __init__(self, access: Access):
        self.access = access
        self.prefix = f"/{SERVICE_NAME}/"

    async def intercept_service(self, continuation, details):
        if details.method.startswith(self.prefix):
            try:
                self.access.grant(details.invocation_metadata)
            except StreamError as e:
                return _refusal(e)
        return await continuation(details)


def _refusal(error: StreamError) -> grpc.RpcMethodHandler:
    async def refuse(requests, context):
        await context.abort(error.code, error.message)

    # A streaming handler reads nothing, whatever the method: the refused body is never received.
    return grpc.stream_stream_rpc_method_handler(refuse)


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise StartupError(f"cannot read the {what} {path}: {e.strerror}") from None


def server_credentials(cert: Path | None, key: Path | None, client_ca: Path | None) -> grpc.ServerCredentials | None:
    """TLS from PEM files, with client certificates required when client_ca is given; None without a certificate."""
    if cert is None and key is None:
        if client_ca is not None:
            raise StartupError("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
        return None
    if cert is None or key is None:
        raise StartupError("TLS needs both --tls-cert and --tls-key")
    ca = _read(client_ca, "client CA file") if client_ca else None
    return grpc.ssl_server_credentials(
        [(_read(key, "TLS key file"), _read(cert, "TLS certificate file"))],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
