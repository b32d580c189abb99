"""OIDC discovery: the pure document check, and the adapter against a real local HTTP server."""

from __future__ import annotations

import asyncio

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
        assert await http.get_json(f"{base}/ok", timeout_seconds=5, token="s3cret") == {"a": 1}
        for path, text in (("/bad", "HTTP 500"), ("/junk", "JSONDecodeError"), ("/missing", "HTTP 404")):
            with pytest.raises(http.HttpError, match=text) as err:
                await http.get_json(f"{base}{path}", timeout_seconds=5, token="s3cret")
            assert "s3cret" not in str(err.value)
        with pytest.raises(http.HttpError, match=r"127\.0\.0\.1:9"):
            await http.get_json("http://127.0.0.1:9/x", timeout_seconds=2)

    with HttpServer() as server:
        server.routes.update({"/ok": (200, '{"a": 1}'), "/bad": (500, "boom"), "/junk": (200, "{")})
        asyncio.run(scenario(server.base))
