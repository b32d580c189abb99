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
import dataclasses
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

#: The examples served here: the CILogon hubs without profiles (PEOPLE says who logs in to each).
SERVED = ("temple", "mtu", "aup", "neurohackademy", "pfw")
#: The examples not served yet, and why.
NOT_SERVED = {
    **{name: "GitHub login: no stand-in for GitHub's OAuth and organization API yet"
       for name in ("climatematch", "imagebuilding-demo", "jackeddy", "nasa-cryo", "ohw", "openscapes")},
    "ucmerced": "its profiles are on the class's n2-highmem-8 pool, an instance type the process nodes are not",
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


@dataclasses.dataclass(frozen=True)
class People:
    """Who logs in to a served hub, as CILogon would name them: the IdP and the claim its spec derives usernames
    from; an admin of the spec's, a member who is not one (None where every allowed user is an admin), and a person
    the spec does not let in."""

    idp: str
    claim: str
    admin: str
    member: str | None
    refused: tuple[str, str]  # (idp, the claim's value)

    def claims(self, name: str, idp: str | None = None) -> dict[str, Any]:
        return {"idp": idp or self.idp, self.claim: name}


GITHUB_VIA_CILOGON = "http://github.com/login/oauth/authorize"
PEOPLE = {
    "temple": People("https://fim.temple.edu/idp/shibboleth", "eppn", "jmsmith1@temple.edu", "ajones@temple.edu",
                     ("https://idp.elsewhere.example.edu", "eve@elsewhere.example.edu")),  # not its IdP
    "mtu": People("https://sso.mtu.edu/idp/shibboleth", "email", "dbkc@mtu.edu", "ann@mtu.edu",
                  ("https://sso.mtu.edu/idp/shibboleth", "eve@gmail.com")),  # its IdP, not its domain
    "aup": People(GITHUB_VIA_CILOGON, "preferred_username", "swalker", None, (GITHUB_VIA_CILOGON, "eve")),
    "neurohackademy": People(GITHUB_VIA_CILOGON, "preferred_username", "arokem", None, (GITHUB_VIA_CILOGON, "eve")),
    "pfw": People(GITHUB_VIA_CILOGON, "preferred_username", "fosterk86", None, (GITHUB_VIA_CILOGON, "eve")),
}


def escaped_username(name: str) -> str:
    """KubeSpawner's {escaped_username} (escapism's rule, lowercased): what the fleet's homes are kept under, and so
    the spec's homeDirectory escapedUsername. Letters and digits stay; any other byte is -XX."""
    return "".join(c if c in "abcdefghijklmnopqrstuvwxyz0123456789" else "".join(f"-{b:02x}" for b in c.encode())
                   for c in name)


def test_the_people_are_the_specs() -> None:
    """The table above is read off the specs: admins are the spec's, members are let in and not admins."""
    assert escaped_username("jmsmith1@temple.edu") == "jmsmith1-40temple-2eedu"  # docs/api.md's rule
    for name, people in PEOPLE.items():
        spec = hub_docs(name, "x", "y")[-1]["spec"]
        idps = {i["entityId"]: i for i in spec["auth"]["cilogon"]["allowedIdps"]}
        assert people.idp in idps and idps[people.idp]["usernameClaim"] == people.claim, name
        assert people.admin in spec["hub"]["adminUsers"], name
        if people.member is None:
            assert set(spec["auth"].get("allowedUsers", [])) <= set(spec["hub"]["adminUsers"]), name
        else:
            assert people.member not in spec["hub"]["adminUsers"], name


@pytest.fixture(scope="module")
def served(management: Cluster, operator: OperatorProcess, process_nodes: list[str], stand_in: CILogonStandIn,
           tls_ca: CertificateAuthority) -> Iterator[dict[str, dict[str, Any]]]:
    """Every served example delivered at once, each in a test namespace of its own, on the served class."""
    cls = served_class("gke-shared", tls_ca.cert_path.read_text())
    for i in range(len(SERVED)):
        shutil.rmtree(f"/tmp/{SHARE}-{i}", ignore_errors=True)  # a previous run's homes
    management.apply([*shared_volumes(len(SERVED), SHARE), cls])
    docs: dict[str, list[dict[str, Any]]] = {}
    for name in SERVED:
        namespace = ns(f"served-{name}")
        onboard(management, namespace)
        management.kubectl("create", "namespace", namespace, check=False)
        docs[name] = hub_docs(name, namespace, cls["metadata"]["name"])
        management.apply(docs[name])
    out = {}
    for name in SERVED:
        namespace = docs[name][-1]["metadata"]["namespace"]
        hub = wait_ready(management, name, namespace, timeout=300)
        target = hub["status"]["names"]["namespace"]
        port = next(p["nodePort"] for p in management.get("service", "proxy-public", target)["spec"]["ports"]
                    if p["name"] == "http")
        out[name] = {"namespace": namespace, "target": target, "url": f"http://127.0.0.1:{port}",
                     "spec": docs[name][-1]["spec"]}
    yield out
    # Gone before the process nodes are: no later test meets a hub whose pods have nowhere to run.
    for name in SERVED:
        management.kubectl("-n", out[name]["namespace"], "delete", "communityhub", name, "--wait=false", check=False)
    for name in SERVED:
        management.kubectl("-n", out[name]["namespace"], "wait", "--for=delete", f"communityhub/{name}",
                           "--timeout=180s", check=False)
    management.kubectl("delete", "hubclass", cls["metadata"]["name"], "--wait=false", check=False)
    management.kubectl("delete", "pv", *[f"{SHARE}-{i}" for i in range(len(SERVED))], "--wait=false", check=False)


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


async def serve(url: str, stand_in: CILogonStandIn, claims: dict[str, Any], user: str) -> dict[str, Any]:
    """Log a person in, wait for their server (the spawn the hub starts after login), write a file in their home
    and one in the admins' read-write directory, and read the shared directory back."""
    seen: dict[str, Any] = {"user": user}
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=60)) as http:
        seen["login"] = await log_in(http, url, stand_in, claims)
        async with http.get(f"{url}/hub/api/user") as resp:
            seen["name"] = (await resp.json()).get("name") if resp.status == 200 else resp.status
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


