"""The fleet's examples served (issue 30, part 4): a hub of examples/fleet/, as its manifest says, on its class
(the class's values, plus what puts its pods on the local plane's process nodes and its authenticator on a
stand-in), with the real JupyterHub chart. People log in through the proxy with the real authenticator the chart
configures, against a stand-in identity provider on 127.0.0.1 (tests/support/cilogon.py, reached from the hub's
pod by a Service's name); the hub's KubeSpawner makes their pods through the API server; their servers run; and
each pod is checked against the spec, then used: files written in a home land on the hub's share under the escaped
name the fleet's data is kept under, and a read-only directory refuses a write.

What is served here, and what is not yet with why, is listed in SERVED and NOT_SERVED; a new example must be in one
of them (test_every_fleet_example_is_served_or_named)."""

from __future__ import annotations

import asyncio
import copy
import re
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from communityhub.api.quantities import parse_memory
from localcluster import processpods
from localcluster.pki import CertificateAuthority
from tests.conftest import REPO, OperatorProcess
from tests.integration.test_fleet_examples import shared_volumes
from tests.support.cilogon import CILogonStandIn
from tests.support.hubs import ns, onboard, wait_ready
from tests.support.kube import Cluster, wait_for
from tests.support.served import user_path, wait_for_lab, xsrf_headers

pytestmark = pytest.mark.integration

FLEET = REPO / "examples" / "fleet"
PROCESS_CLASS = REPO / "examples" / "hubclasses" / "process-pods.yaml"
STAND_IN = "cilogon"
STAND_IN_HOST = f"{STAND_IN}.{processpods.STAND_INS_NAMESPACE}.svc"
#: Where the hub finds the stand-in's CA (a file of the class's hub.extraFiles).
CA_PATH = "/usr/local/etc/jupyterhub/stand-in-ca.crt"
SHARE = "served-share"

#: The examples served here.
SERVED = ("temple",)
#: The examples not served yet, and why.
NOT_SERVED = {
    **{name: "GitHub login: no stand-in for GitHub's OAuth and organization API yet"
       for name in ("climatematch", "imagebuilding-demo", "jackeddy", "nasa-cryo", "ohw", "openscapes")},
    **{name: "CILogon like temple, but its profiles name node pools (instance types) the process nodes are not"
       for name in ("aup", "mtu", "neurohackademy", "pfw", "ucmerced")},
    "ephemeral-demo": "temporary users on the workshop class: what tests/integration/test_serving.py serves, "
                      "from examples/workshop-local.yaml",
}


