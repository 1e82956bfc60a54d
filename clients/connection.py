"""How a client reaches a server: plaintext or TLS (with a client certificate for mutual TLS), and a bearer token."""

import argparse
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from rnnvoice.clients.errors import UsageError
from rnnvoice.service.settings import ServerSettings

# Where a client looks when told nowhere else: a server started with its defaults on this machine.
DEFAULT_SERVER = f"localhost:{ServerSettings.port}"

# Large enough for a Recognize call's whole recording and its results.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MESSAGE_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)
# A lost connection is made again within a fraction of a second (a resume needs it), a restarted server found
# within about two seconds, not after gRPC's default back-off of up to two minutes.
RECONNECT = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


@dataclass(frozen=True)
class Connection:
    """TLS: on with `tls` or any file; `ca` the roots that signed the server's certificate (default: the system's);
    `cert` and `key` the client's own, for mutual TLS. `token` goes in every call's `authorization` metadata."""

    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    token: str | None = field(default=None, repr=False)

    @property
    def secure(self) -> bool:
        return self.tls or any((self.ca, self.cert, self.key))

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.cert is None) != (self.key is None):
            raise UsageError("a client certificate needs its key: give both --tls-cert and --tls-key")
        ca, key, cert = (Path(p).read_bytes() if p else None for p in (self.ca, self.key, self.cert))
        return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)

    def ssl_context(self) -> ssl.SSLContext:
        """The same trust (and client certificate) for HTTPS: a server with TLS serves its metrics over it."""
        context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
        if self.cert is not None:
            context.load_cert_chain(str(self.cert), str(self.key) if self.key else None)
        return context

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def channel(self, target: str, options=()) -> grpc.Channel:
        options = [*MESSAGE_OPTIONS, *RECONNECT, *options]
        if self.secure:
            return grpc.secure_channel(target, self.credentials(), options=options)
        return grpc.insecure_channel(target, options=options)

    def aio_channel(self, target: str, options=()) -> grpc.aio.Channel:
        options = [*MESSAGE_OPTIONS, *RECONNECT, *options]
        if self.secure:
            return grpc.aio.secure_channel(target, self.credentials(), options=options)
        return grpc.aio.insecure_channel(target, options=options)


def add_connection_arguments(p: argparse.ArgumentParser, token: bool = True) -> None:
    """The flags of every command that talks to a server."""
    env = os.environ.get
    p.add_argument("--tls", action="store_true", help="connect over TLS, trusting the system's certificate authorities")
    p.add_argument(
        "--tls-ca",
        type=Path,
        default=env("RNNVOICE_TLS_CA"),
        help="connect over TLS, trusting this CA certificate, PEM (RNNVOICE_TLS_CA; default: plaintext, "
        "or the system's authorities with --tls)",
    )
    p.add_argument(
        "--tls-cert",
        type=Path,
        default=env("RNNVOICE_TLS_CLIENT_CERT"),
        help="this client's certificate, PEM, for mutual TLS (RNNVOICE_TLS_CLIENT_CERT; default: none)",
    )
    p.add_argument(
        "--tls-key",
        type=Path,
        default=env("RNNVOICE_TLS_CLIENT_KEY"),
        help="its private key, PEM (RNNVOICE_TLS_CLIENT_KEY; needed with --tls-cert)",
    )
    if token:
        p.add_argument(
            "--token",
            default=env("RNNVOICE_TOKEN"),
            help="bearer token for a server that asks for one (RNNVOICE_TOKEN, which keeps it out of ps; "
            "default: none)",
        )


def connection_from_args(args: argparse.Namespace) -> Connection:
    for path in (args.tls_ca, args.tls_cert, args.tls_key):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{path} does not exist")
    return Connection(args.tls, args.tls_ca, args.tls_cert, args.tls_key, getattr(args, "token", None))
