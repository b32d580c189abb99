"""OIDC discovery: the pure document check, and the adapter against a real local HTTP server."""

from __future__ import annotations

import asyncio
import re

import pytest

from communityhub.adapters import http
from communityhub.delivery import identity
from tests.support.httpserver import HttpServer

ISSUER = "https://id.example.org/realms/hub"
DOC = {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token",
       "userinfo_endpoint": f"{ISSUER}/userinfo", "jwks_uri": f"{ISSUER}/certs"}


def test_endpoints_from_a_discovery_document() -> None:
    assert identity.oidc_endpoints(ISSUER + "/", DOC) == {
        "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token",
        "userinfo_endpoint": f"{ISSUER}/userinfo"}
    assert identity.discovery_url(ISSUER + "/") == f"{ISSUER}/.well-known/openid-configuration"


@pytest.mark.parametrize(("document", "error"), [
    ({**DOC, "issuer": "https://evil.example.org"}, "names issuer"),
    ({k: v for k, v in DOC.items() if k != "userinfo_endpoint"}, "no userinfo_endpoint"),
    (["not", "an", "object"], "not a JSON object"),
])
def test_bad_discovery_documents_are_refused(document: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        identity.oidc_endpoints(ISSUER, document)


def test_get_json_reads_and_reports_errors_without_the_token() -> None:
    async def scenario(base: str) -> None:
        assert await http.get_json(f"{base}/ok", timeout_seconds=5, token="s3cret", allow_private=True) == {"a": 1}
        for path, text in (("/bad", "HTTP 500"), ("/junk", "JSONDecodeError"), ("/missing", "HTTP 404")):
            with pytest.raises(http.HttpError, match=text) as err:
                await http.get_json(f"{base}{path}", timeout_seconds=5, token="s3cret", allow_private=True)
            assert "s3cret" not in str(err.value)
        with pytest.raises(http.HttpError, match=r"127\.0\.0\.1:9"):
            await http.get_json("http://127.0.0.1:9/x", timeout_seconds=2, allow_private=True)

    with HttpServer() as server:
        server.routes.update({"/ok": (200, '{"a": 1}'), "/bad": (500, "boom"), "/junk": (200, "{")})
        asyncio.run(scenario(server.base))


def test_a_redirect_is_not_followed_and_its_query_is_not_repeated() -> None:
    """OIDC discovery and metering go where a tenant points them: a redirect (to plain http, to the metadata
    server) would take the request, and a hub API's token, elsewhere (issue 29, finding 9)."""
    async def scenario(base: str) -> None:
        with pytest.raises(http.HttpError, match=re.escape("redirects to http://169.254.169.254/computeMetadata, "
                                                           "which is not followed")) as err:
            await http.get_json(f"{base}/moved", timeout_seconds=5, token="s3cret", allow_private=True)
        assert "s3cret" not in str(err.value) and "code=" not in str(err.value)

    with HttpServer() as server:
        server.routes["/moved"] = (302, "http://169.254.169.254/computeMetadata?code=abc")
        asyncio.run(scenario(server.base))
        assert server.requests == ["/moved"]


@pytest.mark.parametrize(("url", "why"), [
    ("http://127.0.0.1:{port}/ok", "127.0.0.1 is a loopback address"),
    ("http://localhost:{port}/ok", "localhost resolves to .* is a loopback address"),
    ("http://169.254.169.254/computeMetadata/v1/", "169.254.169.254 is a link-local address"),
    ("http://[::ffff:10.0.0.1]/x", "10.0.0.1 is a private address"),
])
def test_private_addresses_are_not_reached_unless_the_provider_allows_them(url: str, why: str) -> None:
    async def scenario(port: int) -> None:
        with pytest.raises(http.HttpError, match=why):
            await http.get_json(url.format(port=port), timeout_seconds=5)

    with HttpServer() as server:
        server.routes["/ok"] = (200, '{"a": 1}')
        asyncio.run(scenario(server.port))
        assert server.requests == []  # refused before a connection was made


def test_public_addresses_pass_the_check() -> None:
    assert http.refused_address("8.8.8.8") is None and http.refused_address("2001:4860:4860::8888") is None
    assert http.refused_address("100.64.0.1") is not None  # shared address space (carrier NAT, some clusters)
