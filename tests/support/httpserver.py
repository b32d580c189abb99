"""A real HTTP(S) server for the tests (aiohttp in a thread of its own): each path answers what the test
set, JSON by content type; every request path is recorded. With a certificate it serves https."""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path
from types import TracebackType

from aiohttp import web


class HttpServer:
    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        """``tls``: the server's certificate and key files."""
        self.routes: dict[str, tuple[int, str]] = {}  # path -> (status, body; a redirect's body: its Location)
        self.requests: list[str] = []
        self._context: ssl.SSLContext | None = None
        if tls is not None:
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(*tls)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"{'https' if self._context else 'http'}://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        status, body = self.routes.get(request.path, (404, '{"error": "not found"}'))
        if 300 <= status < 400:  # a redirect: the body is where to
            return web.Response(status=status, headers={"Location": body})
        return web.Response(status=status, text=body, content_type="application/json")

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get("/{tail:.*}", self._handle)
        app.router.add_post("/{tail:.*}", self._handle)  # an OAuth2 token endpoint

    async def _start(self) -> int:
        app = web.Application()
        self._add_routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._context)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def start(self) -> None:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:  # e.g. the listener's accept loop: ended here, not left to the garbage collector
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> HttpServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
