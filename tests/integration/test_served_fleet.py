"""The fleet's examples served (issue 30, part 4): a hub of examples/fleet/, as its manifest says, on its class
(the class's values, plus what puts its pods on the local plane's process nodes and its authenticator on a
stand-in), with the real JupyterHub chart. People log in through the proxy with the real authenticator the chart
configures, against a stand-in identity provider on 127.0.0.1 (CILogon's, tests/support/cilogon.py, or GitHub's,
tests/support/github.py, reached from the hub's pod by a Service's name); the hub's KubeSpawner makes their pods
through the API server; their servers run; and each pod is checked against the spec, then used: files written in a
home land on the hub's share under the escaped name the fleet's data is kept under, a shared directory takes a write
only where the spec makes it read-write, and what one person writes there another reads.

What is served here, and what is not yet with why, is listed in SERVED, PROFILED and NOT_SERVED; a new example must
be in one of them (test_every_fleet_example_is_served_or_named)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import math
import re
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from communityhub.api.quantities import parse_cpu, parse_memory
from localcluster import processpods
from localcluster.controlplane import ControlPlane
from localcluster.pki import CertificateAuthority
from tests.conftest import REPO, OperatorProcess
from tests.integration.test_fleet_examples import shared_volumes
from tests.support.cilogon import CILogonStandIn
from tests.support.github import GitHubStandIn
from tests.support.hubs import ns, onboard, wait_ready
from tests.support.kube import Cluster, build_node, wait_for, wait_node_ready
from tests.support.served import user_path, wait_for_lab, xsrf_headers

pytestmark = pytest.mark.integration

FLEET = REPO / "examples" / "fleet"
PROCESS_CLASS = REPO / "examples" / "hubclasses" / "process-pods.yaml"
#: The stand-ins' names as a hub's pod calls them (Services of the stand-ins' namespace).
CILOGON_HOST = f"cilogon.{processpods.STAND_INS_NAMESPACE}.svc"
GITHUB_HOST = f"github.{processpods.STAND_INS_NAMESPACE}.svc"
#: Where the hub finds the stand-in's CA (a file of the class's hub.extraFiles).
CA_PATH = "/usr/local/etc/jupyterhub/stand-in-ca.crt"
SHARE = "served-share"

#: The examples served here: the hubs without profiles, CILogon's and GitHub's (PEOPLE says who logs in to each).
SERVED = ("temple", "mtu", "aup", "neurohackademy", "pfw", "climatematch")
#: The examples served here whose people choose a profile on the spawn form: each profile is started (and each of
#: its image choices, an unlisted image too where it allows one), on a process node standing in for its node pool.
PROFILED = ("ohw", "jackeddy", "ucmerced", "imagebuilding-demo")
DELIVERED = (*SERVED, *PROFILED)
#: The examples not served yet, and why.
NOT_SERVED = {
    **{name: "a dedicated cluster on AWS: Terraform's AWS provider cannot be downloaded here"
       for name in ("openscapes", "nasa-cryo")},
    "ephemeral-demo": "temporary users on the workshop class: what tests/integration/test_serving.py serves, "
                      "from examples/workshop-local.yaml",
    "pythia-binder": "a Binder hub: its servers start from BinderHub's page, and BinderHub's software is not "
                     "installable here (its image installs binderhub from github.com, which does not resolve)",
}
#: A node of the image-building pool, for imagebuilding-demo's BinderHub (a kwok node: its pods are not served).
BUILD_NODE = "kwok-served-build-1"


def fleet_hubs() -> dict[str, Path]:
    """Every CommunityHub of examples/fleet/ (not the imported ones), by name."""
    out = {}
    for path in sorted(FLEET.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CommunityHub":
                out[doc["metadata"]["name"]] = path
    return out


def hub_spec(example: str) -> dict[str, Any]:
    spec: dict[str, Any] = next(d for d in yaml.safe_load_all(fleet_hubs()[example].read_text())
                                if d and d["kind"] == "CommunityHub")["spec"]
    return spec


def fleet_class(name: str = "gke-shared") -> dict[str, Any]:
    """A HubClass of examples/fleet/classes.yaml, as the file has it."""
    doc: dict[str, Any] = next(d for d in yaml.safe_load_all((FLEET / "classes.yaml").read_text())
                               if d and d["kind"] == "HubClass" and d["metadata"]["name"] == name)
    return doc


def catalog(class_name: str = "gke-shared") -> dict[str, Any]:
    spec: dict[str, Any] = fleet_class(class_name)["spec"]
    return spec


def test_every_fleet_example_is_served_or_named() -> None:
    assert sorted(fleet_hubs()) == sorted([*DELIVERED, *NOT_SERVED])


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def served_class(name: str, ca_pem: str) -> dict[str, Any]:
    """The example's class as the fleet's classes.yaml has it, plus two things a provider's test environment would
    set: the process nodes (examples/hubclasses/process-pods.yaml's values), and CILogon and GitHub (Enterprise's
    github_url) at their stand-ins, whose certificates the hub trusts by their CA."""
    base = fleet_class(name)
    placement = yaml.safe_load(PROCESS_CLASS.read_text())["spec"]["values"]
    stand_in = {"hub": {
        "extraFiles": {"stand-in-ca": {"mountPath": CA_PATH, "stringData": ca_pem}},
        "config": {"CILogonOAuthenticator": {"cilogon_host": CILOGON_HOST},
                   "GitHubOAuthenticator": {"github_url": f"https://{GITHUB_HOST}"},
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
    hub = next(d for d in docs if d["kind"] == "CommunityHub")
    own = hub["metadata"]["namespace"]
    docs = [*(d for d in docs if d is not hub), hub]  # the hub last
    for doc in docs:
        if doc["metadata"].get("namespace") == own:  # not the provider's own (a registry login of the operator's)
            doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "CommunityHub":
            doc["spec"]["hubClassName"] = hub_class
            doc["spec"]["hub"]["domain"] = f"{example}-{namespace}.fleet.example.org"
    return docs


@dataclasses.dataclass
class StandIns:
    cilogon: CILogonStandIn
    github: GitHubStandIn


@pytest.fixture(scope="module")
def stand_ins(management: Cluster, tls_ca: CertificateAuthority) -> Iterator[StandIns]:
    """CILogon's and GitHub's stand-ins on the host, and the Services a hub's pod reaches them by (process pods
    relay them)."""
    servers = {}
    for name, host, kind in (("cilogon", CILOGON_HOST, CILogonStandIn), ("github", GITHUB_HOST, GitHubStandIn)):
        tls = tls_ca.issue(tls_ca.cert_path.parent, f"{name}-stand-in", host, server_names=(host,),
                           server_ips=("127.0.0.1",))
        servers[name] = kind(tls=tls)
        servers[name].start()
    management.kubectl("create", "namespace", processpods.STAND_INS_NAMESPACE, check=False)
    management.apply([{"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": name, "namespace": processpods.STAND_INS_NAMESPACE,
                                    "annotations": {processpods.STAND_IN_ANNOTATION: str(server.port)}},
                       "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 443}]}}
                      for name, server in servers.items()])
    yield StandIns(**servers)  # type: ignore[arg-type]
    for name, server in servers.items():
        management.kubectl("-n", processpods.STAND_INS_NAMESPACE, "delete", "service", name, "--ignore-not-found")
        server.stop()


@dataclasses.dataclass(frozen=True)
class People:
    """Who logs in to a served hub: an admin of the spec's (None where its admins are only the provider's staff, of
    the class), a member who is not one (None where every allowed user is an admin), and a person the spec does not
    let in. CILogon's people are named by the claim (``claim``) of
    an IdP (``idp``) the spec lists; GitHub's are logins, members of ``teams`` (``org:team``) the spec allows."""

    admin: str | None
    member: str | None
    refused: str
    idp: str = ""
    claim: str = ""
    refused_idp: str = ""  # CILogon: the IdP the refused person comes from (the hub's own where empty)
    teams: tuple[str, ...] = ()  # GitHub: the member's teams (the admin and the refused person are in none)
    refused_teams: tuple[str, ...] = ()  # GitHub: the refused person's (an organization without its team)


