"""SMTP (stdlib smtplib, run in a worker thread so a slow mail server never blocks other hubs)."""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
import ssl
from email.message import EmailMessage


class SmtpError(RuntimeError):
    """A send that failed; the message carries the server's answer, never the credentials."""


@dataclasses.dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    starttls: bool
    timeout: float
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)


def _send(server: SmtpServer, message: EmailMessage) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=server.timeout) as smtp:
        smtp.ehlo()
        if server.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if server.username:
            smtp.login(server.username, server.password or "")
        smtp.send_message(message)


async def send(server: SmtpServer, message: EmailMessage) -> None:
    try:
        await asyncio.to_thread(_send, server, message)
    except smtplib.SMTPResponseException as err:
        text = err.smtp_error.decode(errors="replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
        raise SmtpError(f"{server.host}:{server.port} answered {err.smtp_code} {text}") from err
    except smtplib.SMTPRecipientsRefused as err:
        raise SmtpError(f"{server.host}:{server.port} refused the recipient(s) {', '.join(err.recipients)}") from err
    except (smtplib.SMTPException, OSError, ssl.SSLError) as err:
        raise SmtpError(f"{server.host}:{server.port}: {type(err).__name__}: {err}") from err
