"""A real https OpenID Connect issuer for the tests (aiohttp in a thread): it serves a discovery
document, or an error, under any realm the test sets; its certificate comes from the tests' CA."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

WELL_KNOWN = "/.well-known/openid-configuration"


def discovery_document(issuer: str) -> dict[str, str]:
    return {"issuer": issuer, "authorization_endpoint": f"{issuer}/protocol/openid-connect/auth",
            "token_endpoint": f"{issuer}/protocol/openid-connect/token",
            "userinfo_endpoint": f"{issuer}/protocol/openid-connect/userinfo",
            "jwks_uri": f"{issuer}/protocol/openid-connect/certs"}


class OidcIssuer:
    def __init__(self, cert: Path, key: Path) -> None:
        self.realms: dict[str, tuple[int, Any]] = {}  # realm -> (status, JSON body)
        self.requests: list[str] = []
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert, key)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def issuer(self, realm: str) -> str:
        return f"https://127.0.0.1:{self.port}/realms/{realm}"

    def serve(self, realm: str, status: int = 200, body: Any = None) -> None:
        """What the realm's discovery URL answers from now on (default: a valid document)."""
        self.realms[realm] = (status, discovery_document(self.issuer(realm)) if body is None else body)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        realm = request.path.removeprefix("/realms/").removesuffix(WELL_KNOWN)
        status, body = self.realms.get(realm, (404, {"error": "realm not found"}))
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._context)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def start(self) -> None:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