GITHUB_VIA_CILOGON = "http://github.com/login/oauth/authorize"
PEOPLE = {
    "temple": People("jmsmith1@temple.edu", "ajones@temple.edu", "eve@elsewhere.example.edu",
                     "https://fim.temple.edu/idp/shibboleth", "eppn",
                     refused_idp="https://idp.elsewhere.example.edu"),  # not its IdP
    "mtu": People("dbkc@mtu.edu", "ann@mtu.edu", "eve@gmail.com",  # its IdP, not its domain
                  "https://sso.mtu.edu/idp/shibboleth", "email"),
    "aup": People("swalker", None, "eve", GITHUB_VIA_CILOGON, "preferred_username"),  # not a listed user
    "neurohackademy": People("arokem", None, "eve", GITHUB_VIA_CILOGON, "preferred_username"),
    "pfw": People("fosterk86", None, "eve", GITHUB_VIA_CILOGON, "preferred_username"),
    # GitHub logins are case-insensitive: the spec's admin WesleyTheGeolien is the hub's wesleythegeolien.
    "climatematch": People("WesleyTheGeolien", "kim", "eve", teams=("ClimateMatchAcademy:2023students",),
                           refused_teams=("ClimateMatchAcademy",)),  # in the organization, not its team
    "ohw": People("ocefpaf", "sam", "eve", teams=("oceanhackweek:ohw23-participants-seattle",),
                  refused_teams=("oceanhackweek",)),
    "jackeddy": People("colliand", "ann", "eve", teams=("jack-eddy-symposium",)),  # any member of its organization
    "ucmerced": People("schadalapaka@ucmerced.edu", "ann@ucmerced.edu", "eve@elsewhere.example.edu",
                       "urn:mace:incommon:ucmerced.edu", "eppn", refused_idp="https://idp.elsewhere.example.edu"),
    "imagebuilding-demo": People(None, "sam", "eve", teams=("veda-analytics-access:all-users",),
                                 refused_teams=("veda-analytics-access",)),  # in the organization, not its teams
}


