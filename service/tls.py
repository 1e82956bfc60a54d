"""The server's TLS files, read at start and again on a reload: new handshakes get what was read last, connections
already made keep theirs."""

import logging
import ssl
import threading
from pathlib import Path

import grpc

from rnnvoice.service.errors import StartupError

log = logging.getLogger(__name__)


class ServerTls:
    """The certificate chain and key, and the client CA of mutual TLS, for gRPC and the metrics endpoint alike."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None):
        self.cert, self.key, self.client_ca = Path(cert), Path(key), client_ca and Path(client_ca)
        initial, self.context = self._read()
        self.pending: grpc.ServerCertificateConfiguration | None = None
        self.lock = threading.Lock()  # gRPC asks for the configuration on its own threads
        # Whether clients must show a certificate is fixed for the server's life; the CA that signs them is not.
        self.credentials = grpc.dynamic_ssl_server_credentials(
            initial, self._fetch, require_client_authentication=client_ca is not None
        )

    @classmethod
    def from_files(cls, cert: Path | None, key: Path | None, client_ca: Path | None) -> "ServerTls | None":
        """TLS from PEM files, with client certificates required when client_ca is given; None without a certificate."""
        if cert is None and key is None:
            if client_ca is not None:
                raise StartupError("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
            return None
        if cert is None or key is None:
            raise StartupError("TLS needs both --tls-cert and --tls-key")
        return cls(cert, key, client_ca)

    def reload(self) -> None:
        """Reads the files again for new handshakes; StartupError naming a file that does not load, and the files
        in use are kept."""
        configuration, context = self._read()
        with self.lock:
            self.pending, self.context = configuration, context
        log.info("TLS files reloaded: new connections get %s", self.cert)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """What gRPC calls before every handshake: the configuration read last, once; None keeps the one it has."""
        with self.lock:
            configuration, self.pending = self.pending, None
        return configuration

    def present(self, connection: ssl.SSLSocket, server_name: str | None, context: ssl.SSLContext) -> None:
        """The metrics endpoint's SNI callback, called on every handshake: the certificate read last."""
        connection.context = self.context

    def _read(self) -> tuple[grpc.ServerCertificateConfiguration, ssl.SSLContext]:
        """The files as gRPC takes them, and as an ssl context. They are loaded by a TLS library first, the key
        with its certificate: a file that would fail every handshake never reaches the server."""
        files = [(self.key, "TLS key file"), (self.cert, "TLS certificate file")]
        files += [(self.client_ca, "client CA file")] if self.client_ca else []
        contents = [_read(path, what) for path, what in files]

        def no_passphrase():
            raise StartupError(f"the TLS key file {self.key} is encrypted; gRPC takes only an unencrypted key")

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.cert, self.key, password=no_passphrase)
        except (ssl.SSLError, OSError) as e:
            raise StartupError(
                f"the TLS certificate file {self.cert} and key file {self.key} do not load as a certificate "
                f"chain (PEM) and its key: {e}"
            ) from None
        if self.client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            try:
                context.load_verify_locations(cadata=contents[2].decode("ascii", "replace"))
            except (ssl.SSLError, ValueError) as e:
                raise StartupError(f"the client CA file {self.client_ca} holds no PEM certificate: {e}") from None
        if [_read(path, what) for path, what in files] != contents:
            raise StartupError("the TLS files changed while they were read; signal again once they are written")
        key, cert, ca = [*contents, None][:3]
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca), context


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise StartupError(f"cannot read the {what} {path}: {e.strerror}") from None
