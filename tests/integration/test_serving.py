"""A hub that really serves (issue 30, part 1): on process pods (localcluster.processpods) the JupyterHub chart's hub,
proxy and user server run as real processes from the pod specs the operator's release makes. A visitor reaches the
proxy from the host through its NodePort, logs in as a temporary user, gets a real JupyterLab, and a kernel runs code;
the hub's KubeSpawner made that user pod through the API server with the hub's own ServiceAccount."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from communityhub.delivery import serving
from localcluster import processpods
from localcluster.controlplane import ControlPlane
from tests.conftest import REPO, OperatorProcess
from tests.support.hubs import hub_ns, ns, onboard, wait_condition, wait_ready
from tests.support.kube import Cluster, wait_for
from tests.support.served import wait_for_lab, xsrf_headers

pytestmark = pytest.mark.integration

CLASS_FILE = REPO / "examples" / "hubclasses" / "process-pods.yaml"
WORKSHOP_FILE = REPO / "examples" / "workshop-local.yaml"


def serving_class() -> dict[str, Any]:
    """The local plane's class for hubs that serve (what `make demo` applies): hub, proxy and user servers on the
    process nodes, the proxy on a NodePort that answers on the host."""
    return dict(yaml.safe_load(CLASS_FILE.read_text()))


def workshop(name: str, namespace: str) -> dict[str, Any]:
    """The demo's workshop (temporary users, no homes), in a test namespace of its own."""
    hub = next(d for d in yaml.safe_load_all(WORKSHOP_FILE.read_text()) if d["kind"] == "CommunityHub")
    hub["metadata"] = {"name": name, "namespace": namespace}
    hub["spec"]["hub"]["domain"] = f"{name}.{namespace}.hubs.example.org"
    return dict(hub)


@pytest.fixture(scope="module")
def serving_nodes(management: Cluster, process_nodes: list[str]) -> Iterator[list[str]]:
    """The process nodes, and the class that puts hubs on them."""
    management.apply(serving_class())
    yield process_nodes
    management.kubectl("delete", "hubclass", serving_class()["metadata"]["name"], "--ignore-not-found",
                       "--wait=false")


@pytest.fixture(scope="module")
def checking_operator(operator: OperatorProcess, serving_nodes: list[str],
                      management: Cluster) -> Iterator[OperatorProcess]:
    """The session operator with the serving check on (kwok-only planes have it off), reaching the hubs through the
    process-pods agent's proxy into the pod network; as it was after the module."""
    saved = dict(operator.env)
    operator.stop()
    operator.env.update({"CHUB_SERVING_CHECK": "true",
                         "CHUB_CLUSTER_HTTP_PROXY": processpods.proxy_url(ControlPlane(management.name))})
    operator.start()
    yield operator
    operator.stop()
    operator.env.clear()
    operator.env.update(saved)
    operator.start()


@pytest.fixture(scope="module")
def served_hub(management: Cluster, checking_operator: OperatorProcess,
               serving_nodes: list[str]) -> Iterator[dict[str, str]]:
    namespace, name = ns("serving"), "workshop"
    onboard(management, namespace)
    management.apply(workshop(name, namespace))
    wait_ready(management, name, namespace, timeout=240)
    target = hub_ns("serving", name)
    service = management.get("service", "proxy-public", target)
    port = next(p["nodePort"] for p in service["spec"]["ports"] if p["name"] == "http")
    yield {"namespace": target, "url": f"http://127.0.0.1:{port}", "hub_namespace": namespace, "name": name}
    # Gone before the process nodes are: no later test meets a hub whose pods have nowhere to run.
    management.kubectl("-n", namespace, "delete", "communityhub", name, "--wait=true", "--timeout=120s",
                       check=False)


def pod_of(management: Cluster, namespace: str, component: str) -> dict[str, Any]:
    pods = management.get("pods", namespace=namespace, selector=f"component={component}")["items"]
    assert pods, f"no {component} pod in {namespace}"
    return dict(pods[0])