def escaped_username(name: str) -> str:
    """KubeSpawner's {escaped_username} (escapism's rule, lowercased): what the fleet's homes are kept under, and so
    the spec's homeDirectory escapedUsername. Letters and digits stay; any other byte is -XX."""
    return "".join(c if c in "abcdefghijklmnopqrstuvwxyz0123456789" else "".join(f"-{b:02x}" for b in c.encode())
                   for c in name)


def test_the_people_are_the_specs() -> None:
    """The table above is read off the specs: admins are the spec's, members are let in and not admins."""
    assert escaped_username("jmsmith1@temple.edu") == "jmsmith1-40temple-2eedu"  # docs/api.md's rule
    assert sorted(PEOPLE) == sorted(DELIVERED)
    for name, people in PEOPLE.items():
        spec = hub_spec(name)
        assert spec["hubClassName"] == "gke-shared" and spec["placement"]["type"] == "shared", name  # served_class
        admins = spec["hub"].get("adminUsers", [])
        assert people.admin in admins if people.admin else not admins, name
        assert people.member is None or people.member not in admins, name
        if spec["auth"]["provider"] == "cilogon":
            idps = {i["entityId"]: i for i in spec["auth"]["cilogon"]["allowedIdps"]}
            assert people.idp in idps and idps[people.idp]["usernameClaim"] == people.claim, name
            if people.member is None:
                assert set(spec["auth"].get("allowedUsers", [])) <= set(admins), name
        else:
            github = spec["auth"]["github"]
            orgs = github.get("organizations") or [{"name": github["organization"], "teams": github.get("teams")}]
            allowed = {f"{org['name']}:{team}" if team else org["name"] for org in orgs
                       for team in org.get("teams") or [None]}
            assert set(people.teams) <= allowed and not set(people.refused_teams) & allowed, name


