"""The serving check, done: as the hub's checker service, through the hub's REST API and its proxy.

Creates the check user, starts its server (a profile's, where asked), follows the hub's spawn progress (its
own words: KubeSpawner relays the pod's events there), starts a kernel through the proxy, runs one statement over
the kernel's websocket, and always stops the server and removes the user. Returns a :class:`serving.Report`; the
token is sent only as a header and never appears in a report.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from communityhub.adapters.http import PublicResolver
from communityhub.adapters.tls import client_context
from communityhub.delivery import serving


@dataclasses.dataclass(frozen=True)
class Endpoints:
    #: The hub's REST API (``.../hub/api``) and where its proxy serves users (``/user/<name>/`` under it).
    api_url: str
    server_base: str
    #: An HTTP proxy into the cluster's pod network where the operator is outside it (the local plane).
    proxy: str | None = None
    extra_ca_file: str = ""
    allow_private: bool = False


@dataclasses.dataclass(frozen=True)
class Timeouts:
    request: float = 10.0
    spawn: float = 300.0
    kernel: float = 60.0
    cleanup: float = 60.0


class _Refused(Exception):
    def __init__(self, stage: serving.Stage, error: str) -> None:
        super().__init__(error)
        self.stage, self.error = stage, error


class _Client:
    def __init__(self, session: aiohttp.ClientSession, where: Endpoints, token: str, timeouts: Timeouts) -> None:
        self.session, self.where, self.timeouts = session, where, timeouts
        self.headers = {"Authorization": f"token {token}"}
        self.ssl: ssl.SSLContext | bool = client_context(where.extra_ca_file)
        self.user = f"{where.api_url.rstrip('/')}/users/{quote(serving.CHECK_USER)}"

    async def call(self, method: str, url: str, ok: tuple[int, ...], stage: serving.Stage,
                   body: dict[str, Any] | None = None) -> tuple[int, Any]:
        try:
            async with self.session.request(method, url, json=body, headers=self.headers, ssl=self.ssl,
                                            proxy=self.where.proxy, allow_redirects=False,
                                            timeout=aiohttp.ClientTimeout(total=self.timeouts.request)) as resp:
                text = await resp.text()
                if resp.status not in ok:
                    said = _message(text) or resp.reason or ""
                    raise _Refused(stage, f"{method} {_path(url)}: HTTP {resp.status} {said}".rstrip())
                try:
                    return resp.status, json.loads(text) if text else None
                except ValueError:
                    return resp.status, None
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise _Refused(stage, f"{method} {_path(url)}: {type(err).__name__}: {err}".rstrip(": ")) from err

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """The hub's spawn progress (server-sent events) until the spawn is ready or failed."""
        async with self.session.get(f"{self.user}/server/progress", headers=self.headers, ssl=self.ssl,
                                    proxy=self.where.proxy, allow_redirects=False,
                                    timeout=aiohttp.ClientTimeout(total=None, sock_read=self.timeouts.spawn)) as resp:
            if resp.status != 200:
                raise _Refused("spawn", f"GET {_path(str(resp.url))}: HTTP {resp.status} "
                                        f"{_message(await resp.text())}")
            async for raw in resp.content:
                line = raw.decode(errors="replace").strip()
                if line.startswith("data:"):
                    try:
                        yield dict(json.loads(line[5:]))
                    except ValueError:
                        continue


def _path(url: str) -> str:
    """A URL as a report shows it: without its query."""
    return url.split("?", 1)[0]


def _message(text: str) -> str:
    """JupyterHub's and Jupyter Server's error bodies carry a message; else the body's start."""
    try:
        data = json.loads(text)
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])[:500]
    except ValueError:
        pass
    text = text.strip()
    return "" if text.startswith("<") else text[:300]  # an HTML error page says nothing a condition can use


async def check(where: Endpoints, token: str, profile: str = "", timeouts: Timeouts = Timeouts(),
                explain: Callable[[], Awaitable[str]] | None = None) -> serving.Report:
    """One check of one server (``profile`` "": the default one). Never raises for what the hub answers.
    ``explain`` says what the cluster knows of the check user's pod: asked every few seconds while the server
    starts (a failed spawn's pod is deleted by the hub at once), its last answer goes with a failed spawn."""
    connector = aiohttp.TCPConnector(resolver=None if where.allow_private or where.proxy else PublicResolver())
    started = time.monotonic()
    progress: list[str] = []
    pod_said: list[str] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        client = _Client(session, where, token, timeouts)
        try:
            await client.call("POST", client.user, (201, 409), "hub")  # 409: a check cut off left its user
            await _stop_server(client)  # ... and perhaps its server
            started = time.monotonic()
            watching = asyncio.ensure_future(_watch(explain, pod_said, timeouts.request)) if explain else None
            try:
                url = await _spawn(client, profile, progress)
            finally:
                if watching is not None:
                    watching.cancel()
            seconds = await _run_code(client, url, started)
            return serving.Report("done", seconds=seconds, progress=tuple(progress), profile=profile)
        except _Refused as refused:
            return serving.Report(refused.stage, seconds=time.monotonic() - started, progress=tuple(progress),
                                  error=refused.error, profile=profile,
                                  pod=pod_said[-1] if refused.stage == "spawn" and pod_said else "")
        finally:
            with contextlib.suppress(_Refused, TimeoutError, aiohttp.ClientError, OSError):
                await asyncio.wait_for(_remove(client), timeouts.cleanup)