def test_the_hub_and_proxy_run_as_processes_on_the_process_nodes(management: Cluster,
                                                                  served_hub: dict[str, str],
                                                                  serving_nodes: list[str]) -> None:
    for component in ("hub", "proxy"):
        pod = pod_of(management, served_hub["namespace"], component)
        assert pod["spec"]["nodeName"] in serving_nodes
        status = pod["status"]
        assert status["phase"] == "Running" and status["podIP"].startswith("10.245.")
        pid = int(status["containerStatuses"][0]["containerID"].removeprefix("process://"))
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")  # a real process: the chart's command
        program = b"jupyterhub" if component == "hub" else b"configurable-http-proxy"
        assert any(part.endswith(program) for part in command), command


async def _visit(url: str) -> dict[str, Any]:
    """What a browser does: open the hub, become a temporary user, wait for the server, land in JupyterLab; then
    what a notebook does: start a kernel and run one statement through the server's API."""
    seen: dict[str, Any] = {}
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.get(f"{url}/hub/health") as resp:
            seen["health"] = resp.status
        async with http.get(f"{url}/hub/tmplogin") as resp:
            seen["login"] = (resp.status, str(resp.url))
        user = str(resp.url).rstrip("/").rsplit("/", 1)[-1]
        if lab := await wait_for_lab(http, url, user):
            seen["lab"] = lab
        headers = xsrf_headers(jar, user)
        async with http.post(f"{url}/user/{user}/api/kernels", json={"name": "python3"}, headers=headers) as resp:
            seen["kernel_status"] = resp.status
            kernel = (await resp.json())["id"] if resp.status == 201 else None
        if kernel:
            msg_id = uuid.uuid4().hex
            async with http.ws_connect(f"{url}/user/{user}/api/kernels/{kernel}/channels", headers=headers) as ws:
                await ws.send_json({"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": user,
                                               "session": uuid.uuid4().hex, "version": "5.3"},
                                    "parent_header": {}, "metadata": {}, "channel": "shell",
                                    "content": {"code": "import os; print(6 * 7, os.environ['JUPYTERHUB_USER'])",
                                                "silent": False, "store_history": False,
                                                "user_expressions": {}, "allow_stdin": False}})
                async for message in ws:
                    data = json.loads(message.data)
                    if data.get("parent_header", {}).get("msg_id") == msg_id and data["msg_type"] == "stream":
                        seen["output"] = data["content"]["text"]
                        break
        seen["user"] = user
    return seen


def test_a_visitor_gets_jupyterlab_and_a_kernel_that_runs_code(management: Cluster,
                                                              served_hub: dict[str, str],
                                                              serving_nodes: list[str]) -> None:
    seen = asyncio.run(asyncio.wait_for(_visit(served_hub["url"]), 300))
    assert seen["health"] == 200
    # (?redirects=N: the hub sent the visitor on again while the server came up, and it landed all the same)
    assert seen.get("lab", "").split("?", 1)[0].endswith(f"/user/{seen['user']}/lab"), seen
    assert seen["kernel_status"] == 201, seen
    assert seen.get("output") == f"42 {seen['user']}\n", seen
    # KubeSpawner made the user's pod through the API server, as the hub's ServiceAccount, on a process node.
    user_pod = wait_for(lambda: next((p for p in management.get("pods", namespace=served_hub["namespace"],
                                                                selector="component=singleuser-server")["items"]
                                      if p["metadata"]["annotations"].get("hub.jupyter.org/username")
                                      == seen["user"]), None), timeout=10, what="the user's pod")
    assert user_pod["spec"]["nodeName"] in serving_nodes
    assert user_pod["spec"]["containers"][0]["image"] == workshop("w", "w")["spec"]["environment"]["image"]


#: Where the browser test keeps its screenshot (a test artifact: CI keeps the folder; git ignores it).
ARTIFACTS = Path(os.environ.get("CHUB_TEST_ARTIFACTS", REPO / ".test-artifacts"))
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--remote-debugging-port=0", "--window-size=1280,800")