def pool_labels(pool: dict[str, Any]) -> dict[str, str]:
    """Where a catalog pool's nodes are (docs/api.md): its nodeSelector, else its machine type's well-known label."""
    return pool.get("nodeSelector") or {"node.kubernetes.io/instance-type": pool["machineType"]}


@pytest.fixture(scope="module")
def pool_nodes(management: Cluster, process_nodes: list[str]) -> Iterator[dict[str, str]]:
    """A process node for each of the class's node pools a served profile asks for, labelled and sized as the
    pool's nodes are: pool name -> node name. Removed after the module."""
    used = {p["nodePool"] for name in PROFILED for p in hub_spec(name)["environment"].get("profiles", [])
            if p.get("nodePool")}
    pools = {pool["name"]: processpods.PoolNode(labels=pool_labels(pool), cpu=str(pool["cpu"]),
                                                memory=str(pool["memory"]),
                                                gpus=(pool.get("gpu") or {}).get("count", 0))
             for pool in catalog()["nodePools"] if pool["name"] in used}
    assert sorted(pools) == sorted(used)  # every pool a profile names is the class's
    plane = ControlPlane(management.name)
    nodes = processpods.add_pools(plane, pools)
    yield dict(zip(pools, nodes, strict=True))
    processpods.add_pools(plane, {})


@pytest.fixture(scope="module")
def served(management: Cluster, operator: OperatorProcess, process_nodes: list[str], pool_nodes: dict[str, str],
           stand_ins: StandIns, tls_ca: CertificateAuthority) -> Iterator[dict[str, dict[str, Any]]]:
    """Every served example delivered at once, each in a test namespace of its own, on the served class."""
    cls = served_class("gke-shared", tls_ca.cert_path.read_text())
    for i in range(len(DELIVERED)):
        shutil.rmtree(f"/tmp/{SHARE}-{i}", ignore_errors=True)  # a previous run's homes
    management.apply([*shared_volumes(len(DELIVERED), SHARE), cls, build_node(BUILD_NODE)])
    wait_node_ready(management, BUILD_NODE)
    docs: dict[str, list[dict[str, Any]]] = {}
    for name in DELIVERED:
        namespace = ns(f"served-{name}")
        onboard(management, namespace)
        management.kubectl("create", "namespace", namespace, check=False)
        docs[name] = hub_docs(name, namespace, cls["metadata"]["name"])
        management.apply(docs[name])
    out = {}
    try:
        for name in DELIVERED:
            namespace = docs[name][-1]["metadata"]["namespace"]
            hub = wait_ready(management, name, namespace, timeout=300)
            target = hub["status"]["names"]["namespace"]
            wait_for(lambda target=target: (management.get("pvc", "home-nfs", target) or {}).get("status", {}).get(
                "phase") == "Bound", timeout=60, what=f"{name}'s home-nfs claim Bound")
            port = next(p["nodePort"] for p in management.get("service", "proxy-public", target)["spec"]["ports"]
                        if p["name"] == "http")
            out[name] = {"namespace": namespace, "target": target, "url": f"http://127.0.0.1:{port}",
                         "spec": docs[name][-1]["spec"]}
        yield out
    finally:
        # Gone before the process nodes are: no later test meets a hub whose pods have nowhere to run.
        for name in DELIVERED:
            management.kubectl("-n", docs[name][-1]["metadata"]["namespace"], "delete", "communityhub", name,
                               "--wait=false", check=False)
        for name in DELIVERED:
            management.kubectl("-n", docs[name][-1]["metadata"]["namespace"], "wait", "--for=delete",
                               f"communityhub/{name}", "--timeout=180s", check=False)
        management.kubectl("delete", "hubclass", cls["metadata"]["name"], "--wait=false", check=False)
        management.kubectl("delete", "pv", *[f"{SHARE}-{i}" for i in range(len(DELIVERED))], "--wait=false",
                           check=False)
        management.kubectl("delete", "node", BUILD_NODE, "--ignore-not-found", check=False)
        management.kubectl("-n", "communityhub-system", "delete", "secret", "binder-registry-login",
                            "--ignore-not-found", check=False)


