"""The serving check's adapter (adapters/hubapi.py) against a stand-in on 127.0.0.1 that speaks JupyterHub's REST
API (users, servers, spawn progress as server-sent events) and Jupyter Server's (kernels, the kernel's websocket
channels), one outcome per case. The real hub is checked in tests/integration/test_serving.py; here each failure
a real hub produces only sometimes (an exit, a silent kernel, a reply before its output) is produced on demand."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from communityhub.adapters import hubapi
from communityhub.delivery import serving

TOKEN = "check-token"
USER = f"/hub/api/users/{serving.CHECK_USER}"
SCHEDULING = "[Warning] 0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector"


def stand_in(case: str, calls: list[str]) -> web.Application:
    async def authorized(request: web.Request) -> None:
        calls.append(f"{request.method} {request.path}")
        if request.headers.get("Authorization") != f"token {TOKEN}":
            raise web.HTTPForbidden(text=json.dumps({"status": 403, "message": "Action is not authorized"}))

    async def user(request: web.Request) -> web.Response:
        await authorized(request)
        if request.method == "POST":
            return web.json_response({"name": serving.CHECK_USER}, status=201)
        if request.method == "GET":
            return web.json_response({"name": serving.CHECK_USER, "servers": {}})
        return web.Response(status=204)

    async def server(request: web.Request) -> web.Response:
        await authorized(request)
        if request.method == "DELETE":
            return web.Response(status=204)
        if case == "exits":
            return web.json_response({"status": 500, "message": "Spawner failed to start [status=1]. The logs for "
                                                                "communityhub.check may contain details."}, status=500)
        return web.Response(status=202)

    async def progress(request: web.Request) -> web.StreamResponse:
        await authorized(request)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        events: list[dict[str, Any]] = [{"progress": 0, "message": "Server requested"}]
        if case == "unschedulable":
            events += [{"progress": 50, "message": SCHEDULING},
                       {"progress": 100, "failed": True, "message": "Spawn failed: pod did not start in 90 seconds!"}]
        elif case == "crashes":  # JupyterHub only knows the server never answered; the pod knows why
            await asyncio.sleep(0.5)  # the server crash-loops a while ...
            POD["alive"] = False  # ... and the hub deletes its pod as it says the spawn failed
            events += [{"progress": 100, "failed": True, "message": "Spawn failed: Server at http://10.245.0.5:8888"
                                                                     "/user/communityhub.check/ didn't respond in "
                                                                     "30 seconds"}]
        else:
            events += [{"progress": 100, "ready": True, "url": f"/user/{serving.CHECK_USER}/"}]
        for event in events:
            await resp.write(f"data: {json.dumps(event)}\n\n".encode())
        return resp

    async def kernels(request: web.Request) -> web.Response:
        await authorized(request)
        return web.json_response({"id": "k1", "name": "python3"}, status=201)

    async def channels(request: web.Request) -> web.WebSocketResponse:
        await authorized(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            asked = json.loads(message.data)
            if case == "silent":
                continue  # a kernel that never answers

            def reply(kind: str, channel: str, content: dict[str, Any],
                      parent: dict[str, Any] = asked["header"]) -> dict[str, Any]:
                return {"msg_type": kind, "channel": channel, "parent_header": parent, "content": content}
            printed = "41\n" if case == "wrong" else "42\n"
            # The shell's reply first, the output after it: the channels are not ordered between them.
            await ws.send_json(reply("execute_reply", "shell", {"status": "ok"}))
            await ws.send_json(reply("stream", "iopub", {"name": "stdout", "text": printed}))
            await ws.send_json(reply("status", "iopub", {"execution_state": "idle"}))
        return ws

    app = web.Application()
    app.router.add_route("*", USER, user)
    app.router.add_route("*", f"{USER}/server", server)
    app.router.add_get(f"{USER}/server/progress", progress)
    app.router.add_post(f"/user/{serving.CHECK_USER}/api/kernels", kernels)
    app.router.add_get(f"/user/{serving.CHECK_USER}/api/kernels/k1/channels", channels)
    return app


CRASHING = ("container notebook of Pod jupyter-communityhub-2echeck is in CrashLoopBackOff (2 restarts, "
            "last exit code 3)")


POD = {"alive": True}


async def explain() -> str:
    """What steps/serving.py reads of the check user's pod (diagnosis.pod_cause), here as the cluster would say it:
    nothing once the hub has deleted it."""
    return CRASHING if POD["alive"] else ""


async def run_check(case: str, token: str = TOKEN) -> tuple[serving.Report, list[str]]:
    calls: list[str] = []
    POD["alive"] = True
    runner = web.AppRunner(stand_in(case, calls))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        report = await hubapi.check(hubapi.Endpoints(f"{base}/hub/api", base, allow_private=True), token,
                                    timeouts=hubapi.Timeouts(request=5, spawn=10, kernel=2, cleanup=5),
                                    explain=explain if case == "crashes" else None)
    finally:
        await runner.cleanup()
    return report, calls


@pytest.mark.parametrize(("case", "reason", "words"), [
    ("ok", "ServerStarted", "ran code in"),
    ("unschedulable", "ServerNotScheduled", "0/4 nodes are available"),
    ("exits", "ServerExited", "Spawner failed to start [status=1]"),
    ("crashes", "ServerExited", "didn't respond in 30 seconds (container notebook of Pod jupyter-communityhub-2echeck "
                                "is in CrashLoopBackOff (2 restarts, last exit code 3))"),
    ("silent", "KernelNotAnswering", "no reply to `print(6 * 7)` in 2s"),
    ("wrong", "CodeFailed", "it printed '41'"),
])
def test_each_outcome_of_a_check_and_the_user_always_removed(case: str, reason: str, words: str) -> None:
    report, calls = asyncio.run(asyncio.wait_for(run_check(case), 60))
    verdict = serving.verdict(report)
    assert verdict.reason == reason and words in verdict.message, verdict
    # Whatever happened, the server is stopped and the user removed, last.
    assert calls[-2:] == [f"DELETE {USER}/server", f"DELETE {USER}"], calls
    assert TOKEN not in verdict.message and TOKEN not in repr(report)


def test_a_token_the_hub_refuses_is_said_and_nothing_else_is_tried() -> None:
    report, calls = asyncio.run(asyncio.wait_for(run_check("ok", token="wrong"), 60))
    verdict = serving.verdict(report)
    assert verdict.reason == "HubAPIRefused" and "HTTP 403 Action is not authorized" in verdict.message, verdict
    assert not any("/server" in c and c.startswith("POST") for c in calls), calls