async def _browse(url: str, profile: Path) -> dict[str, Any]:
    """Headless Chromium, driven through its DevTools protocol: open the hub's URL as a visitor would, wait until
    JupyterLab's shell is on the page, and take a screenshot."""
    proc = await asyncio.create_subprocess_exec(
        shutil.which("chromium") or "chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        while b"DevTools listening on" not in (line := await asyncio.wait_for(proc.stderr.readline(), 30)):
            assert line, "chromium exited before its DevTools endpoint listened"
        port = line.decode().strip().rsplit(":", 1)[1].split("/", 1)[0]
        drain = asyncio.ensure_future(proc.stderr.read())  # keep its pipe from filling
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                page = next(t for t in await resp.json() if t["type"] == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=64 * 2**20) as ws:
                ids = iter(range(1, 10**6))

                async def call(method: str, **params: Any) -> dict[str, Any]:
                    msg_id = next(ids)
                    await ws.send_json({"id": msg_id, "method": method, "params": params})
                    async for message in ws:
                        data = json.loads(message.data)
                        if data.get("id") == msg_id:
                            return dict(data.get("result") or {})
                    raise AssertionError("DevTools closed")

                await call("Page.enable")
                await call("Page.navigate", url=url)
                # The login page's "Sign in with a temporary account" is clicked as a visitor would, once.
                probe = "(() => {const signIn = document.querySelector('a[href*=\"tmplogin\"]'); " \
                        "if (signIn && !window.__clicked) {window.__clicked = true; signIn.click();} " \
                        "return JSON.stringify({title: document.title, href: location.href, signIn: !!signIn, " \
                        "lab: !!document.querySelector('.jp-LabShell'), " \
                        "launcher: !!document.querySelector('.jp-Launcher')});})()"
                seen: dict[str, Any] = {}
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline:
                    result = await call("Runtime.evaluate", expression=probe, returnByValue=True)
                    seen = {**json.loads(result.get("result", {}).get("value") or "{}"),
                            "signedIn": seen.get("signedIn") or seen.get("signIn", False)}
                    if seen.get("lab") and seen.get("launcher"):
                        break
                    await asyncio.sleep(1)
                shot = await call("Page.captureScreenshot", format="png")
                seen["screenshot"] = base64.b64decode(shot["data"])
                drain.cancel()
                return seen
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def test_a_browser_lands_in_jupyterlab(served_hub: dict[str, str], tmp_path: Path) -> None:
    """What `make demo` tells a person to open: the hub's URL in a real browser, a click on the login page's "Sign in
    with a temporary account", and JupyterLab (its shell and launcher drawn by its own JavaScript) served by a real
    user server."""
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (`make browser`, as `make test` does, installs it)")
    seen = asyncio.run(asyncio.wait_for(_browse(served_hub["url"] + "/", tmp_path / "chromium"), 300))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "serving-jupyterlab.png"
    shot.write_bytes(seen.pop("screenshot"))
    assert seen.get("lab") and seen.get("launcher"), f"{seen}; screenshot: {shot}"
    assert seen["signedIn"], seen  # through the login page's button, not straight in
    assert "/user/" in seen["href"] and seen["href"].split("?")[0].endswith("/lab"), seen
    assert "JupyterLab" in seen["title"], seen
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000, shot


def check_user_pods(management: Cluster, namespace: str) -> list[dict[str, Any]]:
    return [p for p in management.get("pods", namespace=namespace, selector="component=singleuser-server")["items"]
            if p["metadata"]["annotations"].get("hub.jupyter.org/username") == serving.CHECK_USER]


def test_the_operator_checks_that_users_are_served_and_sees_when_they_are_not(
        management: Cluster, served_hub: dict[str, str], checking_operator: OperatorProcess) -> None:
    """The serving check (issue 30, part 2) against the real hub: True with the time to a kernel that ran code; a
    class change that leaves user servers nowhere to run turns it False with the scheduler's words as KubeSpawner
    relays them (Ready with it, and a Warning Event), and True again once the class is fixed. Its first runs failed
    on the real hub: the agent's proxy passed a kept-alive client's second request on unrewritten (HTTP 403 at the
    first DELETE), and a kernel's reply came before its output (CodeFailed on a hub that serves)."""
    name, namespace = served_hub["name"], served_hub["hub_namespace"]
    cond = wait_condition(management, name, namespace, "ServingUsers", "True", "ServerStarted", timeout=180)
    assert "started and ran code in" in cond["message"], cond
    hub = management.get("communityhub", name, namespace)
    assert hub["status"]["serving"]["ok"] is True and hub["status"]["serving"]["seconds"] > 0
    assert hub["status"]["serving"]["revision"] == hub["status"]["release"]["valuesHash"]
    wait_for(lambda: not check_user_pods(management, served_hub["namespace"]), timeout=60,
             what="the check user's server to be gone")
    # Passes with no check due carry the verdict: nothing is written for the hub, no server started again.
    if management.audit_log is not None:
        time.sleep(3)
        resyncs, mark = checking_operator.resyncs(), management.audit_mark()
        wait_for(lambda: checking_operator.resyncs() >= resyncs + 4, timeout=60, what="four resync passes")
        writes = [w for w in management.writes_since(mark, checking_operator.user)
                  if any(f"/namespaces/{n}/" in w["requestURI"] for n in (namespace, served_hub["namespace"]))]
        assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]
        assert not check_user_pods(management, served_hub["namespace"])

    broken = serving_class()
    broken["spec"]["values"]["singleuser"]["nodeSelector"] = {"hubs.2i2c.org/process-pods": "true",
                                                              "hubs.2i2c.org/no-such-pool": "true"}
    management.apply(broken)
    try:
        cond = wait_condition(management, name, namespace, "ServingUsers", "False", "ServerNotScheduled",
                              timeout=300)
        assert "did not start" in cond["message"] and "nodes are available" in cond["message"], cond
        wait_condition(management, name, namespace, "Ready", "False", "ServerNotScheduled", timeout=30)
        events = management.get("events", namespace=namespace)["items"]
        assert any(e["reason"] == "ServerNotScheduled" and e["type"] == "Warning"
                   and e["involvedObject"]["name"] == name for e in events)
    finally:
        management.apply(serving_class())
    wait_condition(management, name, namespace, "ServingUsers", "True", "ServerStarted", timeout=300)
    wait_ready(management, name, namespace, timeout=60)
    wait_for(lambda: not check_user_pods(management, served_hub["namespace"]), timeout=60,
             what="the check user's server to be gone")


def test_a_server_that_exits_is_said_with_its_exit_code(management: Cluster, served_hub: dict[str, str]) -> None:
    """A class whose user image command fails (a profile's server that cannot run): ServingUsers=False
    ServerExited, with what the hub says and what the check user's pod says (its exit code), then True again."""
    name, namespace = served_hub["name"], served_hub["hub_namespace"]
    wait_condition(management, name, namespace, "ServingUsers", "True", "ServerStarted", timeout=300)
    broken = serving_class()
    broken["spec"]["values"]["singleuser"]["cmd"] = ["sh", "-c", "echo the image is broken >&2; exit 3"]
    management.apply(broken)
    try:
        cond = wait_condition(management, name, namespace, "ServingUsers", "False", "ServerExited", timeout=300)
        assert "exit code 3" in cond["message"] or "status=3" in cond["message"], cond
    finally:
        management.apply(serving_class())
    wait_condition(management, name, namespace, "ServingUsers", "True", "ServerStarted", timeout=300)
    wait_for(lambda: not check_user_pods(management, served_hub["namespace"]), timeout=60,
             what="the check user's server to be gone")
