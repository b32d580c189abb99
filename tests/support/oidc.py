"""A real https OpenID Connect issuer for the tests: it serves a discovery document, or an error, under
any realm the test sets; its certificate comes from the tests' CA."""

from __future__ import annotations

import json
from typing import Any

from tests.support.httpserver import HttpServer

WELL_KNOWN = "/.well-known/openid-configuration"


def discovery_document(issuer: str) -> dict[str, str]:
    return {"issuer": issuer, "authorization_endpoint": f"{issuer}/protocol/openid-connect/auth",
            "token_endpoint": f"{issuer}/protocol/openid-connect/token",
            "userinfo_endpoint": f"{issuer}/protocol/openid-connect/userinfo",
            "jwks_uri": f"{issuer}/protocol/openid-connect/certs"}


class OidcIssuer(HttpServer):
    def issuer(self, realm: str) -> str:
        return f"{self.base}/realms/{realm}"

    def serve(self, realm: str, status: int = 200, body: Any = None) -> None:
        """What the realm's discovery URL answers from now on (default: a valid document)."""
        document = discovery_document(self.issuer(realm)) if body is None else body
        self.routes[f"/realms/{realm}{WELL_KNOWN}"] = (status, json.dumps(document))
