"""The SMTP and HTTP adapters against the session's real TLS servers (aiosmtpd requiring STARTTLS, an
https OIDC issuer) whose certificates come from a private CA: trusted through the extra CA bundle, refused
without it, and every failure a clear error without credentials. No control plane needed."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from pathlib import Path

import pytest

from communityhub.adapters import http
from communityhub.adapters.smtp import SmtpError, SmtpServer, send
from communityhub.runtime.settings import Settings
from localcluster.pki import CertificateAuthority
from tests.support import smtp
from tests.support.oidc import WELL_KNOWN, OidcIssuer, discovery_document
from tests.support.smtp import SmtpSink

UNTRUSTED = r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"


@pytest.fixture
def other_ca(tmp_path: Path) -> str:
    return str(CertificateAuthority(tmp_path).cert_path)


def message(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "hubs@example.org", to, "DELIVERED"
    msg.set_content("Your hub is ready.")
    return msg


def server(sink: SmtpSink, ca_file: str, starttls: bool = True) -> SmtpServer:
    return SmtpServer("127.0.0.1", sink.port, starttls=starttls, timeout=10,
                      username=smtp.USERNAME, password=smtp.PASSWORD, extra_ca_file=ca_file)


def test_starttls_with_the_extra_ca_delivers(smtp_sink: SmtpSink, tls_ca: CertificateAuthority) -> None:
    before = smtp_sink.tls_sessions
    asyncio.run(send(server(smtp_sink, str(tls_ca.cert_path)), message("trusted@example.org")))
    assert [m["Subject"] for m in smtp_sink.to("trusted@example.org")] == ["DELIVERED"]
    assert smtp_sink.tls_sessions == before + 1  # the login went over TLS


def test_starttls_with_an_untrusted_certificate_is_refused(smtp_sink: SmtpSink, other_ca: str) -> None:
    for ca_file in ("", other_ca):  # the system's CAs alone, and some other private CA
        with pytest.raises(SmtpError, match=UNTRUSTED) as err:
            asyncio.run(send(server(smtp_sink, ca_file), message("untrusted@example.org")))
        assert smtp.PASSWORD not in str(err.value)
    assert smtp_sink.to("untrusted@example.org") == []


def test_without_starttls_the_missing_login_is_explained(smtp_sink: SmtpSink, tls_ca: CertificateAuthority) -> None:
    with pytest.raises(SmtpError, match=r"offers no login \(SMTP AUTH\) until STARTTLS") as err:
        asyncio.run(send(server(smtp_sink, str(tls_ca.cert_path), starttls=False), message("plain@example.org")))
    assert smtp_sink.to("plain@example.org") == []
    assert smtp.PASSWORD not in str(err.value)


def test_https_reads_trust_the_extra_ca_only(oidc_issuer: OidcIssuer, tls_ca: CertificateAuthority,
                                             other_ca: str, tmp_path: Path) -> None:
    oidc_issuer.serve("adapter")
    url = oidc_issuer.issuer("adapter") + WELL_KNOWN

    async def scenario() -> None:
        got = await http.get_json(url, timeout_seconds=5, extra_ca_file=str(tls_ca.cert_path), allow_private=True)
        assert got == discovery_document(oidc_issuer.issuer("adapter"))
        for ca_file in ("", other_ca):
            with pytest.raises(http.HttpError, match=UNTRUSTED):
                await http.get_json(url, timeout_seconds=5, token="s3cret", extra_ca_file=ca_file, allow_private=True)
        garbage = tmp_path / "garbage.pem"
        garbage.write_text("not a certificate")
        with pytest.raises(http.HttpError, match="SSLError"):
            await http.get_json(url, timeout_seconds=5, extra_ca_file=str(garbage), allow_private=True)

    asyncio.run(scenario())


def test_a_missing_ca_bundle_stops_the_operator_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        Settings.from_env({"CHUB_EXTRA_CA_FILE": str(tmp_path / "missing.pem")})
