"""A real SMTP server (aiosmtpd) for the tests: it records what it accepts, can refuse on demand, and
requires a login, so the operator's credentials path is exercised too. Given a certificate it also
requires STARTTLS before anything else (and before the login), as a real mail relay does."""

from __future__ import annotations

import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from localcluster.controlplane import free_port

USERNAME, PASSWORD = "operator", "smtp-pa55word-never-shown"


class SmtpSink:
    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        """``tls``: the server's certificate and key files; then STARTTLS is required."""
        self.messages: list[EmailMessage] = []
        self.refusals: dict[str, int] = {}  # recipient -> how many more deliveries to refuse with 451
        self.refused: list[str] = []
        self.logins: list[str] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.tls_sessions = 0
        context = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, authenticator=self._authenticate,
                                     auth_required=True, auth_require_tls=tls is not None,
                                     tls_context=context, require_starttls=tls is not None)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USERNAME.encode(), PASSWORD.encode())
        if ok:
            self.logins.append(USERNAME)
            self.tls_sessions += session.ssl is not None
        return AuthResult(success=ok)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                if self.refusals.get(rcpt, 0) > 0:
                    self.refusals[rcpt] -= 1
                    self.refused.append(rcpt)
                    return "451 4.3.0 mailbox busy, try again later"
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
