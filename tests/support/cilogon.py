"""Stand-ins for CILogon: its OAuth2 endpoints, as CILogonOAuthenticator calls them (``https://<cilogon_host>``
``/oauth2/token`` and ``/oauth2/userinfo``): https on 127.0.0.1 with the tests' CA, answering for the person the
test says is logging in. Its authorize page is not served: a browser would go there, so the test does what CILogon
would do once the person has signed in at their institution, which is to send them to the hub's callback with a
code and the hub's own state."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.httpserver import HttpServer


class CILogonStandIn(HttpServer):
    def log_in_as(self, claims: dict[str, Any]) -> None:
        """The next code exchanged is this person's: a token, then their claims (``idp`` and the username claim
        their institution releases, as CILogon's userinfo has them)."""
        token = f"token-of-{claims.get('eppn') or claims.get('email') or 'someone'}"
        self.routes["/oauth2/token"] = (200, json.dumps({"access_token": token, "token_type": "Bearer"}))
        self.routes["/oauth2/userinfo"] = (200, json.dumps(claims))


class CILogonRegistry(HttpServer):
    """A stand-in for CILogon's client management (OA4MP's dynamic client registration at /oauth2/oidc-cm: RFC 7591
    POST, RFC 7592 GET, PUT and DELETE with ?client_id=), as the deployer of the leading provider calls it and the
    operator's adapter does: the administrative client as Bearer base64(id:secret), anything else refused (401)."""

    PATH = "/oauth2/oidc-cm"

    def __init__(self, admin_id: str, admin_secret: str, tls: tuple[Path, Path] | None = None) -> None:
        super().__init__(tls)
        self.bearer = "Bearer " + base64.urlsafe_b64encode(f"{admin_id}:{admin_secret}".encode()).decode()
        self.clients: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str | None]] = []  # (method, client_id)

    @property
    def url(self) -> str:
        return self.base + self.PATH

    async def _registry(self, request: web.Request) -> web.Response:
        client_id = request.query.get("client_id")
        self.calls.append((request.method, client_id))
        if request.headers.get("Authorization") != self.bearer:
            return web.json_response({"error": "invalid_client"}, status=401)
        if request.method == "POST":
            details = await request.json()
            made = f"cilogon:/client_id/{secrets.token_hex(16)}"
            self.clients[made] = {**details, "client_secret": secrets.token_urlsafe(32)}
            return web.json_response({**details, "client_id": made,
                                      "client_secret": self.clients[made]["client_secret"],
                                      "registration_client_uri": f"{self.url}?client_id={made}"}, status=201)
        if client_id not in self.clients:
            return web.json_response({"error": "invalid_request"}, status=404)
        if request.method == "GET":
            return web.json_response({k: v for k, v in self.clients[client_id].items() if k != "client_secret"})
        if request.method == "PUT":
            self.clients[client_id] = {**await request.json(),
                                       "client_secret": self.clients[client_id]["client_secret"]}
            return web.json_response({k: v for k, v in self.clients[client_id].items() if k != "client_secret"})
        del self.clients[client_id]
        return web.Response(status=204)

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", self.PATH, self._registry)