async def log_in(http: aiohttp.ClientSession, url: str, stand_ins: StandIns, provider: str, name: str,
                 people: People, refused: bool = False) -> int:
    """What a person does: the hub's login sends them to their identity provider (its stand-in's name); the
    provider, once they signed in, sends them back to the hub's callback with a code and the hub's state; the hub's
    authenticator exchanges the code and reads who they are (and, for GitHub, asks about their teams) from the
    stand-in. The callback's HTTP status, after its redirects."""
    if provider == "cilogon":
        host = CILOGON_HOST
        idp = people.refused_idp if refused and people.refused_idp else people.idp
        stand_ins.cilogon.log_in_as({"idp": idp, people.claim: name})
    else:
        host = GITHUB_HOST
        stand_ins.github.log_in_as(name, people.refused_teams if refused else
                                   people.teams if name == people.member else ())
    async with http.get(f"{url}/hub/oauth_login", allow_redirects=False) as resp:
        assert resp.status == 302, (resp.status, await resp.text())
        where = urllib.parse.urlsplit(resp.headers["Location"])
    assert (where.scheme, where.netloc) == ("https", host), where
    state = urllib.parse.parse_qs(where.query)["state"][0]
    async with http.get(f"{url}/hub/oauth_callback", params={"code": "stand-in-code", "state": state}) as resp:
        return resp.status


async def serve(url: str, login: Any, user: str, writes: list[str], reads: list[str],
                profile: str | None = None, then_stop: Any = None, options: dict[str, str] | None = None
                ) -> dict[str, Any]:
    """Log a person in (``login(http)``), wait for their server (the spawn the hub starts after login, or the
    ``profile`` they choose on its spawn form, with the form's ``options`` of it), write a file in their home and
    each of ``writes`` (paths in their server), and read each of ``reads``; with ``then_stop`` (called first, while
    the server runs), stop the server as its owner does."""
    seen: dict[str, Any] = {"user": user, "writes": {}, "reads": {}}
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=60)) as http:
        seen["login"] = await login(http)
        async with http.get(f"{url}/hub/api/user") as resp:
            seen["name"] = (await resp.json()).get("name") if resp.status == 200 else resp.status
        async with http.get(f"{url}/hub/spawn") as resp:
            seen["spawn"] = resp.status
            seen["form"] = "profile" in await resp.text()
        hub_xsrf = next((c.value for c in jar if c.key == "_xsrf" and c["path"] == "/hub/"), "")
        if profile is not None:
            form = {"profile": profile, **(options or {}), "_xsrf": hub_xsrf}
            async with http.post(f"{url}/hub/spawn", data=form) as resp:
                seen["chose"] = resp.status
        seen["lab"] = await wait_for_lab(http, url, user)
        api, headers = f"{url}{user_path(user)}/api/contents", xsrf_headers(jar, user)
        for path in ["hello.txt", *writes]:
            async with http.put(f"{api}/{path}", json={"type": "file", "format": "text", "content": f"from {user}"},
                                headers=headers) as resp:
                seen["writes"][path] = resp.status
        for path in reads:
            async with http.get(f"{api}/{path}", headers=headers) as resp:
                seen["reads"][path] = (resp.status, (await resp.json()).get("content") if resp.status == 200 else None)
        if then_stop is not None:
            seen["running"] = then_stop()
            me = f"{url}/hub/api/users/{urllib.parse.quote(user, safe='@~')}"
            async with http.delete(f"{me}/server", headers={"X-XSRFToken": hub_xsrf}) as resp:
                seen["stop"] = resp.status
            for _ in range(60):
                async with http.get(me, headers={"X-XSRFToken": hub_xsrf}) as resp:
                    if not (await resp.json()).get("servers"):
                        break
                await asyncio.sleep(1)
    return seen