def fleet_hubs() -> dict[str, Path]:
    """Every CommunityHub of examples/fleet/ (not the imported ones), by name."""
    out = {}
    for path in sorted(FLEET.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CommunityHub":
                out[doc["metadata"]["name"]] = path
    return out


def test_every_fleet_example_is_served_or_named() -> None:
    assert sorted(fleet_hubs()) == sorted([*SERVED, *NOT_SERVED])


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def served_class(name: str, ca_pem: str) -> dict[str, Any]:
    """The example's class as the fleet's classes.yaml has it, plus two things a provider's test environment would
    set: the process nodes (examples/hubclasses/process-pods.yaml's values) and CILogon at the stand-in, whose
    certificate the hub trusts by its CA."""
    base = next(d for d in yaml.safe_load_all((FLEET / "classes.yaml").read_text())
                if d and d["kind"] == "HubClass" and d["metadata"]["name"] == name)
    placement = yaml.safe_load(PROCESS_CLASS.read_text())["spec"]["values"]
    stand_in = {"hub": {
        "extraFiles": {"stand-in-ca": {"mountPath": CA_PATH, "stringData": ca_pem}},
        "config": {"CILogonOAuthenticator": {"cilogon_host": STAND_IN_HOST},
                   "OAuthenticator": {"http_request_kwargs": {"ca_certs": CA_PATH}}}}}
    out = copy.deepcopy(base)
    out["metadata"] = {"name": f"served-{name}"}
    out["spec"]["values"] = merge(merge(base["spec"].get("values") or {}, placement), stand_in)
    out["spec"]["servingCheck"] = {"enabled": False}  # this module checks by hand; the session operator has it off
    return out


def hub_docs(example: str, namespace: str, hub_class: str) -> list[dict[str, Any]]:
    """The example's CommunityHub and its OAuth client Secret, in a namespace of the test's, on the served class;
    its spec otherwise as the example has it (its domain made the test namespace's: a domain is one hub's)."""
    docs = [d for d in yaml.safe_load_all(fleet_hubs()[example].read_text()) if d and d["kind"] != "Namespace"]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "CommunityHub":
            doc["spec"]["hubClassName"] = hub_class
            doc["spec"]["hub"]["domain"] = f"{example}-{namespace}.fleet.example.org"
    return docs


@pytest.fixture(scope="module")
def stand_in(management: Cluster, tls_ca: CertificateAuthority) -> Iterator[CILogonStandIn]:
    """CILogon's stand-in on the host, and the Service the hub's pod reaches it by (process pods relay it)."""
    tls = tls_ca.issue(tls_ca.cert_path.parent, "cilogon-stand-in", STAND_IN_HOST, server_names=(STAND_IN_HOST,),
                       server_ips=("127.0.0.1",))
    server = CILogonStandIn(tls=tls)
    server.start()
    management.kubectl("create", "namespace", processpods.STAND_INS_NAMESPACE, check=False)
    management.apply({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": STAND_IN, "namespace": processpods.STAND_INS_NAMESPACE,
                                   "annotations": {processpods.STAND_IN_ANNOTATION: str(server.port)}},
                      "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 443}]}})
    yield server
    management.kubectl("-n", processpods.STAND_INS_NAMESPACE, "delete", "service", STAND_IN, "--ignore-not-found")
    server.stop()


@pytest.fixture(scope="module")
def temple(management: Cluster, operator: OperatorProcess, process_nodes: list[str], stand_in: CILogonStandIn,
           tls_ca: CertificateAuthority) -> Iterator[dict[str, Any]]:
    namespace = ns("served-temple")
    cls = served_class("gke-shared", tls_ca.cert_path.read_text())
    shutil.rmtree(f"/tmp/{SHARE}-0", ignore_errors=True)  # a previous run's homes
    management.apply([*shared_volumes(1, SHARE), cls])
    onboard(management, namespace)
    management.kubectl("create", "namespace", namespace, check=False)
    docs = hub_docs("temple", namespace, cls["metadata"]["name"])
    management.apply(docs)
    hub = wait_ready(management, "temple", namespace, timeout=300)
    target = hub["status"]["names"]["namespace"]
    port = next(p["nodePort"] for p in management.get("service", "proxy-public", target)["spec"]["ports"]
                if p["name"] == "http")
    spec = next(d for d in docs if d["kind"] == "CommunityHub")["spec"]
    yield {"namespace": namespace, "target": target, "url": f"http://127.0.0.1:{port}", "spec": spec}
    management.kubectl("-n", namespace, "delete", "communityhub", "temple", "--wait=true", "--timeout=120s",
                       check=False)
    management.kubectl("delete", "hubclass", cls["metadata"]["name"], "--wait=false", check=False)
    management.kubectl("delete", "pv", f"{SHARE}-0", "--wait=false", check=False)


IDP = "https://fim.temple.edu/idp/shibboleth"
ADMIN = "jmsmith1@temple.edu"  # the example's adminUsers
MEMBER = "ajones@temple.edu"
#: KubeSpawner's {escaped_username} of each: what the fleet's homes are kept under (and the spec's homeDirectory).
ESCAPED = {ADMIN: "jmsmith1-40temple-2eedu", MEMBER: "ajones-40temple-2eedu"}


async def log_in(http: aiohttp.ClientSession, url: str, stand_in: CILogonStandIn, claims: dict[str, Any]) -> int:
    """What a person does: the hub's login sends them to CILogon (the stand-in's name); CILogon, once they signed in
    at their institution, sends them back to the hub's callback with a code and the hub's state; the hub's
    authenticator exchanges the code and reads their claims from the stand-in. The callback's HTTP status."""
    stand_in.log_in_as(claims)
    async with http.get(f"{url}/hub/oauth_login", allow_redirects=False) as resp:
        assert resp.status == 302, (resp.status, await resp.text())
        where = urllib.parse.urlsplit(resp.headers["Location"])
    assert (where.scheme, where.netloc, where.path) == ("https", STAND_IN_HOST, "/authorize"), where
    state = urllib.parse.parse_qs(where.query)["state"][0]
    async with http.get(f"{url}/hub/oauth_callback", params={"code": "stand-in-code", "state": state}) as resp:
        return resp.status


async def serve(url: str, stand_in: CILogonStandIn, user: str) -> dict[str, Any]:
    """Log ``user`` in, wait for their server (the spawn the hub starts after login), write a file in their home
    and one in the admins' read-write directory, and read the shared directory back."""
    seen: dict[str, Any] = {"user": user}
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=60)) as http:
        seen["login"] = await log_in(http, url, stand_in, {"idp": IDP, "eppn": user, "email": user})
        async with http.get(f"{url}/hub/spawn") as resp:
            seen["spawn"] = resp.status
        seen["lab"] = await wait_for_lab(http, url, user)
        api, headers = f"{url}{user_path(user)}/api/contents", xsrf_headers(jar, user)

        async def put(path: str, text: str) -> int:
            async with http.put(f"{api}/{path}", json={"type": "file", "format": "text", "content": text},
                                headers=headers) as resp:
                return resp.status

        seen["home"] = await put("hello.txt", f"from {user}")
        seen["readwrite"] = await put("shared-readwrite/notice.txt", f"notice from {user}")
        seen["shared_write"] = await put("shared/mine.txt", "a write where nobody may write")
        async with http.get(f"{api}/shared/notice.txt", headers=headers) as resp:
            seen["shared_read"] = (resp.status, (await resp.json()).get("content") if resp.status == 200 else None)
    return seen