async def _watch(explain: Callable[[], Awaitable[str]], said: list[str], answer_within: float,
                 every: float = 3.0) -> None:
    """What ``explain`` last said of the pod, asked every ``every`` seconds, in ``said`` (a failed answer is
    skipped)."""
    while True:
        with contextlib.suppress(Exception):  # an explanation that fails leaves the hub's own words alone
            if text := await asyncio.wait_for(explain(), answer_within):
                said[:] = [text]
        await asyncio.sleep(every)


async def _spawn(client: _Client, profile: str, progress: list[str]) -> str:
    status, answer = await client.call("POST", f"{client.user}/server", (201, 202, 400, 500), "spawn",
                                       {"profile": profile} if profile else {})
    if status == 500:  # the spawn failed at once: the hub's message is all there is
        raise _Refused("spawn", _message(json.dumps(answer)) if answer else "HTTP 500")
    try:
        async with asyncio.timeout(client.timeouts.spawn):
            async for event in client.progress():
                if event.get("message"):
                    progress.append(str(event["message"]))
                if event.get("failed"):
                    raise _Refused("spawn", "")
                if event.get("ready"):
                    return str(event.get("url") or f"/user/{quote(serving.CHECK_USER)}/")
    except TimeoutError:
        raise _Refused("spawn", f"not ready after {client.timeouts.spawn:.0f}s") from None
    except (aiohttp.ClientError, OSError) as err:
        raise _Refused("spawn", f"the spawn's progress stopped: {type(err).__name__}: {err}") from err
    _, model = await client.call("GET", client.user, (200,), "spawn")
    server = ((model or {}).get("servers") or {}).get("") or {}
    if server.get("ready"):
        return str(server.get("url"))
    raise _Refused("spawn", f"the progress ended without a ready server (HTTP {status} when asked to start)")


async def _run_code(client: _Client, url: str, started: float) -> float:
    base = client.where.server_base.rstrip("/") + "/" + url.lstrip("/")
    _, kernel = await client.call("POST", f"{base.rstrip('/')}/api/kernels", (201,), "kernel", {})
    kernel_id = str((kernel or {}).get("id", ""))
    msg_id = uuid.uuid4().hex
    request = {"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": serving.CHECK_USER,
                          "session": uuid.uuid4().hex, "version": "5.3"},
               "parent_header": {}, "metadata": {}, "channel": "shell",
               "content": {"code": serving.STATEMENT, "silent": False, "store_history": False,
                           "user_expressions": {}, "allow_stdin": False}}
    ws_url = f"{base.rstrip('/')}/api/kernels/{kernel_id}/channels".replace("http", "ws", 1)
    output, replied, idle = "", False, False
    try:
        async with asyncio.timeout(client.timeouts.kernel), client.session.ws_connect(
                ws_url, headers=client.headers, ssl=client.ssl, proxy=client.where.proxy) as ws:
            await ws.send_json(request)
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if data.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = data.get("msg_type"), data.get("content") or {}
                if kind == "stream":
                    output += str(content.get("text", ""))
                elif kind == "error":
                    raise _Refused("code", f"{content.get('ename')}: {content.get('evalue')}")
                elif kind == "execute_reply":
                    replied = True
                elif kind == "status" and content.get("execution_state") == "idle":
                    idle = True  # iopub: every output of the request is out (the shell's reply may come first)
                if replied and idle:
                    if output.strip() != serving.EXPECTED_OUTPUT:
                        raise _Refused("code", f"it printed {output.strip()[:100]!r}")
                    return time.monotonic() - started
    except TimeoutError:
        raise _Refused("kernel", f"no reply to `{serving.STATEMENT}` in {client.timeouts.kernel:.0f}s") from None
    except (aiohttp.ClientError, OSError) as err:
        raise _Refused("kernel", f"its websocket failed: {type(err).__name__}: {err}") from err
    raise _Refused("kernel", "its websocket closed before the reply")


async def _stop_server(client: _Client) -> None:
    status, _ = await client.call("DELETE", f"{client.user}/server", (202, 204, 400, 404), "hub")
    deadline = time.monotonic() + client.timeouts.cleanup
    while status == 202 and time.monotonic() < deadline:  # stopping: wait until it is gone
        _, model = await client.call("GET", client.user, (200,), "hub")
        if not ((model or {}).get("servers") or {}):
            return
        await asyncio.sleep(1)


async def _remove(client: _Client) -> None:
    await _stop_server(client)
    await client.call("DELETE", client.user, (204, 404), "hub")