def bytes_users_get(quantity: str) -> int:
    """A spec's memory as its users get it (docs/api.md, "Memory as JupyterHub reads it"): K, M, G and T (and their
    Ki..Ti) are powers of 1024, as in the fleet's own values; any other form is the Kubernetes quantity."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([KMGT])i?", quantity)
    if match is None:
        return parse_memory(quantity)
    return int(float(match.group(1)) * 1024 ** ("KMGT".index(match.group(2)) + 1))


def in_millicores(cpu: float) -> float:
    """A CPU amount as a pod gets it: the API server keeps quantities to the millicore, rounding up (0.434875 is
    435m)."""
    return math.ceil(round(cpu * 1000, 6)) / 1000


def user_pod(management: Cluster, namespace: str, user: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        pods = management.get("pods", namespace=namespace, selector="component=singleuser-server")["items"]
        return next((p for p in pods if p["metadata"]["annotations"].get("hub.jupyter.org/username") == user), None)
    found: dict[str, Any] = wait_for(find, timeout=10, what=f"{user}'s pod")
    return found


def why_no_server(management: Cluster, namespace: str, user: str) -> str:
    """What the cluster says of a user's pod, for a failure's message: its phase, its containers' waiting reasons,
    and its Events."""
    pods = [p for p in management.get("pods", namespace=namespace, selector="component=singleuser-server")["items"]
            if p["metadata"]["annotations"].get("hub.jupyter.org/username") == user]
    if not pods:
        return f"no pod of {user}"
    pod = pods[0]
    waiting = [c.get("state", {}).get("waiting") for c in pod["status"].get("containerStatuses", [])]
    events = [f"{e['reason']}: {e['message']}" for e in management.get("events", namespace=namespace)["items"]
              if e["involvedObject"].get("name") == pod["metadata"]["name"]]
    return f"{pod['metadata']['name']} {pod['status'].get('phase')} {waiting} {events[-4:]}"


def mounts(pod: dict[str, Any]) -> dict[str, tuple[str, str, bool]]:
    """The server container's mounts by path: (volume, subPath, readOnly)."""
    container = pod["spec"]["containers"][0]
    return {m["mountPath"]: (m["name"], m.get("subPath", ""), bool(m.get("readOnly")))
            for m in container.get("volumeMounts", [])}


def in_server(mount_path: str) -> str | None:
    """A mount path as the server's contents API names it (relative to the home it serves), or None outside it."""
    return mount_path.removeprefix("/home/jovyan/") if mount_path.startswith("/home/jovyan/") else None