def bytes_users_get(quantity: str) -> int:
    """A spec's memory as its users get it (docs/api.md, "Memory as JupyterHub reads it"): K, M, G and T (and their
    Ki..Ti) are powers of 1024, as in the fleet's own values; any other form is the Kubernetes quantity."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([KMGT])i?", quantity)
    if match is None:
        return parse_memory(quantity)
    return int(float(match.group(1)) * 1024 ** ("KMGT".index(match.group(2)) + 1))


def user_pod(management: Cluster, namespace: str, user: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        pods = management.get("pods", namespace=namespace, selector="component=singleuser-server")["items"]
        return next((p for p in pods if p["metadata"]["annotations"].get("hub.jupyter.org/username") == user), None)
    found: dict[str, Any] = wait_for(find, timeout=10, what=f"{user}'s pod")
    return found


def mounts(pod: dict[str, Any]) -> dict[str, tuple[str, str, bool]]:
    """The server container's mounts by path: (volume, subPath, readOnly)."""
    container = pod["spec"]["containers"][0]
    return {m["mountPath"]: (m["name"], m.get("subPath", ""), bool(m.get("readOnly")))
            for m in container.get("volumeMounts", [])}


def test_temple_serves_its_people_their_homes_and_shared_directories(
        management: Cluster, temple: dict[str, Any], stand_in: CILogonStandIn, process_nodes: list[str]) -> None:
    """temple (CILogon with one institution's IdP, every member of it let in, one admin; homes on the hub's share
    under the escaped name; a shared directory read-only for everyone and read-write for admins; the class's
    /dev/shm and /home/rstudio mounts): the admin and a member log in, their servers start on the process nodes,
    and each pod and each server's files are what the spec says."""
    spec, url = temple["spec"], temple["url"]
    admin = asyncio.run(asyncio.wait_for(serve(url, stand_in, ADMIN), 300))
    member = asyncio.run(asyncio.wait_for(serve(url, stand_in, MEMBER), 300))
    for seen in (admin, member):
        assert seen["login"] == 200 and seen["lab"], seen

    # The pods KubeSpawner made, against the spec.
    claim = management.get("pvc", "home-nfs", temple["target"])
    share = Path(management.get("pv", claim["spec"]["volumeName"])["spec"]["hostPath"]["path"])
    image, resources = spec["environment"]["image"], spec["environment"]["resources"]
    for user in (ADMIN, MEMBER):
        pod = user_pod(management, temple["target"], user)
        assert pod["spec"]["nodeName"] in process_nodes
        container = pod["spec"]["containers"][0]
        assert container["image"] == image
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert parse_memory(str(requests["memory"])) == bytes_users_get(resources["memory"])
        assert parse_memory(str(limits["memory"])) == bytes_users_get(resources["memoryLimit"])
        found = mounts(pod)
        escaped = ESCAPED[user]
        assert found["/home/jovyan"] == ("home", escaped, False)
        assert found["/home/jovyan/shared"] == ("home", "_shared", True)
        assert found["/home/rstudio"] == ("home", escaped, False)  # the class's second home mount
        assert found["/home/rstudio/shared"] == ("home", "_shared", True)
        shm = next(v for v in pod["spec"]["volumes"] if v["name"] == found["/dev/shm"][0])
        assert shm["emptyDir"] == {"medium": "Memory"}
        admins_only = found.get("/home/jovyan/shared-readwrite")
        assert admins_only == (("home", "_shared", False) if user == ADMIN else None), (user, admins_only)
        # Their server wrote their home on the share, under the escaped name.
        assert (share / escaped / "hello.txt").read_text() == f"from {user}"

    # What the servers did with the shared directory.
    assert admin["readwrite"] == 201 and (share / "_shared" / "notice.txt").read_text() == f"notice from {ADMIN}"
    assert member["readwrite"] >= 400  # no such directory in a member's server
    assert member["shared_read"] == (200, f"notice from {ADMIN}")
    assert admin["shared_write"] >= 400 and member["shared_write"] >= 400
    assert not (share / "_shared" / "mine.txt").exists()


def test_a_person_of_another_institution_is_refused(temple: dict[str, Any], stand_in: CILogonStandIn) -> None:
    """CILogon lets anyone of any institution sign in; the hub's authenticator refuses an IdP its spec does not
    list, and no user is made."""
    async def attempt() -> tuple[int, int]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            status = await log_in(http, temple["url"], stand_in,
                                  {"idp": "https://idp.elsewhere.example.edu", "eppn": "eve@elsewhere.example.edu"})
            async with http.get(f"{temple['url']}/hub/api/user") as resp:
                return status, resp.status

    asked = len(stand_in.requests)
    login, whoami = asyncio.run(asyncio.wait_for(attempt(), 60))
    assert login == 403 and whoami == 403, (login, whoami)
    assert "/oauth2/userinfo" in stand_in.requests[asked:]  # the authenticator read the claims, and said no
