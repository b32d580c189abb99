"""SMTP (stdlib smtplib, run in a worker thread so a slow mail server never blocks other hubs)."""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
import ssl
from email.message import EmailMessage

from communityhub.adapters.tls import client_context


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
    extra_ca_file: str = ""


def _send(server: SmtpServer, message: EmailMessage) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=server.timeout) as smtp:
        smtp.ehlo()
        if server.starttls:
            smtp.starttls(context=client_context(server.extra_ca_file))
            smtp.ehlo()
        if server.username:
            if not smtp.has_extn("auth"):
                hint = " until STARTTLS (turn on CHUB_SMTP_STARTTLS)" if smtp.has_extn("starttls") else ""
                raise SmtpError(f"{server.host}:{server.port} offers no login (SMTP AUTH){hint}")
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