@pytest.mark.parametrize("name", SERVED)
def test_its_people_get_their_servers_homes_and_shared_directories_as_the_spec_says(
        management: Cluster, served: dict[str, dict[str, Any]], stand_ins: StandIns, process_nodes: list[str],
        pool_nodes: dict[str, str], name: str) -> None:
    """An admin (and a member, where the spec lets in people who are not admins) log in with the real
    authenticator; their servers start on the process nodes; each pod is what the spec says (image, memory as
    JupyterHub reads it, the home under the spec's homeDirectory, each shared directory for whom and how, the
    class's /dev/shm and /home/rstudio mounts); what the servers write lands on the hub's share where the spec says,
    a read-only directory refuses a write, and what the admin wrote the member reads."""
    hub, people = served[name], PEOPLE[name]
    spec, url = hub["spec"], hub["url"]
    provider, storage = spec["auth"]["provider"], spec["environment"]["storage"]
    assert people.admin is not None
    users = {people.admin.lower() if provider == "github" else people.admin: people.admin}  # the hub's name: login
    if people.member:
        users[people.member] = people.member

    def mine(user: str) -> list[dict[str, Any]]:
        return [d for d in storage["sharedDirectories"] if d.get("who", "everyone") == "everyone"
                or (d["who"] == "admins" and users[user] == people.admin)]

    def note(user: str, directory: dict[str, Any]) -> str:
        """The file ``user`` writes through ``directory``'s mount: its name on the share says who and through
        which mount (two mounts of one directory, read-only and read-write, land in the same folder)."""
        return f"from-{escaped_username(user)}-via-{Path(directory['mountPath']).name}.txt"

    admin = next(iter(users))
    seen: dict[str, dict[str, Any]] = {}
    for user, login_name in users.items():
        writes = [f"{in_server(d['mountPath'])}/{note(user, d)}" for d in storage["sharedDirectories"]
                  if in_server(d["mountPath"])]
        # What the admin wrote through a read-write mount, read through this person's own mount of that directory.
        reads = [f"{in_server(d['mountPath'])}/{note(admin, a)}" for d in mine(user) for a in mine(admin)
                 if user != admin and in_server(d["mountPath"]) and in_server(a["mountPath"])
                 and a["name"] == d["name"] and not a.get("readOnly", True)]

        async def login(http: aiohttp.ClientSession, login_name: str = login_name) -> int:
            return await log_in(http, url, stand_ins, provider, login_name, people)
        # The pod is read while the server runs; the server is then stopped, as its owner would (a fleet of
        # servers left running fills the process nodes).
        seen[user] = asyncio.run(asyncio.wait_for(serve(url, login, user, writes, reads, then_stop=lambda user=user:
                                                        user_pod(management, hub["target"], user)), 300))
        assert seen[user]["login"] == 200 and seen[user]["name"] == user and seen[user]["lab"], \
            (seen[user], why_no_server(management, hub["target"], user))

    claim = management.get("pvc", "home-nfs", hub["target"])
    share = Path(management.get("pv", claim["spec"]["volumeName"])["spec"]["hostPath"]["path"])
    resources = spec["environment"].get("resources")
    for user in users:
        pod = seen[user]["running"]
        assert pod["spec"]["nodeName"] in [*process_nodes, *pool_nodes.values()]  # any process node
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
            expected = ("home", f"_{directory['name']}", directory.get("readOnly", True)) \
                if directory in mine(user) else None
            assert found.get(directory["mountPath"]) == expected, (user, directory)
        assert found["/home/rstudio"] == ("home", home, False)  # the class's second home mount
        assert found["/home/rstudio/shared"] == ("home", "_shared", True)
        shm = next(v for v in pod["spec"]["volumes"] if v["name"] == found["/dev/shm"][0])
        assert shm["emptyDir"] == {"medium": "Memory"}
        # What their server wrote: their home on the share, under the spec's name for it; each shared directory
        # only where it is theirs and read-write.
        assert seen[user]["writes"]["hello.txt"] == 201 and (share / home / "hello.txt").read_text() == f"from {user}"
        for directory in storage["sharedDirectories"]:
            if not in_server(directory["mountPath"]):
                continue
            written = share / f"_{directory['name']}" / note(user, directory)
            writable = directory in mine(user) and not directory.get("readOnly", True)
            status = seen[user]["writes"][f"{in_server(directory['mountPath'])}/{note(user, directory)}"]
            assert (status == 201) == writable and written.exists() == writable, (user, directory, status)
        for path, (status, content) in seen[user]["reads"].items():
            assert (status, content) == (200, f"from {admin}"), (user, path)


@pytest.mark.parametrize("name", DELIVERED)
def test_a_person_the_spec_does_not_let_in_is_refused(served: dict[str, dict[str, Any]], stand_ins: StandIns,
                                                      name: str) -> None:
    """The provider lets anyone sign in; the hub's authenticator refuses what the spec does not allow (another IdP
    or domain, a user not listed, an organization's member outside its allowed teams), having asked the provider,
    and no user is made."""
    people, hub = PEOPLE[name], served[name]
    provider = hub["spec"]["auth"]["provider"]
    stand_in = stand_ins.cilogon if provider == "cilogon" else stand_ins.github

    async def attempt() -> tuple[int, int]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            status = await log_in(http, hub["url"], stand_ins, provider, people.refused, people, refused=True)
            async with http.get(f"{hub['url']}/hub/api/user") as resp:
                return status, resp.status

    asked = len(stand_in.requests)
    login, whoami = asyncio.run(asyncio.wait_for(attempt(), 60))
    assert login == 403 and whoami == 403, (login, whoami)
    who = "/oauth2/userinfo" if provider == "cilogon" else "/api/v3/user"
    assert who in stand_in.requests[asked:]  # the authenticator asked who they are, and said no


#: What a person types as an unlisted image, where a profile allows one (its name is what the pod gets).
UNLISTED = "quay.io/example-community/own-image:2024.10"


