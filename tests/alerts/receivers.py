"""Real notification receivers on loopback for the alerts tests: an HTTP server that records every request (and can
answer with chosen statuses, or hold its answer until released), and an SMTP server (aiosmtpd) with STARTTLS under
a self-signed certificate and AUTH LOGIN, recording every message."""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.jobs_harness import free_port


@dataclass(frozen=True)
class Request:
    """One request the HTTP receiver got."""

    at: float  # epoch seconds when its body was read
    path: str
    headers: dict[str, str]
    body: bytes
    client: tuple[str, int] = ("", 0)  # the sender's address and port (which process sent it)


@dataclass
class HttpReceiver:
    """A threaded HTTP server on 127.0.0.1 recording POSTs. ``statuses`` answers the first requests with those
    codes (then 200); while ``hold`` is set, a request is recorded and its answer waits for ``release``."""

    server: ThreadingHTTPServer
    requests: list[Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 120) -> list[Request]:
        """Wait until at least `count` requests arrived; return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise TimeoutError(f"{len(self.requests)} requests after {timeout}s; expected {count}")


class _Server(ThreadingHTTPServer):
    # A listen backlog for a sender's parallel deliveries: with socketserver's 5, the sixth connection at once had
    # its SYN dropped and retried by TCP a second later (8 parallel deliveries of 22 alerts took 1.0 s, not 0.02 s).
    request_queue_size = 128


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    """Start an HttpReceiver on a free loopback port; stop it on exit."""
    holder: dict[str, HttpReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = holder["r"]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                receiver.requests.append(Request(time.time(), self.path, dict(self.headers.items()), body,
                                                 tuple(self.client_address[:2])))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            if receiver.hold.is_set():
                receiver.release.wait(300)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["r"] = receiver = HttpReceiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (cryptography); returns (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class SmtpReceiver:
    """An aiosmtpd server requiring STARTTLS and AUTH LOGIN (user/password), recording each message."""

    port: int
    cert: Path
    user: str
    password: str
    messages: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


@contextmanager
def smtp_receiver(folder: Path, user: str = "alerts", password: str = "s3cret") -> Iterator[SmtpReceiver]:
    """Start an SmtpReceiver on a free loopback port with a fresh self-signed certificate; stop it on exit."""
    import ssl

    cert, key = self_signed_cert(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    receiver = SmtpReceiver(free_port(), cert, user, password)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            receiver.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        if ok:
            receiver.logins.append(mechanism)
        return AuthResult(success=ok, handled=False)

    controller = Controller(Handler(), hostname="127.0.0.1", port=receiver.port, tls_context=context,
                            require_starttls=True, auth_required=True, authenticator=authenticator,
                            auth_exclude_mechanism=["PLAIN"])  # so the client logs in with AUTH LOGIN
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
