"""A hub that really serves (issue 30, part 1): on process pods (localcluster.processpods) the JupyterHub chart's hub,
proxy and user server run as real processes from the pod specs the operator's release makes. A visitor reaches the
proxy from the host through its NodePort, logs in as a temporary user, gets a real JupyterLab, and a kernel runs code;
the hub's KubeSpawner made that user pod through the API server with the hub's own ServiceAccount."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from localcluster import processpods
from localcluster.controlplane import ControlPlane
from tests.conftest import REPO, OperatorProcess
from tests.support.hubs import hub_ns, ns, onboard, wait_ready
from tests.support.kube import Cluster, wait_for

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
def process_nodes(management: Cluster) -> Iterator[list[str]]:
    if why := processpods.available():
        pytest.skip(why)
    plane = ControlPlane(management.name)
    nodes = processpods.start(plane)
    management.apply(serving_class())
    yield nodes
    if os.environ.get("CHUB_TEST_KEEP_PROCESS_PODS"):
        return
    management.kubectl("delete", "hubclass", serving_class()["metadata"]["name"], "--ignore-not-found",
                       "--wait=false")
    processpods.stop(plane)


@pytest.fixture(scope="module")
def served_hub(management: Cluster, operator: OperatorProcess, process_nodes: list[str]) -> Iterator[dict[str, str]]:
    namespace, name = ns("serving"), "workshop"
    onboard(management, namespace)
    management.apply(workshop(name, namespace))
    wait_ready(management, name, namespace, timeout=240)
    target = hub_ns("serving", name)
    service = management.get("service", "proxy-public", target)
    port = next(p["nodePort"] for p in service["spec"]["ports"] if p["name"] == "http")
    yield {"namespace": target, "url": f"http://127.0.0.1:{port}"}
    # Gone before the process nodes are: no later test meets a hub whose pods have nowhere to run.
    management.kubectl("-n", namespace, "delete", "communityhub", name, "--wait=true", "--timeout=120s",
                       check=False)


def pod_of(management: Cluster, namespace: str, component: str) -> dict[str, Any]:
    pods = management.get("pods", namespace=namespace, selector=f"component={component}")["items"]
    assert pods, f"no {component} pod in {namespace}"
    return dict(pods[0])


def test_the_hub_and_proxy_run_as_processes_on_the_process_nodes(management: Cluster,
                                                                  served_hub: dict[str, str],
                                                                  process_nodes: list[str]) -> None:
    for component in ("hub", "proxy"):
        pod = pod_of(management, served_hub["namespace"], component)
        assert pod["spec"]["nodeName"] in process_nodes
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
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            async with http.get(f"{url}/user/{user}/lab") as resp:
                body = await resp.text()
                if resp.status == 200 and "<title>JupyterLab</title>" in body:
                    seen["lab"] = str(resp.url)
                    break
            await asyncio.sleep(2)
        # the user server's own XSRF cookie (the hub sets one for /hub/ too)
        xsrf = next((c.value for c in jar if c.key == "_xsrf" and c["path"].startswith(f"/user/{user}")), "")
        headers = {"X-XSRFToken": xsrf}
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
                                                              process_nodes: list[str]) -> None:
    seen = asyncio.run(asyncio.wait_for(_visit(served_hub["url"]), 300))
    assert seen["health"] == 200
    assert seen.get("lab", "").endswith(f"/user/{seen['user']}/lab"), seen
    assert seen["kernel_status"] == 201, seen
    assert seen.get("output") == f"42 {seen['user']}\n", seen
    # KubeSpawner made the user's pod through the API server, as the hub's ServiceAccount, on a process node.
    user_pod = wait_for(lambda: next((p for p in management.get("pods", namespace=served_hub["namespace"],
                                                                selector="component=singleuser-server")["items"]
                                      if p["metadata"]["annotations"].get("hub.jupyter.org/username")
                                      == seen["user"]), None), timeout=10, what="the user's pod")
    assert user_pod["spec"]["nodeName"] in process_nodes
    assert user_pod["spec"]["containers"][0]["image"] == workshop("w", "w")["spec"]["environment"]["image"]