@pytest.mark.parametrize("name", SERVED)
def test_its_people_get_their_servers_homes_and_shared_directories_as_the_spec_says(
        management: Cluster, served: dict[str, dict[str, Any]], stand_in: CILogonStandIn, process_nodes: list[str],
        name: str) -> None:
    """An admin (and a member, where the spec lets in people who are not admins) log in with the real
    CILogonOAuthenticator; their servers start on the process nodes; each pod is what the spec says (image, memory
    as JupyterHub reads it, the home under the spec's homeDirectory, each shared directory with its read-only flag
    and for whom, the class's /dev/shm and /home/rstudio mounts); and what the servers write lands on the hub's
    share where the spec says, while the read-only directory refuses a write."""
    hub, people = served[name], PEOPLE[name]
    spec, url = hub["spec"], hub["url"]
    storage = spec["environment"]["storage"]
    users = [people.admin, *([people.member] if people.member else [])]
    seen = {user: asyncio.run(asyncio.wait_for(serve(url, stand_in, people.claims(user), user), 300))
            for user in users}
    for user in users:
        assert seen[user]["login"] == 200 and seen[user]["name"] == user and seen[user]["lab"], seen[user]

    claim = management.get("pvc", "home-nfs", hub["target"])
    share = Path(management.get("pv", claim["spec"]["volumeName"])["spec"]["hostPath"]["path"])
    resources = spec["environment"].get("resources")
    for user in users:
        pod = user_pod(management, hub["target"], user)
        assert pod["spec"]["nodeName"] in process_nodes
        container = pod["spec"]["containers"][0]
        assert container["image"] == spec["environment"]["image"]
        if resources:
            got = container["resources"]
            assert parse_memory(str(got["requests"]["memory"])) == bytes_users_get(resources["memory"])
            assert parse_memory(str(got["limits"]["memory"])) == bytes_users_get(resources["memoryLimit"])
        found = mounts(pod)
        home = escaped_username(user) if storage["homeDirectory"] == "escapedUsername" else user
        assert found["/home/jovyan"] == ("home", home, False)
        for directory in storage["sharedDirectories"]:
            who = directory.get("who", "everyone")
            mine = who == "everyone" or (who == "admins" and user == people.admin)
            expected = ("home", f"_{directory['name']}", directory.get("readOnly", True)) if mine else None
            assert found.get(directory["mountPath"]) == expected, (user, directory)
        assert found["/home/rstudio"] == ("home", home, False)  # the class's second home mount
        assert found["/home/rstudio/shared"] == ("home", "_shared", True)
        shm = next(v for v in pod["spec"]["volumes"] if v["name"] == found["/dev/shm"][0])
        assert shm["emptyDir"] == {"medium": "Memory"}
        # Their server wrote their home on the share, under the spec's name for it.
        assert seen[user]["home"] == 201 and (share / home / "hello.txt").read_text() == f"from {user}"
        assert seen[user]["shared_write"] >= 400  # read-only for everyone, admins too

    admin = seen[people.admin]
    assert admin["readwrite"] == 201
    assert (share / "_shared" / "notice.txt").read_text() == f"notice from {people.admin}"
    assert not (share / "_shared" / "mine.txt").exists()
    if people.member:
        member = seen[people.member]
        assert member["readwrite"] >= 400  # no such directory in a member's server
        assert member["shared_read"] == (200, f"notice from {people.admin}")


@pytest.mark.parametrize("name", SERVED)
def test_a_person_the_spec_does_not_let_in_is_refused(served: dict[str, dict[str, Any]], stand_in: CILogonStandIn,
                                                      name: str) -> None:
    """CILogon lets anyone sign in; the hub's authenticator refuses what the spec does not allow (another IdP,
    another domain, a user not listed), having read the claims, and no user is made."""
    people, url = PEOPLE[name], served[name]["url"]
    idp, value = people.refused

    async def attempt() -> tuple[int, int]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            status = await log_in(http, url, stand_in, people.claims(value, idp))
            async with http.get(f"{url}/hub/api/user") as resp:
                return status, resp.status

    asked = len(stand_in.requests)
    login, whoami = asyncio.run(asyncio.wait_for(attempt(), 60))
    assert login == 403 and whoami == 403, (login, whoami)
    assert "/oauth2/userinfo" in stand_in.requests[asked:]  # the authenticator read the claims, and said no