def spawns(spec: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, str], str]]:
    """What a person can start on the spec's form: each profile, and within one, each of its image choices and an
    unlisted image where it allows one; as (profile, the form's options, the image the server gets)."""
    images = {i["name"]: i["reference"] for i in catalog()["images"]}
    out: list[tuple[dict[str, Any], dict[str, str], str]] = []
    for profile in spec["environment"]["profiles"]:
        field = f"profile-option-{profile['name']}--image"
        for choice in profile.get("imageChoices", []):
            out.append((profile, {field: choice}, images[choice]))
        if profile.get("unlistedImage"):
            out.append((profile, {f"{field}--unlisted-choice": UNLISTED}, UNLISTED))
        if not profile.get("imageChoices"):
            out.append((profile, {}, profile.get("image") or spec["environment"]["image"]))
    return out


@pytest.mark.parametrize("name", PROFILED)
def test_each_profile_starts_as_the_spec_says(management: Cluster, served: dict[str, dict[str, Any]],
                                              stand_ins: StandIns, process_nodes: list[str],
                                              pool_nodes: dict[str, str], name: str) -> None:
    """A member is offered the spawn form, chooses each profile of the spec in turn (and each image of a profile's
    choices, and an image of their own where it allows one), and gets a server of that choice: its image, CPU and
    memory (guarantee and limit) as the spec says, on its node pool's node (the pool's labels beside the class's
    node selector); then stops it, as its owner does."""
    hub, people = served[name], PEOPLE[name]
    spec, url = hub["spec"], hub["url"]
    member = people.member
    assert member is not None
    pools = {pool["name"]: pool for pool in catalog()["nodePools"]}
    classes_selector = yaml.safe_load(PROCESS_CLASS.read_text())["spec"]["values"]["singleuser"]["nodeSelector"]

    async def login(http: aiohttp.ClientSession) -> int:
        return await log_in(http, url, stand_ins, spec["auth"]["provider"], member, people)

    for profile, options, image in spawns(spec):
        what = (profile["name"], options)
        seen = asyncio.run(asyncio.wait_for(serve(url, login, member, [], [], profile=profile["name"],
                                                  options=options,
                                                  then_stop=lambda: user_pod(management, hub["target"], member)),
                                            300))
        assert seen["login"] == 200 and seen["form"] and seen["lab"], \
            (what, seen, why_no_server(management, hub["target"], member))
        pod = seen["running"]
        container = pod["spec"]["containers"][0]
        assert container["image"] == image, what
        if profile.get("nodePool"):
            # The pool's labels beside the class's selector (KubeSpawner adds a profile's to it): its node only.
            assert pod["spec"]["nodeName"] == pool_nodes[profile["nodePool"]], what
            assert pod["spec"]["nodeSelector"] == {**classes_selector, **pool_labels(pools[profile["nodePool"]])}, \
                what
        else:
            assert pod["spec"]["nodeName"] in [*process_nodes, *pool_nodes.values()], what  # any process node
        got = container["resources"]
        if "cpu" in profile:
            assert parse_cpu(got["requests"]["cpu"]) == in_millicores(profile["cpu"]), (what, got)
            assert parse_cpu(got["limits"]["cpu"]) == in_millicores(profile.get("cpuLimit", profile["cpu"])), \
                (what, got)
        assert parse_memory(str(got["requests"]["memory"])) == bytes_users_get(profile["memory"]), (what, got)
        assert parse_memory(str(got["limits"]["memory"])) == \
            bytes_users_get(profile.get("memoryLimit", profile["memory"])), (what, got)
        assert seen["writes"]["hello.txt"] in (200, 201) and seen["stop"] in (202, 204), seen  # 200: written again
        # Stopped by its owner before the next profile: the pod goes.
        wait_for(lambda: not [p for p in management.get("pods", namespace=hub["target"],
                                                        selector="component=singleuser-server")["items"]
                              if p["metadata"]["annotations"].get("hub.jupyter.org/username") == member],
                 timeout=60, what=f"{member}'s server to stop")
