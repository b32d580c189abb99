"""``hubctl import`` (pure): a provider's values stacks, hub by hub, into HubClasses and CommunityHubs, with
what the move cannot carry named.

How a stack is split. The layers several hubs of a cluster read (the wrapper chart's own values, the common
files) become one HubClass per distinct set of them, its ``values`` the JupyterHub chart's part of those
layers merged in helm's order (the chart's ``values.jsonnet``, which the deployer evaluates per hub, only where
it gives every hub of the class the same). What a hub chooses is then read off its *effective* values (every
layer merged), path by path, into the CommunityHub's typed fields; each translator says which paths it took.
What is left of the hub's own delta (its effective values where they differ from its class's) is either:

- a **hatch**: carried as it is, in ``spec.hub.values`` where the tenant policy lets a hub set the path, else
  in a HubClass of the hub's own (the class's values and the hatch merged); or
- **lost**: the CommunityHub cannot say it (the operator renders that path itself from the spec, or it belongs
  to a part of the wrapper chart the operator does not run: home quotas, BinderHub, the existing share).

Whether the hub's users get what they had is not decided here: the equivalence report
(``migration.compare`` over ``adapters.hubconfig.probe``) runs both sides through the chart's hub
configuration. This module only builds the manifests and names what it could not type.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from communityhub.api.models import (
    API_VERSION,
    DNS_LABEL,
    LEARN_MORE,
    MEMORY_QUANTITY,
    CommunityHubSpec,
    HubClassSpec,
)
from communityhub.api.quantities import parse_memory
from communityhub.delivery import capacity, policy, render
from communityhub.migration import stack

#: What a placeholder Secret holds until the provider fills it.
FILL_ME = "FILL-ME"


@dataclasses.dataclass(frozen=True)
class Source:
    """One hub as its deployer deploys it (``adapters.deployer.read_cluster`` makes them). ``layers`` are the
    wrapper chart's values in helm's order; a layer whose name holds a ``/`` is the chart's own or a base the
    provider names (the class's), the others the files hubs list, shared when two hubs of the cluster list them."""

    cluster: str
    name: str
    domain: str
    chart: str
    #: What the JupyterHub chart receives (before its own defaults).
    values: dict[str, Any]
    files: tuple[str, ...]
    missing: tuple[str, ...]
    #: (where it comes from, its values), in helm's order.
    layers: tuple[tuple[str, dict[str, Any]], ...] = ()
    #: Where the wrapper keeps the JupyterHub chart's values (empty: the values are the chart's own).
    keys: tuple[str, ...] = ("jupyterhub",)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A thing the move could not type: its ``feature`` (as the report and docs/api.md name it), the values
    ``path``, and where it went (a hatch's carrier) or which issue owns it (a loss out of this one's scope)."""

    feature: str
    path: str
    carried: str | None = None
    issue: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclasses.dataclass
class ImportedHub:
    cluster: str
    name: str
    namespace: str
    hub_class: str
    manifest: dict[str, Any]
    secrets: list[dict[str, Any]]
    lost: list[Entry]
    hatches: list[Entry]
    notes: list[str]
    #: What the import leaves out on purpose (the operator's defaults, docs/api.md "Meant to differ").
    meant: list[Entry] = dataclasses.field(default_factory=list)

    @property
    def typed(self) -> bool:
        return not self.lost and not self.hatches


@dataclasses.dataclass
class ImportedClass:
    name: str
    manifest: dict[str, Any]
    hubs: list[str]


# ------------------------------------------------------------------------------------------- leaves
Path = tuple[str, ...]


def leaves(values: Mapping[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    """Every leaf of nested maps by path (a list, a scalar or an empty map is a leaf)."""
    out: dict[Path, Any] = {}
    for key, value in values.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            out.update(leaves(value, path))
        else:
            out[path] = value
    return out


def from_leaves(items: Mapping[Path, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in items.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = copy.deepcopy(value)
    return out


def delta(effective: Mapping[str, Any], base: Mapping[str, Any]) -> dict[Path, Any]:
    """The leaves of ``effective`` that ``base`` does not already give."""
    have = leaves(base)
    return {p: v for p, v in leaves(effective).items() if p not in have or have[p] != v}


def _dotted(path: Path) -> str:
    return ".".join(path)


def _under(path: Path, prefix: Path) -> bool:
    return path[:len(prefix)] == prefix


# ------------------------------------------------------------------------------------------ classes
def _class_name(cluster: str, chart: str, shared: Sequence[str]) -> str:
    stems = [re.sub(r"(\.values)?\.(ya?ml|jsonnet)$", "", f) for f in shared]
    raw = "-".join([cluster, chart, *stems]).lower()
    return re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")[:253]


def _shared_files(hubs: Sequence[Source]) -> dict[str, set[str]]:
    """Per hub: the readable values files it shares with another hub of its cluster."""
    counts: dict[str, int] = {}
    for hub in hubs:
        for name, _ in hub.layers:
            counts[name] = counts.get(name, 0) + 1
    return {hub.name: {name for name, _ in hub.layers if "/" not in name and counts[name] > 1} for hub in hubs}


def _class_layers(hubs: Sequence[Source], shared: Mapping[str, set[str]]) -> dict[str, Any]:
    """The wrapper chart values the hubs of one class share: the chart's own files, the part of the jsonnet
    that is the same for each of them, and their shared files, in helm's order."""
    first = hubs[0]
    jsonnet = [dict(h.layers).get(f"{first.chart}/values.jsonnet") or {} for h in hubs]
    common = leaves(jsonnet[0])
    for other in jsonnet[1:]:
        theirs = leaves(other)
        common = {p: v for p, v in common.items() if p in theirs and theirs[p] == v}
    out: list[dict[str, Any]] = []
    for name, values in first.layers:
        if name.endswith("/values.jsonnet"):
            out.append(from_leaves(common))
        elif "/" in name or name in shared[first.name]:
            out.append(values)
    return stack.merged(out)


# -------------------------------------------------------------------------------------- translators
@dataclasses.dataclass
class Reading:
    """The effective JupyterHub chart values of one hub, and the paths translators took from them."""

    values: dict[str, Any]
    taken: set[Path] = dataclasses.field(default_factory=set)
    lost: list[Entry] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    meant: list[Entry] = dataclasses.field(default_factory=list)
    #: Whether the hub's builder (the wrapper's binderhub-service) became its spec.binder.
    builds: bool = False
    #: Whether the hub runs no builder at all (binderhub-service off for it).
    no_builder: bool = False

    def get(self, *path: str, take: bool = True) -> Any:
        node: Any = self.values
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]
        if take:
            self.taken.add(tuple(path))
        return node

    def lose(self, feature: str, path: str, issue: int | None = None) -> None:
        self.lost.append(Entry(feature, path, issue=issue))


AUTH_CLASSES = {"github": "github", "cilogon": "cilogon", "generic-oauth": "oauth2", "google": "google",
                "shared-password": "sharedPassword",
                "jupyterhub.authenticators.shared.SharedPasswordAuthenticator": "sharedPassword",
                "oauthenticator.github.GitHubOAuthenticator": "github",
                "oauthenticator.cilogon.CILogonOAuthenticator": "cilogon",
                "oauthenticator.generic.GenericOAuthenticator": "oauth2"}
CONFIG_KEYS = {"github": "GitHubOAuthenticator", "cilogon": "CILogonOAuthenticator",
               "oauth2": "GenericOAuthenticator", "google": "GoogleOAuthenticator"}
#: Authenticator settings the operator renders the same way for every hub, or the chart wires itself.
AUTH_RENDERED = {"oauth_callback_url", "client_id", "client_secret", "admin_users", "allowed_users",
                 "enable_auth_state", "manage_groups", "auth_refresh_age"}


def _github(r: Reading, conf: Mapping[str, Any]) -> dict[str, Any]:
    scopes = [x for x in conf.get("scope") or [] if x != "read:org"]
    out = _github_orgs(r, conf)
    return {**out, "scopes": scopes} if scopes else out


def _github_orgs(r: Reading, conf: Mapping[str, Any]) -> dict[str, Any]:
    orgs: dict[str, list[str]] = {}
    for entry in conf.get("allowed_organizations") or []:
        org, _, team = str(entry).partition(":")
        orgs.setdefault(org, [])
        if team:
            orgs[org].append(team)
    if not orgs:  # only the class's staff teams and the users the hub names
        if conf.get("allow_all") or r.get("hub", "config", "Authenticator", "allow_all", take=False):
            r.lose("GitHub login for every GitHub user (allow_all)", "hub.config.GitHubOAuthenticator.allow_all")
        return {}
    if len(orgs) == 1:
        (org, teams), = orgs.items()
        return {"organization": org, **({"teams": teams} if teams else {})}
    return {"organizations": [{"name": o, **({"teams": t} if t else {})} for o, t in orgs.items()]}


USERNAME_CLAIMS = ("email", "eppn", "sub", "oidc", "preferred_username")


def _cilogon(r: Reading, conf: Mapping[str, Any]) -> dict[str, Any]:
    idps = []
    for entity, idp in (conf.get("allowed_idps") or {}).items():
        derivation = idp.get("username_derivation") or {}
        claim = derivation.get("username_claim", "email")
        if claim not in USERNAME_CLAIMS:
            r.lose("identity details (a CILogon username claim of another name)",
                   f"hub.config.CILogonOAuthenticator.allowed_idps.{entity}.username_derivation.username_claim")
            claim = "email"
        entry: dict[str, Any] = {"entityId": entity, "usernameClaim": claim}
        if idp.get("allowed_domains"):
            entry["allowedDomains"] = list(idp["allowed_domains"])
        if idp.get("allow_all"):
            entry["allowAll"] = True
        if idp.get("default"):
            entry["default"] = True
        for key in sorted(set(derivation) - {"username_claim"}):
            r.lose("CILogon username prefix and default IdP",
                   f"hub.config.CILogonOAuthenticator.allowed_idps.{entity}.username_derivation.{key}")
        for key in sorted(set(idp) - {"username_derivation", "allowed_domains", "allow_all", "default"}):
            r.lose("CILogon identity provider settings",
                   f"hub.config.CILogonOAuthenticator.allowed_idps.{entity}.{key}")
        idps.append(entry)
    out: dict[str, Any] = {"allowedIdps": idps}
    if conf.get("admin_groups"):
        out["adminGroups"] = list(conf["admin_groups"])
    return out


def _oauth2(r: Reading, conf: Mapping[str, Any]) -> dict[str, Any]:
    urls = (("authorizeUrl", "authorize_url"), ("tokenUrl", "token_url"),
            *(() if conf.get("userdata_from_id_token") else (("userdataUrl", "userdata_url"),)))
    out: dict[str, Any] = {key: conf.get(src) or f"https://FILL-ME/{src}" for key, src in urls}
    if conf.get("userdata_from_id_token"):
        out["userdataFromIdToken"] = True
    state_key = str(conf.get("auth_state_groups_key") or "")
    if state_key.startswith("oauth_user.") and not conf.get("claim_groups_key"):
        out["groupsKey"] = state_key.removeprefix("oauth_user.")
    out.update(_copied(conf, {"username_claim": "usernameKey", "scope": "scopes", "login_service": "loginService",
                              "claim_groups_key": "groupsKey", "allowed_groups": "allowedGroups",
                              "admin_groups": "adminGroups"}))
    return out


def _copied(source: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """The ``fields`` of ``source`` that are set, under the API's names (lists copied)."""
    return {name: list(source[key]) if isinstance(source[key], list) else source[key]
            for key, name in fields.items() if source.get(key)}


AUTH_READERS: dict[str, tuple[Callable[[Reading, Mapping[str, Any]], dict[str, Any]], set[str]]] = {
    "github": (_github, {"allowed_organizations", "scope", "populate_teams_in_auth_state"}),
    "cilogon": (_cilogon, {"allowed_idps", "admin_groups"}),
    "oauth2": (_oauth2, {"authorize_url", "token_url", "userdata_url", "username_claim", "scope",
                         "login_service", "claim_groups_key", "allowed_groups", "admin_groups",
                         "userdata_from_id_token", "auth_state_groups_key"}),
}


def _auth(r: Reading, secret: str) -> dict[str, Any]:
    chosen = r.get("hub", "config", "JupyterHub", "authenticator_class")
    provider = AUTH_CLASSES.get(str(chosen))
    if provider == "sharedPassword":
        return _shared_password(r, secret)
    if provider is None or provider not in AUTH_READERS:
        binder = chosen in (None, "null")
        r.lose("no login (a Binder hub)" if binder else f"login through {chosen}",
               "hub.config.JupyterHub.authenticator_class", issue=33 if binder else None)
        return {"provider": "temporary"}
    reader, keys = AUTH_READERS[provider]
    key = CONFIG_KEYS[provider]
    conf = r.get("hub", "config", key, take=False) or {}
    for name in conf:
        if name in keys or name in AUTH_RENDERED:
            r.taken.add(("hub", "config", key, name))
    r.taken.add(("hub", "config", "OAuthenticator", "oauth_callback_url"))
    auth: dict[str, Any] = {"provider": provider, provider: reader(r, conf), "clientSecretRef": {"name": secret}}
    allowed = r.get("hub", "config", "Authenticator", "allowed_users") or []
    if allowed:
        auth["allowedUsers"] = sorted(allowed)
    # The operator renders Authenticator.enable_auth_state (passTokens, keepTokens), over the class's: a hub that
    # keeps its users' tokens says so. A provider's own section (GitHubOAuthenticator's, say) stays the class's.
    if r.get("hub", "config", "Authenticator", "enable_auth_state") is True:
        auth["keepTokens"] = True
    return auth


#: What a shared-password hub's own files set that the operator renders for that provider (everyone with the
#: password, unless users are named; groups not managed; no tokens to keep), or that has no meaning without OAuth.
SHARED_PASSWORD_RENDERED = {("Authenticator", "allow_all"), ("Authenticator", "manage_groups"),
                            ("Authenticator", "enable_auth_state"), ("OAuthenticator", "oauth_callback_url"),
                            ("SharedPasswordAuthenticator", "allow_all"),
                            ("SharedPasswordAuthenticator", "manage_groups")}


def _shared_password(r: Reading, secret: str) -> dict[str, Any]:
    """A workshop's shared password: the passwords themselves are in the hub's encrypted files, so they become
    the placeholder Secret's keys (userPassword, adminPassword)."""
    for section, key in SHARED_PASSWORD_RENDERED:
        if r.get("hub", "config", section, key, take=False) is not None:
            r.taken.add(("hub", "config", section, key))
    auth: dict[str, Any] = {"provider": "sharedPassword", "sharedPassword": {"secretRef": {"name": secret}}}
    allowed = r.get("hub", "config", "Authenticator", "allowed_users") or []
    if allowed:
        auth["allowedUsers"] = sorted(allowed)
    return auth


def _branding(r: Reading, path: Path) -> dict[str, Any] | None:
    tv = r.get(*path, take=False) or {}
    org, funded = tv.get("org") or {}, tv.get("funded_by") or {}
    out = {k: v for k, v in (("orgName", org.get("name")), ("orgUrl", org.get("url")),
                             ("logoUrl", org.get("logo_url")), ("fundedByName", funded.get("name")),
                             ("fundedByUrl", funded.get("url"))) if v}
    for group, keys in (("org", ("name", "url", "logo_url")), ("funded_by", ("name", "url"))):
        for key in keys:
            if (tv.get(group) or {}).get(key):
                r.taken.add((*path, group, key))
    if "logoUrl" in out and not str(out["logoUrl"]).startswith("https://"):
        r.lose("a logo over http (the page would load it without TLS)", _dotted((*path, "org", "logo_url")))
        out.pop("logoUrl")
    learn_more = tv.get("learn_more")
    if isinstance(learn_more, str) and learn_more.strip():
        r.taken.add((*path, "learn_more"))
        if re.fullmatch(LEARN_MORE, learn_more) and len(learn_more) <= 4000:
            out["learnMore"] = learn_more
        else:
            r.lose("a learn-more paragraph with markup other than links and inline tags",
                   _dotted((*path, "learn_more")))
    return out or None


#: Where the fleet's wrapper chart names the home page its hub shows (a branch of its home page repository).
WRAPPER_HOME_PAGE: Path = ("custom", "homepage", "gitRepoBranch")


def _home_page(r: Reading, own: Mapping[Path, Any]) -> str | None:
    """The home page a hub's own files pick (branding.homePage; the class offers it)."""
    page = own.get(WRAPPER_HOME_PAGE)
    if isinstance(page, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", page) and len(page) <= 100:
        r.taken.add(WRAPPER_HOME_PAGE)
        return page
    return None


def _image(r: Reading, where: Path) -> str | None:
    image = r.get(*where, take=False) or {}
    if not image.get("name"):
        return None
    r.taken.update({(*where, "name"), (*where, "tag")})
    return f"{image['name']}:{image['tag']}" if image.get("tag") else str(image["name"])


HOME_DIRECTORIES = {"{username}": "username", "{escaped_username}": "escapedUsername"}


def _shared_directories(r: Reading, own: Mapping[Path, Any]) -> list[dict[str, Any]]:
    """A hub's own keyed mounts of a directory of the shared home (``_<name>``) as shared directories for
    everyone."""
    mounts = from_leaves({p[3:]: v for p, v in own.items() if p[:3] == ("singleuser", "storage", "extraVolumeMounts")})
    out = []
    for key, mount in mounts.items():
        sub = str(mount.get("subPath") or "") if isinstance(mount, dict) else ""
        if set(mount) <= {"name", "mountPath", "subPath", "readOnly"} and mount.get("name") == render.HOME_VOLUME \
                and re.fullmatch(r"_[a-z0-9]([-a-z0-9]*[a-z0-9])?", sub) and mount.get("mountPath"):
            out.append({"name": sub[1:], "mountPath": mount["mountPath"], "readOnly": bool(mount.get("readOnly"))})
            r.taken.add(("singleuser", "storage", "extraVolumeMounts", key))
    return out


def _storage(r: Reading, own: Mapping[Path, Any]) -> dict[str, Any]:
    kind = r.get("singleuser", "storage", "type")
    if kind == "none":
        return {"type": "none"}
    if kind == "static":
        sub = r.get("singleuser", "storage", "static", "subPath")
        claim = r.get("singleuser", "storage", "static", "pvcName")
        if claim != render.SHARED_CLAIM:
            r.lose("homes on a claim of another name", "singleuser.storage.static.pvcName")
        if sub not in HOME_DIRECTORIES:
            r.lose("home directories named otherwise", "singleuser.storage.static.subPath")
        shared = _shared_directories(r, own)
        tmp = _tmp_size(r, own)
        return {"type": "sharedNFS", "homeDirectory": HOME_DIRECTORIES.get(str(sub), "escapedUsername"),
                **({"sharedDirectories": shared} if shared else {}), **({"tmpSize": tmp} if tmp else {})}
    tmp = _tmp_size(r, own)
    return {"type": "perUserVolume", **({"tmpSize": tmp} if tmp else {})}


def _tmp_size(r: Reading, own: Mapping[Path, Any]) -> str | None:
    """A hub's own /tmp on the node's disk (a keyed emptyDir with a size, mounted there and nowhere else) as
    storage.tmpSize."""
    where = ("singleuser", "storage")
    mounts = from_leaves({p[3:]: v for p, v in own.items() if p[:3] == (*where, "extraVolumeMounts")})
    volumes = from_leaves({p[3:]: v for p, v in own.items() if p[:3] == (*where, "extraVolumes")})
    for key, mount in mounts.items():
        if not (isinstance(mount, dict) and set(mount) == {"name", "mountPath"} and mount["mountPath"] == "/tmp"):
            continue
        for vkey, volume in volumes.items():
            empty = volume.get("emptyDir") if isinstance(volume, dict) else None
            if volume.get("name") == mount["name"] and set(volume) == {"name", "emptyDir"} and \
                    isinstance(empty, dict) and set(empty) == {"sizeLimit"} and \
                    re.fullmatch(MEMORY_QUANTITY, str(empty["sizeLimit"])) and \
                    sum(1 for m in mounts.values() if isinstance(m, dict) and m.get("name") == mount["name"]) == 1:
                r.taken.update({(*where, "extraVolumeMounts", key), (*where, "extraVolumes", vkey)})
                return str(empty["sizeLimit"])
    return None


def _cpu(value: Any) -> float | None:
    if value is None:
        return None
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _memory(value: Any) -> str | None:
    """A KubeSpawner memory (K/M/G/T binary, as JupyterHub reads them; or bytes) as a Kubernetes quantity the
    operator renders back the same (render.spawner_memory)."""
    if value is None:
        return None
    text = str(value).strip()
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([KMGT])", text)
    if m:
        return f"{m.group(1)}{m.group(2)}"
    return text


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:60] or "profile"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base[:57]}-{n}", n + 1
    taken.add(slug)
    return slug


#: KubeSpawner overrides a Profile types, each to its field.
PROFILE_OVERRIDES = {"cpu_guarantee", "cpu_limit", "mem_guarantee", "mem_limit", "image", "node_selector",
                     "default_url", "extra_resource_limits", "extra_resource_guarantees", "environment",
                     "working_dir"}


@dataclasses.dataclass
class Catalog:
    """The node pools and images a class must list for its hubs' profiles."""

    node_pools: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    images: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def pool(self, selector: Mapping[str, str], size: tuple[float, float], gpus: int = 0) -> str:
        """The pool of nodes ``selector`` picks, at least as large as what is guaranteed on it (the values
        do not say a node's allocatable: the class's figures are a floor to check)."""
        for name, pool in self.node_pools.items():
            if pool["nodeSelector"] == dict(selector):
                pool["cpu"] = max(pool["cpu"], size[0])
                pool["memoryBytes"] = max(pool["memoryBytes"], size[1])
                pool["gpus"] = max(pool["gpus"], gpus)
                return name
        machine = selector.get("node.kubernetes.io/instance-type") or "-".join(selector.values())
        name = _slug(machine, set(self.node_pools))
        self.node_pools[name] = {"name": name, "machineType": machine, "nodeSelector": dict(selector),
                                 "cpu": size[0], "memoryBytes": size[1], "gpus": gpus}
        return name

    def image(self, reference: str, description: str | None, settings: Mapping[str, Any] | None = None) -> str:
        wanted = {"reference": reference, **({"description": description[:200]} if description else {}),
                  **(settings or {})}
        for name, image in self.images.items():
            if {k: v for k, v in image.items() if k != "name"} == wanted:
                return name
        stem = reference.rsplit("/", 1)[-1]
        name = _slug(stem.replace(":", "-").replace(".", "-"), set(self.images))
        self.images[name] = {"name": name, **wanted}
        return name


def _bytes(quantity: str | None) -> float:
    if not quantity:
        return 0.0
    m = re.fullmatch(r"([0-9.]+)([KMGT]i?|k)?", quantity)
    if not m:
        return 0.0
    unit = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
            "k": 1e3, None: 1}[m.group(2)]
    return float(m.group(1)) * unit


def _hub_wide(r: Reading) -> dict[str, Any]:
    """The hub-wide server size (singleuser.cpu/memory) as KubeSpawner overrides: what a profile without its
    own falls back to."""
    memory = r.get("singleuser", "memory", take=False) or {}
    cpu = r.get("singleuser", "cpu", take=False) or {}
    return {"mem_guarantee": memory.get("guarantee"), "mem_limit": memory.get("limit"),
            "cpu_guarantee": cpu.get("guarantee"), "cpu_limit": cpu.get("limit")}


def _sizing(r: Reading, override: Mapping[str, Any], where: str, catalog: Catalog,
            under: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A profile's or a size's resources as the API's fields: KubeSpawner's ``override`` over what it falls back
    to (``under``: the profile's own overrides and the hub-wide size). A limit set to None, or none at all, is no
    limit."""
    merged = {**(under or {}), **{k: v for k, v in override.items() if k in SIZE_KEYS}}
    out: dict[str, Any] = {}
    unlimited = []
    cpu, cpu_limit = _cpu(merged.get("cpu_guarantee")), _cpu(merged.get("cpu_limit"))
    if cpu is not None:
        out["cpu"] = cpu
        if cpu_limit is None:  # KubeSpawner sets no limit: the server bursts to what its node has free
            unlimited.append("cpu")
    if cpu_limit is not None and cpu_limit != cpu:
        if cpu is None:
            out["cpu"] = cpu_limit
            r.lose("a CPU limit without a guarantee", f"{where}.cpu_limit")
        else:
            out["cpuLimit"] = cpu_limit
    memory, memory_limit = _memory(merged.get("mem_guarantee")), _memory(merged.get("mem_limit"))
    if memory is None and memory_limit is None:
        r.lose("a profile without a memory guarantee", f"{where}.mem_guarantee")
        memory = "1G"
    if memory is None:
        r.lose("a memory limit without a guarantee", f"{where}.mem_limit")
    out["memory"] = memory or memory_limit
    if memory_limit is not None and memory_limit != out["memory"]:
        out["memoryLimit"] = memory_limit
    if memory is not None and memory_limit is None:
        unlimited.append("memory")
    if unlimited:
        out["unlimited"] = unlimited
    gpus = (merged.get("extra_resource_limits") or {}).get("nvidia.com/gpu")
    if gpus:
        out["gpu"] = int(gpus)
    for key in sorted(set(merged.get("extra_resource_limits") or {}) - {"nvidia.com/gpu"}):
        r.lose(f"extra resource {key}", f"{where}.extra_resource_limits")
    if override.get("node_selector"):
        out["nodePool"] = catalog.pool(override["node_selector"], (out.get("cpu", 0.0), _bytes(out["memory"])),
                                       out.get("gpu", 0))
    if override.get("environment"):
        env = dict(override["environment"])
        if all(isinstance(v, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k) and
               not k.startswith(("JUPYTERHUB_", "JPY_")) for k, v in env.items()):
            out["env"] = env
        else:
            r.lose("per-profile environment variables that are not plain strings", f"{where}.environment")
    return out


SIZE_KEYS = {"cpu_guarantee", "cpu_limit", "mem_guarantee", "mem_limit", "node_selector", "extra_resource_limits",
             "default", "environment"}
IMAGE_KEYS = {"image": None, "default_url": "defaultUrl", "working_dir": "workingDir",
              "image_pull_policy": "pullPolicy", "init_containers": "initContainers"}


def _profiles(r: Reading, catalog: Catalog) -> list[dict[str, Any]]:
    source = r.get("singleuser", "profileList") or []
    hub_wide = _hub_wide(r)
    names: set[str] = set()
    out = []
    for i, entry in enumerate(source):
        where = f"singleuser.profileList[{i}]"
        override = dict(entry.get("kubespawner_override") or {})
        profile: dict[str, Any] = {"name": _slug(str(entry.get("slug") or entry.get("display_name") or "profile"),
                                                 names)}
        if entry.get("display_name"):
            profile["displayName"] = str(entry["display_name"])[:100]
        under = {**hub_wide, **{k: v for k, v in override.items() if k in SIZE_KEYS}}
        for key, option in (entry.get("profile_options") or {}).items():
            _option(r, profile, key, option, catalog, f"{where}.profile_options.{key}", under)
        profile.update(_sizing(r, override, f"{where}.kubespawner_override", catalog, hub_wide))
        sizes = profile.get("sizes") or []
        first = next((s for s in sizes if s.get("default")), sizes[0] if sizes else None)
        if first is not None:  # the profile is what its default size makes it
            for key in ("cpu", "cpuLimit", "memoryLimit", "unlimited"):
                profile.pop(key, None)
            profile.update({k: v for k, v in first.items() if k in ("cpu", "cpuLimit", "memory", "memoryLimit",
                                                                    "unlimited")})
        profile.update(_copied(override, {"image": "image", "default_url": "defaultUrl", "working_dir": "workingDir"}))
        for key in sorted(set(override) - PROFILE_OVERRIDES):
            r.lose(_override_feature(key), f"{where}.kubespawner_override.{key}")
        if entry.get("allowed_groups"):
            profile["allowedGroups"] = list(entry["allowed_groups"])
        if entry.get("default"):
            profile["default"] = True
        for key in sorted(set(entry) - {"display_name", "slug", "description", "kubespawner_override",
                                        "profile_options", "allowed_groups", "default"}):
            r.lose(f"profile setting {key}", f"{where}.{key}")
        out.append(profile)
    return out


OVERRIDE_FEATURES = {"image_pull_policy": "imagePullPolicy", "environment": "per-profile environment variables",
                     "init_containers": "per-image settings inside an image choice (init/content)",
                     "working_dir": "per-image settings inside an image choice (working_dir)",
                     "tolerations": "tolerations of a profile's pool", "cmd": "a profile's own command",
                     "volume_mounts": "a profile's own mounts", "volumes": "a profile's own mounts",
                     "extra_pod_config": "a profile's own pod settings"}


def _override_feature(key: str) -> str:
    return OVERRIDE_FEATURES.get(key, f"KubeSpawner setting {key} in a profile")


def _option(r: Reading, profile: dict[str, Any], key: str, option: Mapping[str, Any], catalog: Catalog,
            where: str, under: Mapping[str, Any]) -> None:
    """One of a profile's options: image choices (with each image's own settings) or sizes."""
    choices = option.get("choices") or {}
    overrides = {c: dict(choice.get("kubespawner_override") or {}) for c, choice in choices.items()}
    label = str(option.get("display_name") or key)[:100]
    if (option.get("dynamic_image_building") or {}).get("enabled"):
        if r.builds:
            profile["imageBuilding"] = True
        elif r.no_builder:
            # The choice shows, and nothing builds: the hub runs no binderhub-service (the spawn form's build
            # request has no service to go to). What users can do is the same without it.
            r.meant.append(Entry(NO_BUILDER_MEANT, f"{where}.dynamic_image_building"))
        else:
            r.lose("image building and BinderHub (binderhub-service)", f"{where}.dynamic_image_building", issue=33)
    unlisted_only = not overrides and (option.get("unlisted_choice") or {}).get("enabled")
    if (unlisted_only or (overrides and all("image" in o and set(o) <= set(IMAGE_KEYS) for o in overrides.values()))) \
            and "imageChoices" not in profile and "image" not in profile:
        chosen = sorted(choices, key=lambda c: not choices[c].get("default"))
        profile["imageChoices"] = [catalog.image(str(overrides[c]["image"]), choices[c].get("display_name"),
                                                 {IMAGE_KEYS[k]: v for k, v in overrides[c].items() if k != "image"})
                                   for c in chosen]
        if not profile["imageChoices"]:
            profile.pop("imageChoices")
        profile["imageLabel"] = label
        unlisted = option.get("unlisted_choice") or {}
        if unlisted.get("enabled"):
            profile["unlistedImage"] = True
            if unlisted.get("allowed_groups"):
                r.lose("a free image choice for some groups", f"{where}.unlisted_choice.allowed_groups")
        for c, choice in choices.items():
            if choice.get("allowed_groups"):
                r.lose("image choices for some groups", f"{where}.choices.{c}.allowed_groups")
        return
    if overrides and all(set(o) <= SIZE_KEYS for o in overrides.values()) and "sizes" not in profile:
        names: set[str] = set()
        sizes = []
        for c, choice in choices.items():
            size = {"name": _slug(c, names), **({"displayName": str(choice["display_name"])[:200]}
                                                 if choice.get("display_name") else {}),
                    **_sizing(r, overrides[c], f"{where}.choices.{c}.kubespawner_override", catalog, under)}
            if choice.get("default"):
                size["default"] = True
            if choice.get("allowed_groups"):
                size["allowedGroups"] = list(choice["allowed_groups"])
            for extra in sorted(set(choice) - {"display_name", "description", "kubespawner_override", "default",
                                               "allowed_groups", "slug"}):
                r.lose(f"size setting {extra}", f"{where}.choices.{c}.{extra}")
            sizes.append(size)
        profile["sizes"] = sizes
        profile["sizesLabel"] = label
        return
    if overrides and all("image" in o for o in overrides.values()):
        extra = sorted({k for o in overrides.values() for k in o} - set(IMAGE_KEYS))
        for k in extra:
            r.lose(_override_feature(k) if k in OVERRIDE_FEATURES else
                   f"per-image settings inside an image choice ({k})", f"{where}.choices")
    else:
        r.lose("resource and image choices mixed in one option", where)


def _resources(r: Reading, catalog: Catalog) -> dict[str, Any] | None:
    """singleuser.cpu/memory of a hub without profiles, as environment.resources."""
    hub_wide = _hub_wide(r)
    if not hub_wide["mem_guarantee"] and not hub_wide["mem_limit"]:
        return None
    r.taken.update({("singleuser", "memory", "guarantee"), ("singleuser", "memory", "limit"),
                    ("singleuser", "cpu", "guarantee"), ("singleuser", "cpu", "limit")})
    out = _sizing(r, {}, "singleuser", catalog, hub_wide)
    return {k: v for k, v in out.items() if k in ("cpu", "cpuLimit", "memory", "memoryLimit", "unlimited")}


#: The chart's keys of one extraFiles entry, which environment.files spells the same.
FILE_KEYS = frozenset({"mountPath", "data", "stringData", "mode"})


def _files(r: Reading, own: Mapping[Path, Any]) -> list[dict[str, Any]]:
    """The hub's own singleuser.extraFiles as environment.files (a file of the class stays the class's)."""
    prefix = ("singleuser", "extraFiles")
    keys = sorted({path[2] for path in own if len(path) > 2 and path[:2] == prefix})
    out = []
    for key in keys:
        entry = r.get(*prefix, key, take=False) or {}
        if not re.match(DNS_LABEL, key) or not isinstance(entry, Mapping) or set(entry) - FILE_KEYS or \
                ("data" in entry) == ("stringData" in entry) or not isinstance(entry.get("mountPath"), str):
            continue  # not one file of the typed shape: it stays a hatch
        out.append({"name": key, **copy.deepcopy(dict(entry))})
        r.taken.update(path for path in own if path[:3] == (*prefix, key))
    return out


def _env(r: Reading, own: Mapping[Path, Any]) -> dict[str, str]:
    out = {}
    for path, value in own.items():
        if len(path) == 3 and path[:2] == ("singleuser", "extraEnv") and isinstance(value, str) and \
                re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", path[2]) and not path[2].startswith(("JUPYTERHUB_", "JPY_")):
            out[path[2]] = value
            r.taken.add(path)
    return out


# --------------------------------------------------------------------------------------- the wrapper
#: The wrapper chart's other components, and what a move means for them.
COMPONENTS: dict[str, tuple[str, int | None]] = {
    "jupyterhub-home-nfs": ("per-user home quota on a shared home (jupyterhub-home-nfs)", 32),
    "binderhub-service": ("image building and BinderHub (binderhub-service)", 33),
    "nfs": ("the existing home share (the wrapper chart's NFS volume)", None),
}


# ------------------------------------------------------------------------------------------ home server
HOME_NFS = "jupyterhub-home-nfs"
#: What the operator renders in a home server's values itself (delivery/homes.py), or takes from the CommunityHub.
HOME_OWNED: tuple[Path, ...] = (
    ("enabled",), ("fullnameOverride",), ("nameOverride",), ("persistentVolume", "size"),
    ("persistentVolume", "storageClass"), ("quotaEnforcer", "enabled"),
    *(("quotaEnforcer", "config", "QuotaManager", key) for key in (
        "paths", "projects_file", "projid_file", "hard_quota", "quota_overrides", "exclude")),
    *((cloud, "volumeId") for cloud in ("eks", "gke", "openstack")),
)
#: Settings the fleet gives its home servers that no template of the pinned chart reads (test_import checks it
#: against the chart): they change nothing, and are left out as meant.
HOME_INERT: tuple[Path, ...] = (("nfsServer", "qos"), ("prometheusExporter",))
SHARED_DISK = "a home disk shared with another hub"
HOME_RESOURCES_MEANT = "the home server's resources (the largest of its class's hubs)"
HOME_INERT_MEANT = "home server settings the pinned jupyterhub-home-nfs chart does not read"


@dataclasses.dataclass
class HomeServers:
    """What a class's hubs' home servers (the wrapper's jupyterhub-home-nfs) become: the class's homeServer, and
    per hub its quota, its disk (placement.homeDisk), and what could not be typed."""

    home_server: dict[str, Any] | None
    quotas: dict[str, dict[str, Any]]
    disks: dict[str, str]
    lost: dict[str, list[Entry]]
    meant: dict[str, list[Entry]]


def _quantity_max(a: Any, b: Any) -> Any:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return max(a, b)
    try:
        return a if parse_memory(str(a)) >= parse_memory(str(b)) else b
    except ValueError:
        return a


def _gib_text(value: Any) -> str:
    return f"{float(value):g}Gi"


def _parts(hub: Source, wrapper: dict[str, Any] | None = None) -> dict[str, Any]:
    """The wrapper chart's values beside JupyterHub's (its other parts: binderhub-service, jupyterhub-home-nfs,
    nfs): the top level for basehub, ``basehub`` for a chart that wraps it (daskhub)."""
    merged = wrapper if wrapper is not None else stack.merged(v for _, v in hub.layers)
    return stack.under(merged, hub.keys[:-1]) if hub.keys else {}


def _home_servers(members: Sequence[Source], taken_disks: dict[str, str]) -> HomeServers:
    """The class's home server from its hubs' (see HomeServers); ``taken_disks`` (disk -> hub) spans the cluster:
    one disk holds one hub's homes under the operator (each hub's server exports its whole disk)."""
    out = HomeServers(None, {}, {}, {}, {})
    servers = {}
    for hub in members:
        parts = _parts(hub)
        values = parts.get(HOME_NFS) or {}
        if values.get("enabled"):
            servers[hub.name] = (values, parts.get("nfs") or {})
    if not servers:
        return out
    merged: dict[Path, Any] = {}
    shares = set()
    for name, (values, nfs) in servers.items():
        lost, meant = out.lost.setdefault(name, []), out.meant.setdefault(name, [])
        manager = ((values.get("quotaEnforcer") or {}).get("config") or {}).get("QuotaManager") or {}
        paths = manager.get("paths") or []
        share = paths[0].removeprefix("/export/") if len(paths) == 1 and paths[0].startswith("/export/") else None
        pv = nfs.get("pv") or {}
        exported = f"{pv.get('baseShareName', '/')}{pv.get('shareNameOverride') or name}".strip("/")
        if share is None or share != exported:
            lost.append(Entry("homes outside the home server's share directory",
                              f"{HOME_NFS}.quotaEnforcer.config.QuotaManager.paths"))
        else:
            shares.add("{hub.name}" if share == name else share)
        if manager.get("quota_overrides") or manager.get("exclude"):
            lost.append(Entry("home quota exceptions by directory name", f"{HOME_NFS}.quotaEnforcer.config"))
        out.quotas[name] = {"perUser": _gib_text(manager.get("hard_quota", 10))}
        disk = next((values[c]["volumeId"] for c in ("eks", "gke", "openstack")
                     if (values.get(c) or {}).get("enabled") and (values.get(c) or {}).get("volumeId")), None)
        if disk is not None and disk in taken_disks:
            lost.append(Entry(SHARED_DISK, f"{HOME_NFS}.volumeId (also {taken_disks[disk]}'s)"))
            out.disks[name] = FILL_ME
        elif disk is not None:
            taken_disks[disk] = name
            out.disks[name] = disk
        for path, value in leaves(values).items():
            if any(_under(path, p) for p in HOME_OWNED):
                continue
            if any(_under(path, p) for p in HOME_INERT):
                meant.append(Entry(HOME_INERT_MEANT, f"{HOME_NFS}.{_dotted(path)}"))
                continue
            if path not in merged:
                merged[path] = value
            elif "resources" in path:
                merged[path] = _quantity_max(merged[path], value)
            elif merged[path] != value:
                lost.append(Entry("home server settings of its own", f"{HOME_NFS}.{_dotted(path)}"))
    for name, (values, _) in servers.items():
        own = {p: v for p, v in leaves(values).items() if "resources" in p}
        if any(merged.get(p) != v for p, v in own.items()) or any(
                "resources" in p and p not in own for p in merged):
            out.meant[name].append(Entry(HOME_RESOURCES_MEANT, f"{HOME_NFS}.*.resources"))
    home: dict[str, Any] = {"values": from_leaves(merged)}
    if len(shares) == 1:
        home["shareDirectory"] = shares.pop()
    elif shares:  # the hubs' shares follow no one rule of their names
        for name in servers:
            out.lost[name].append(Entry("homes outside the home server's share directory",
                                        f"{HOME_NFS}.quotaEnforcer.config.QuotaManager.paths"))
    options = {tuple((s[1].get("pv") or {}).get("mountOptions") or ()) for s in servers.values()}
    if len(options) == 1 and (only := options.pop()):
        home["mountOptions"] = list(only)
    out.home_server = home
    return out


# ---------------------------------------------------------------------------------------------- builders
BINDER = "binderhub-service"
#: What the operator renders in a builder's values itself (delivery/binder.py: names, the hub it serves, where it
#: is reached, the registry and its login, the pool), or takes from the CommunityHub (allowed repositories).
BINDER_OWNED: tuple[Path, ...] = (
    ("enabled",), ("fullnameOverride",), ("nameOverride",), ("networkPolicy",), ("rbac",), ("serviceAccount",),
    ("ingress",), ("service",), ("nodeSelector",), ("extraEnv",), ("buildPodsRegistryCredentials",),
    ("config", "DockerRegistry"), ("config", "GitHubRepoProvider", "allowed_specs"),
    *(("config", "BinderHub", key) for key in ("base_url", "use_registry", "auth_enabled", "enable_api_only_mode",
                                               "image_prefix", "hub_url", "port")),
    ("config", "KubernetesBuildExecutor", "node_selector"), ("dockerApi", "nodeSelector"), ("dockerApi", "tolerations"),
)
#: The Secret the class names for its builders' registry login (the deployer keeps it in encrypted files).
BINDER_LOGIN = "binder-registry-login"
BINDER_PREFIX_MEANT = "built images under the operator's image prefix (each repository is built once more)"
BINDER_LANDING = "the Binder page as the hub's landing page"
NO_BUILDER_MEANT = ("the spawn form's build-an-image choice of a hub without a builder (binderhub-service off): "
                    "nothing could build there, and the import offers no such choice")


@dataclasses.dataclass
class Builders:
    """What a class's hubs' builders (the wrapper's binderhub-service) become: the class's binder, and per hub its
    spec.binder, what could not be typed, what is meant to differ, and the move's steps."""

    binder: dict[str, Any] | None
    specs: dict[str, dict[str, Any]]
    lost: dict[str, list[Entry]]
    meant: dict[str, list[Entry]]
    notes: dict[str, list[str]]


def _build_pool(values: Mapping[str, Any], name: str) -> tuple[tuple[tuple[str, str], ...], str] | None:
    """The pool (its labels, the hub's name in them as {hub.name}) and taint the builder's docker API and builds run
    on, when both run on one pool."""
    api = values.get("dockerApi") or {}
    selector = {str(k): str(v) for k, v in (api.get("nodeSelector") or {}).items()}
    builds = dict(((values.get("config") or {}).get("KubernetesBuildExecutor") or {}).get("node_selector") or {})
    if not selector or len(selector) > 5 or (builds and builds != selector):
        return None
    taints = [f"{t.get('key')}={t.get('value', '')}" for t in api.get("tolerations") or []
              if t.get("effect") == "NoSchedule" and t.get("key")]
    taint = next((t for t in taints if t == "hub.jupyter.org/dedicated=user"), taints[0] if taints else None)
    if taint is None:
        return None
    return tuple(sorted((k, _word(name).sub("{hub.name}", v)) for k, v in selector.items())), taint


def _builders(members: Sequence[Source]) -> Builders:
    """The class's builder from its hubs' (see Builders). A Binder hub (its page as the landing page, no login) is
    not one: it stays lost, for its issue."""
    out = Builders(None, {}, {}, {}, {})
    found = {}
    for hub in members:
        values = _parts(hub).get(BINDER) or {}
        if values.get("enabled"):
            found[hub.name] = values
    merged: dict[Path, Any] = {}
    servers, pools, rules = set(), set(), {}
    for name, values in list(found.items()):
        lost = out.lost.setdefault(name, [])
        config = values.get("config") or {}
        page = config.get("BinderHub") or {}
        if page.get("enable_api_only_mode") is False or page.get("auth_enabled") is False:
            lost.append(Entry(BINDER_LANDING, f"{BINDER}.config.BinderHub", issue=33))
            del found[name]
            continue
        pool = _build_pool(values, name)
        if pool is None:
            lost.append(Entry("builds and their docker API on different pools, or on no tainted pool",
                              f"{BINDER}.dockerApi.nodeSelector"))
            del found[name]
            continue
        pools.add(pool)
        servers.add(str((values.get("buildPodsRegistryCredentials") or {}).get("server")
                        or (config.get("DockerRegistry") or {}).get("url") or ""))
        prefix = str(page.get("image_prefix") or "")
        rules[name] = (prefix, _word(name).sub("{hub.name}", prefix))
        allowed = (config.get("GitHubRepoProvider") or {}).get("allowed_specs") or []
        out.specs[name] = {"allowedRepositories": [str(a) for a in allowed]} if allowed else {}
        for path, value in leaves(values).items():
            if any(_under(path, p) for p in BINDER_OWNED):
                continue
            if path not in merged:
                merged[path] = value
            elif merged[path] != value:
                lost.append(Entry("builder settings of its own", f"{BINDER}.{_dotted(path)}"))
    if not found:
        return out
    if len(pools) != 1 or len(servers) != 1 or not next(iter(servers)).startswith("https://"):
        for name in found:
            out.lost[name].append(Entry("builders of one class on different pools or registries",
                                        f"{BINDER}.dockerApi.nodeSelector"))
            out.specs.pop(name, None)
        return out
    placeholders = [rule for _, rule in rules.values() if "{hub.name}" in rule]
    server = next(iter(servers))
    rule = placeholders[0] if placeholders else f"{server.removeprefix('https://').rstrip('/')}/{{hub.name}}-"
    labels, taint = next(iter(pools))
    label = ",".join(f"{k}={v}" for k, v in labels)
    for name, (prefix, _) in rules.items():
        now = rule.replace("{hub.name}", name)
        notes = out.notes.setdefault(name, [])
        if now != prefix:
            out.meant.setdefault(name, []).append(Entry(BINDER_PREFIX_MEANT, f"{BINDER}.config.BinderHub.image_prefix"))
            notes.append(f"built images: pushed under {now} from now on (today {prefix}); each repository is built "
                         f"once more")
        username = (found[name].get("buildPodsRegistryCredentials") or {}).get("username")
        notes.append(f"move step: the registry login{f' ({username})' if username else ''} goes in Secret "
                     f"{BINDER_LOGIN} of the operator's namespace (keys username, password); the hub's build nodes "
                     f"({label.replace('{hub.name}', name)}) carry the NoSchedule taint {taint}")
    out.binder = {"registry": {"server": server, "imagePrefix": rule, "credentialsSecret": BINDER_LOGIN},
                  "buildPool": {"nodeSelector": dict(labels), "taint": taint},
                  **({"values": from_leaves(merged)} if merged else {})}
    return out


#: Parts of the wrapper chart the operator does the work of itself: meant, not lost (docs/api.md, "Meant to differ").
REPLACED = {
    "jupyterhub-groups-exporter": "per-group usage (jupyterhub-groups-exporter): the operator's ledger splits the "
                                  "hub's cost by user and by group (hubctl billing users --by group)",
}

WRAPPER_FEATURES = {
    "userServiceAccount": "users' cloud identity to the hub's existing buckets (the wrapper's user ServiceAccount)",
}


def _word(name: str) -> re.Pattern[str]:
    """The hub's name as a whole word (not inside another: prod is not in production)."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])")


def _user_identity(members: Sequence[Source]) -> dict[str, str]:
    """The cloud identity the wrapper gives each hub's users (its user ServiceAccount's annotations), as one rule
    of the class with ``{hub.name}`` where each hub's name is; empty when the hubs' differ otherwise."""
    rules = []
    for hub in members:
        account = _parts(hub).get("userServiceAccount") or {}
        if not account.get("enabled") or not account.get("annotations"):
            return {}
        rules.append({k: _word(hub.name).sub("{hub.name}", str(v)) for k, v in account["annotations"].items()})
    return rules[0] if all(rule == rules[0] for rule in rules) else {}


def _wrapper(r: Reading, hub: Source, wrapper: Mapping[str, Any], own: Mapping[Path, Any],
             typed: set[str] = frozenset(), home_server: bool = False) -> None:
    """What the hub's wrapper chart runs beside JupyterHub that the CommunityHub does not (nothing, for the
    JupyterHub chart itself). ``home_server``: its home server (and the share it exports) became the class's;
    a hub whose builder became its spec.binder has that part typed too."""
    if r.builds:
        typed = {*typed, BINDER}
    if not hub.keys:
        return
    parts = _parts(hub, wrapper)
    home_nfs = bool((parts.get("jupyterhub-home-nfs") or {}).get("enabled"))
    for key, (feature, issue) in COMPONENTS.items():
        if (home_server and key in (HOME_NFS, "nfs")) or key in typed:
            continue
        component = parts.get(key) or {}
        on = component.get("enabled") if key != "nfs" else (component.get("pv") or {}).get("enabled")
        if on and key == "nfs" and home_nfs:  # the share is the home server's: the quota issue moves it
            r.lose("the home share on the hub's own NFS server (jupyterhub-home-nfs)", "nfs.pv", issue=32)
        elif on:
            r.lose(feature, f"{key}.enabled" if key != "nfs" else "nfs.pv", issue=issue)
    for key, feature in REPLACED.items():
        if (parts.get(key) or {}).get("enabled"):
            r.meant.append(Entry(feature, f"{key}.enabled"))
    if hub.chart == "daskhub" or (wrapper.get("dask-gateway") or {}).get("enabled"):
        r.notes.append("dask-gateway: spec.dask carries the gateway; its own values are not compared")
    # The hub's own settings of the wrapper's other parts (under basehub for a chart that wraps it).
    prefix = hub.keys[:-1]
    beside = {path[len(prefix):]: value for path, value in own.items() if path[:len(prefix)] == prefix and
              len(path) > len(prefix)}
    for top in sorted({path[0] for path in beside}):
        if top in ("jupyterhub", "basehub", "dask-gateway") or top in COMPONENTS or top in REPLACED or top in typed:
            continue
        if (parts.get(top) or {}).get("enabled") is False:  # settings of a part the wrapper does not run
            continue
        feature = WRAPPER_FEATURES.get(top, f"wrapper chart setting {top}")
        r.lose(feature, _dotted((*prefix, *next(p for p in beside if p[0] == top))))


# ---------------------------------------------------------------------------------------- the import
#: Paths the operator renders itself from a CommunityHub (or its policy owns): a hub's own value there cannot
#: be carried as a hatch, since the rendering goes over it.
OWNED: tuple[Path, ...] = (
    ("hub", "config", "JupyterHub", "authenticator_class"), ("hub", "config", "Authenticator", "admin_users"),
    ("hub", "config", "Authenticator", "allowed_users"), ("singleuser", "image"), ("singleuser", "profileList"),
    ("singleuser", "storage", "type"), ("singleuser", "storage", "static"), ("singleuser", "defaultUrl"),
    ("singleuser", "memory"), ("singleuser", "cpu"), ("ingress", "hosts"), ("ingress", "tls"),
    ("hub", "allowNamedServers"), ("hub", "namedServerLimitPerUser"), ("hub", "db"), ("hub", "resources"),
    ("singleuser", "cloudMetadata"),
)


def _owned(path: Path) -> bool:
    return any(_under(path, prefix) for prefix in OWNED)


def _hatches(own: Mapping[Path, Any], taken: set[Path], class_spec: HubClassSpec,
             lost: list[Entry]) -> tuple[dict[Path, Any], dict[Path, Any], list[Path]]:
    """The hub's own values no translator took: (for spec.hub.values, for a class of its own, owned paths)."""
    tenant: dict[Path, Any] = {}
    provider: dict[Path, Any] = {}
    owned: list[Path] = []
    for path, value in own.items():
        if any(_under(path, t) or _under(t, path) for t in taken):
            continue
        if _owned(path):
            owned.append(path)
        elif policy.hub_values(from_leaves({path: value}), class_spec.open_value_paths,
                               class_spec.ingress_annotations) is None:
            tenant[path] = value
        else:
            provider[path] = value
    return tenant, provider, owned


def _feature(path: Path) -> tuple[str, int | None]:
    """A hatch's feature, as docs/api.md lists them, and the issue that owns it (if not this one)."""
    text = _dotted(path)
    for prefix, name, *issue in HATCH_FEATURES:
        if text.startswith(prefix):
            return name, (issue[0] if issue else None)
    return f"chart value {'.'.join(path[:3])}", None


def _entry_of(path: Path) -> Path:
    """The entry a leaf belongs to, as the report names it: the key under the feature's prefix (one extra
    file, one extra mount), not each of its leaves."""
    text = _dotted(path)
    for prefix, *_ in HATCH_FEATURES:
        if text.startswith(prefix):
            return path[:len(prefix.split(".")) + 1]
    return path[:3]


def _entries(paths: Mapping[Path, Any], carried: str) -> list[Entry]:
    seen: dict[Path, Entry] = {}
    for path in paths:
        entry = _entry_of(path)
        feature, issue = _feature(path)
        seen.setdefault(entry, Entry(feature, _dotted(entry), carried=carried, issue=issue))
    return list(seen.values())


HATCH_FEATURES: tuple[tuple[Any, ...], ...] = (
    ("custom.2i2c", "the provider's staff accounts (custom.2i2c)"),
    ("custom.homepage", "the home page's template variables and repository"),
    ("custom.singleuserAdmin", "admins' mount of the whole share"),
    ("custom.binderhubUI", "the Binder page as the hub's landing page", 33),
    ("hub.config.BinderSpawnerMixin", "the Binder page as the hub's landing page", 33),
    ("custom.daskhubSetup", "Dask Gateway wiring of the wrapper chart"),
    ("hub.config.JupyterHub", "JupyterHub settings"),
    ("hub.config.KubeSpawner", "KubeSpawner settings"),
    ("hub.loadRoles", "roles (server sharing, custom scopes)"),
    ("hub.extraConfig", "hub extraConfig code"),
    ("hub.config.UsageQuotaManager", "compute usage quotas", 32),
    ("hub.config.UsageViewer", "compute usage quotas", 32),
    ("hub.services.binder", "BinderHub's service registration", 33),
    ("hub.services", "hub services"),
    ("singleuser.extraEnv", "environment variables from Secrets or fields"),
    ("singleuser.storage.extraVolumes", "extra volumes and mounts"),
    ("singleuser.storage.extraVolumeMounts", "extra volumes and mounts"),
    ("singleuser.nodeSelector", "a profile-less hub on its own pool"),
    ("singleuser.extraFiles", "files in users' servers"),
    ("singleuser.initContainers", "init containers"),
    ("scheduling", "scheduling (placeholders, the user scheduler)"),
    ("prePuller", "image pre-pulling"),
)


def import_cluster(hubs: Sequence[Source]) -> tuple[list[ImportedClass], list[ImportedHub]]:
    """One cluster's hubs as HubClasses and CommunityHubs (see the module's docstring)."""
    shared = _shared_files(hubs)
    groups: dict[tuple[str, tuple[str, ...]], list[Source]] = {}
    for hub in hubs:
        key = (hub.chart, tuple(n for n, _ in hub.layers if n in shared[hub.name]))
        groups.setdefault(key, []).append(hub)
    classes: list[ImportedClass] = []
    imported: list[ImportedHub] = []
    disks: dict[str, str] = {}
    for (chart, files), members in groups.items():
        keys = members[0].keys
        class_name = _class_name(members[0].cluster, chart, files)
        base_wrapper = _class_layers(members, shared)
        base = _hoisted(stack.under(base_wrapper, keys),
                        [stack.under(stack.merged(v for _, v in h.layers), keys) for h in members])
        catalog = Catalog()
        class_doc = _class_manifest(class_name, members, base, files)
        class_meant = _cluster_scoped(class_doc["spec"]["values"])
        templated = _per_hub_values(members, keys)
        if templated:
            class_doc["spec"]["perHubValues"] = templated
        identity = _user_identity(members)
        if identity:
            class_doc["spec"]["userServiceAccountAnnotations"] = identity
        servers = _home_servers(members, disks)
        if servers.home_server is not None:
            class_doc["spec"]["sharedStorage"]["homeServer"] = servers.home_server
        builders = _builders(members)
        if builders.binder is not None:
            class_doc["spec"]["binder"] = builders.binder
        drafts = []
        for hub in members:
            wrapper = stack.merged(v for _, v in hub.layers)
            effective = stack.under(wrapper, keys)
            own_wrapper = delta(wrapper, base_wrapper)
            # The hub's namespace is its deployer name (the manifests say so): the class's rule fills it in.
            own = delta(effective, render.deep_merge(base, render.per_hub(templated, hub.name, hub.name, hub.domain,
                                                                           hub.name)))
            r = Reading(effective, builds=hub.name in builders.specs,
                        no_builder=not (_parts(hub).get(BINDER) or {}).get("enabled"))
            manifest, secret = _hub_manifest(r, hub, class_name, own, catalog)
            if r.builds:
                manifest["spec"]["binder"] = builders.specs[hub.name]
            r.lost.extend(builders.lost.get(hub.name, []))
            r.meant.extend(builders.meant.get(hub.name, []))
            r.notes.extend(builders.notes.get(hub.name, []))
            _rendered_roles(r, own, base, manifest["spec"])
            _dask_setup(r, own, manifest["spec"])
            homes_typed = _home_quota(r, hub, manifest, servers)
            _own_cluster_scoped(r, own)
            _wrapper(r, hub, wrapper, own_wrapper, typed={"userServiceAccount"} if identity else set(),
                     home_server=homes_typed)
            if identity:
                old = (wrapper.get("jupyterhub") or {}).get("singleuser", {}).get("serviceAccountName") or "user-sa"
                r.notes.append(f"move step: the cloud identity of the users ({', '.join(identity)}) must trust "
                               f"ServiceAccount user in the hub's namespace on its cluster (status.names.namespace), "
                               f"as it trusts {hub.name}:{old} today")
            # What the hub's own files remove of its class's (a null in helm's merge): the class offers it as
            # optional values, and the hub declines them.
            removed = _removed(stack.under(stack.merged(v for _, v in hub.layers), keys), base, r.taken)
            drafts.append((hub, r, manifest, secret, own, removed))
        pages = {m["spec"]["hub"].get("branding", {}).get("homePage") for _, _, m, *_ in drafts} - {None}
        if pages:
            default = stack.under(base, WRAPPER_HOME_PAGE[:-1]).get(WRAPPER_HOME_PAGE[-1])
            class_doc["spec"]["homePages"] = {"valuesPath": _dotted(WRAPPER_HOME_PAGE),
                                              "offered": sorted(pages | ({default} if isinstance(default, str)
                                                                         else set()))}
        optional = _optional_values([removed for *_, removed in drafts])
        if optional:
            class_doc["spec"]["optionalValues"] = {name: entry for name, (entry, _) in optional.items()}
        if any(manifest["spec"]["environment"].get("prePull") for _, _, manifest, *_ in drafts):
            # What a hub of the class does today (its puller on the nodes the class gives it), the class allows.
            class_doc["spec"]["hubsMayPrePull"] = True
        _catalog_into(class_doc, catalog)
        largest = _largest([manifest for _, _, manifest, *_ in drafts])
        if largest:
            # What the provider's chart lets its servers ask today, its class lets them ask.
            class_doc["spec"]["archetypes"] = {"research": largest}
        if any(_unlimited(manifest) for _, _, manifest, *_ in drafts):
            # What the provider's chart lets its servers do today, its class lets them do: named here.
            class_doc["spec"]["tiers"] = {t: {"unlimited": True} for t in ("general", "premier", "essential")}
        class_spec = HubClassSpec.model_validate(class_doc["spec"])
        classes.append(ImportedClass(class_name, class_doc, [h.name for h in members]))
        for hub, r, manifest, secret, own, removed in drafts:
            tenant, provider, owned = _hatches(own, r.taken, class_spec, r.lost)
            declined = sorted(name for name, (_, path) in optional.items() if path in removed)
            if declined:
                manifest["spec"]["hub"]["declinedValues"] = declined
            offered = {path for _, path in optional.values()}
            removed = [path for path in removed if path not in offered]
            hatches = _entries(tenant, "spec.hub.values")
            for path in owned:
                r.lose(f"{_feature(path)[0]} the operator renders itself", _dotted(path))
            if tenant:
                manifest["spec"]["hub"]["values"] = from_leaves(tenant)
            if provider or removed:
                own_class = f"{class_name}-{hub.name}"[:253]
                doc = copy.deepcopy(class_doc)
                doc["metadata"]["name"] = own_class
                doc["spec"]["description"] = f"{class_doc['spec']['description']}, with {hub.name}'s own values"
                doc["spec"]["values"] = stack.merged([doc["spec"]["values"], from_leaves(provider)])
                for path in removed:
                    _remove(doc["spec"]["values"], path)
                _cluster_scoped(doc["spec"]["values"])  # a hatch must not turn them back on
                classes.append(ImportedClass(own_class, doc, [hub.name]))
                manifest["spec"]["hubClassName"] = own_class
                hatches += _entries(provider, f"HubClass {own_class}")
                hatches += [Entry(f"removes {_feature(p)[0]}", _dotted(p), carried=f"HubClass {own_class}",
                                  issue=_feature(p)[1]) for p in removed]
            CommunityHubSpec.model_validate(manifest["spec"])  # what the importer writes, the API accepts
            imported.append(ImportedHub(hub.cluster, hub.name, manifest["metadata"]["namespace"],
                                        manifest["spec"]["hubClassName"], manifest, [secret] if secret else [],
                                        _unique(r.lost), hatches, r.notes + _missing_notes(hub),
                                        [*class_meant, *_unique([*servers.meant.get(hub.name, []), *r.meant])]))
    used = {h.hub_class for h in imported}
    return [c for c in classes if c.name in used], imported


def _home_quota(r: Reading, hub: Source, manifest: dict[str, Any], servers: HomeServers) -> bool:
    """The hub's quota and disk from its home server; True when its server became the class's (what it could not
    type is lost, with the reason)."""
    if hub.name not in servers.quotas:
        return False
    storage = manifest["spec"]["environment"]["storage"]
    if storage.get("type") != "sharedNFS":
        r.lose("per-user home quota on a shared home (jupyterhub-home-nfs)", f"{HOME_NFS}.enabled", issue=32)
        return False
    storage["quota"] = servers.quotas[hub.name]
    r.lost.extend(servers.lost.get(hub.name, []))
    if (disk := servers.disks.get(hub.name)) == FILL_ME:
        manifest["spec"]["placement"]["homeDisk"] = disk
        r.notes.append("placement.homeDisk: the hub's homes share another hub's disk today; give it a disk of its "
                       "own (copy its share's directory there), and name it here")
    elif disk:
        manifest["spec"]["placement"]["homeDisk"] = disk
        r.notes.append(f"move step: the hub's home server attaches its disk {disk} (placement.homeDisk), where its "
                       f"homes are: remove the old hub's home server first, so the disk is free to attach")
    return True


#: Where a deployer's per-hub derivation is the hub's by convention, and the class may say it once with the
#: hub's names as placeholders (HubClass perHubValues): the label of the hub's own nodes.
PER_HUB_PATHS: tuple[Path, ...] = (("singleuser", "nodeSelector"),)


def _per_hub_rule(path: Path, value: Any, hub: Source) -> str | None:
    """The rule a deployer's derivation follows, with placeholders: the label of the hub's own nodes (its name,
    ``{hub.namespace}``), a URL of its domain (``{hub.domain}``), or the namespace its pods run in (a setting
    named ``*namespace`` that is the hub's name, ``{hub.clusterNamespace}``: the operator's namespace for the hub
    on its cluster); None for what follows none."""
    if not isinstance(value, str):
        return None
    word = _word(hub.name)
    if any(_under(path, q) for q in PER_HUB_PATHS) and word.search(value):
        return word.sub("{hub.namespace}", value)
    if hub.domain and hub.domain in value:
        return value.replace(hub.domain, "{hub.domain}")
    if value == hub.name and path[-1].lower().endswith("namespace"):
        return "{hub.clusterNamespace}"
    return None


def _per_hub_values(members: Sequence[Source], keys: tuple[str, ...]) -> dict[str, Any]:
    """What the chart's jsonnet derives from each hub's name or domain, where it is the same rule for every hub
    of the class (_per_hub_rule)."""
    rules: dict[Path, Any] = {}
    per_member = []
    for hub in members:
        jsonnet = next((v for n, v in hub.layers if n.endswith("/values.jsonnet")), {})
        found = {p: _per_hub_rule(p, v, hub) for p, v in leaves(stack.under(jsonnet, keys)).items()}
        per_member.append({p: rule for p, rule in found.items()
                           if rule is not None and not _owned(p) and p[-1] not in AUTH_RENDERED})
    for path, value in per_member[0].items():
        if all(other.get(path) == value for other in per_member[1:]):
            rules[path] = value
    return from_leaves(rules)


def _removed(effective: Mapping[str, Any], base: Mapping[str, Any], taken: set[Path]) -> list[Path]:
    """The entries of the class's values the hub's own files removed (outermost first), but for what the
    operator renders from the CommunityHub anyway."""
    have = leaves(effective)
    gone: list[Path] = []
    for path in leaves(base):
        if any(_under(path, t) or _under(t, path) for t in (*have, *taken)) or _owned(path):
            continue
        # The outermost key of what is gone: up from the leaf while nothing of its parent is left (one mount of
        # a map whose others stay, or the whole map).
        entry = path
        while len(entry) > 1 and not any(_under(h, entry[:-1]) for h in have):
            entry = entry[:-1]
        if not any(_under(entry, g) for g in gone):
            gone = [g for g in gone if not _under(g, entry)] + [entry]
    return gone


def _rendered_roles(r: Reading, own: Mapping[Path, Any], base: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    """A hub's own user and server roles that are its class's plus what the operator grants itself for the hub's
    components (access to its Dask Gateway, to its builder): taken, as the operator renders them."""
    access = {"dask": "access:services!service=dask-gateway", "binder": "access:services!service=binder"}
    granted = {"user": set(), "server": set()}
    if (spec.get("dask") or {}).get("enabled"):
        granted["user"].add(access["dask"])
        granted["server"].add(access["dask"])
    if (spec.get("binder") or {}).get("enabled", spec.get("binder") is not None):
        granted["user"].add(access["binder"])
    defaults = {"user": ["self"], "server": ["users:activity!user", "access:servers!server"]}
    for role, added in granted.items():
        path = ("hub", "loadRoles", role, "scopes")
        mine = own.get(path)
        others = [p for p in own if p[:3] == path[:3] and p != path]  # the role's own users, groups, ...
        if not added or not isinstance(mine, list) or others:
            continue
        theirs = stack.under(dict(base), path[:3]).get("scopes", defaults[role])
        if set(mine) == set(theirs) | added:
            r.taken.add(path)


#: The wrapper chart's switch for its own Dask Gateway wiring (the users' environment, the proxy label, /lab).
DASK_SETUP: Path = ("custom", "daskhubSetup", "enabled")


def _dask_setup(r: Reading, own: Mapping[Path, Any], spec: dict[str, Any]) -> None:
    """A hub's own switch of the wrapper's Dask wiring, where it says what spec.dask says: the operator wires its
    gateway itself (dask.hub_values: the users' environment, the proxy label, their access); the wiring's JupyterLab
    becomes the hub's defaultUrl."""
    setup = own.get(DASK_SETUP)
    if not isinstance(setup, bool) or setup != bool((spec.get("dask") or {}).get("enabled")):
        return
    r.taken.add(DASK_SETUP)
    if setup:  # the wiring's hub config runs after the chart's: its JupyterLab wins over singleuser.defaultUrl
        spec["environment"]["defaultUrl"] = "/lab"


def _optional_values(removals: Sequence[Sequence[Path]]) -> dict[str, tuple[dict[str, Any], Path]]:
    """The class's optional values: each entry of its values one of its hubs removes, by a name made of its path
    (the chart's generic levels left out), with what it is in words."""
    out: dict[str, tuple[dict[str, Any], Path]] = {}
    for path in sorted({p for removed in removals for p in removed}):
        if not all(re.fullmatch(r"[A-Za-z0-9_-]+", k) for k in path):
            continue  # not a dotted path (a key with a dot or a slash): the hub keeps a class of its own for it
        words = [re.sub(r"[^a-z0-9]+", "-", k.lower()).strip("-") for k in path
                 if k not in ("singleuser", "storage", "custom", "hub", "config")]
        name = "-".join(w for w in words if w)[:63].strip("-") or "values"
        while name in out:
            name = f"{name[:60]}-{len(out)}"
        feature, _ = _feature(path)
        out[name] = ({"description": f"{feature} ({_dotted(path)})"[:300], "paths": [_dotted(path)]}, path)
    return out


def _remove(values: dict[str, Any], path: Path) -> None:
    node: Any = values
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _hoisted(base: dict[str, Any], effective: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A class of several hubs also takes what each of them sets the same way in its own files (a provider's
    repetition, not a hub's choice); never a path the operator renders from the CommunityHub."""
    if len(effective) < 2:
        # A hub alone in its class: what the provider says of itself (who designed and operates the hub) is
        # the class's all the same, whichever file says it.
        facts = {p: v for p, v in delta(effective[0], base).items() if _provider_fact(p)} if effective else {}
        return stack.merged([base, from_leaves(facts)]) if facts else base
    owns = [delta(e, base) for e in effective]
    missing = object()
    common = {p: v for p, v in owns[0].items()
              if not _owned(p) and p not in HUB_CHOICES and all(o.get(p, missing) == v for o in owns[1:])}
    return stack.merged([base, from_leaves(common)]) if common else base


#: The template variables that describe the provider, not the community (the wrapper's home page shows them).
PROVIDER_FACTS = ("designed_by", "operated_by")


def _provider_fact(path: Path) -> bool:
    for where in (tuple(WRAPPER_BRANDING.split(".")), tuple(render.TEMPLATE_VARS_PATH.split("."))):
        if path[:len(where)] == where and len(path) > len(where) and path[len(where)] in PROVIDER_FACTS:
            return True
    return False


def _unique(entries: Sequence[Entry]) -> list[Entry]:
    seen: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        seen.setdefault((entry.feature, entry.path), entry)
    return list(seen.values())


def _missing_notes(hub: Source) -> list[str]:
    return [f"{name}: not readable here (encrypted); its secrets become the placeholder Secret"
            for name in hub.missing]


#: Where the fleet's wrapper chart reads a hub's branding (its homepage templates).
WRAPPER_BRANDING = "custom.homepage.templateVars"


#: Chart settings that make cluster-scoped objects, which the operator holds no rights for on purpose (it
#: installs a hub with the rights of the hub's namespace; a cluster's PriorityClasses and schedulers are the
#: provider's): (path turned off, what goes with it, the feature). Meant, not lost: users' pods are the same.
CLUSTER_SCOPED: tuple[tuple[Path, tuple[Path, ...], str], ...] = (
    (("scheduling", "podPriority", "enabled"), (("scheduling", "userPlaceholder", "enabled"),),
     "pod priority and user placeholders (a cluster-wide PriorityClass)"),
    (("scheduling", "userScheduler", "enabled"), (),
     "the user scheduler (cluster-wide roles)"),
)


def _own_cluster_scoped(r: Reading, own: Mapping[Path, Any]) -> None:
    """A hub's own settings of what the import turns off in every class (CLUSTER_SCOPED): off for this hub too,
    so they are meant with it, not carried (a hatch would only be turned off again)."""
    for path in own:
        for switch, with_it, feature in CLUSTER_SCOPED:
            if any(_under(path, prefix[:-1]) for prefix in (switch, *with_it)):
                r.taken.add(path)
                r.meant.append(Entry(feature, _dotted(path)))
                break


def _cluster_scoped(values: dict[str, Any]) -> list[Entry]:
    """Turn off what the operator could not install, and name it (placeholders need priority: without it they
    would hold nodes users need)."""
    lost = []
    for path, with_it, feature in CLUSTER_SCOPED:
        node: Any = values
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]):
            node[path[-1]] = False
            for other in with_it:
                _set(values, other, False)
            lost.append(Entry(feature, _dotted(path)))
    return lost


def _set(values: dict[str, Any], path: Path, value: Any) -> None:
    node = values
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


#: The 2i2c wrapper chart's switch that makes its staff admins of a hub, the kind of account they are listed by,
#: and its lists of them (custom.2i2c.staff_<kind>_ids).
STAFF_FLAG: Path = ("custom", "2i2c", "add_staff_user_ids_to_admin_users")
STAFF_KIND: Path = ("custom", "2i2c", "add_staff_user_ids_of_type")
#: What each hub chooses, typed in its CommunityHub, even where all hubs of a class choose alike.
HUB_CHOICES: tuple[Path, ...] = (STAFF_FLAG, STAFF_KIND)


def _staff_users(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """The class's staff by kind of account, from the wrapper's lists (HubClass staffUsers)."""
    lists = ((values.get("custom") or {}).get("2i2c") or {})
    return {m.group(1): [str(u) for u in users] for key, users in lists.items()
            if (m := re.fullmatch(r"staff_([a-z][a-z0-9-]*)_ids", key)) and isinstance(users, list) and users}


def _class_manifest(name: str, members: Sequence[Source], base: dict[str, Any],
                    files: Sequence[str]) -> dict[str, Any]:
    values = copy.deepcopy(base)
    branding = WRAPPER_BRANDING if stack.under(values, WRAPPER_BRANDING.split(".")) else render.TEMPLATE_VARS_PATH
    spec: dict[str, Any] = {
        "description": f"{members[0].cluster}: {members[0].chart}" + (f" with {', '.join(files)}" if files else ""),
        "values": values,
        "brandingValuesPath": branding,
        "sharedStorage": {"storageClassName": "fill-me-rwx"},
        "tiers": {"general": {}, "premier": {}, "essential": {}},
    }
    if staff := _staff_users(values):
        spec["staffUsers"] = staff
    for path in HUB_CHOICES:  # each hub's staffAdmins says it: the class's switch would add its own kind too
        _remove(values, path)
    return {"apiVersion": API_VERSION, "kind": "HubClass", "metadata": {"name": name}, "spec": spec}


def _largest(manifests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The research archetype's bounds a class needs for its hubs' largest server, where the operator's
    defaults are below it (capacity.DEFAULTS)."""
    cpu, memory = 0.0, 0.0
    for manifest in manifests:
        env = manifest["spec"]["environment"]
        for part in [env.get("resources") or {}, *(env.get("profiles") or []),
                     *(s for p in env.get("profiles") or [] for s in p.get("sizes") or [])]:
            if part:
                cpu = max(cpu, float(part.get("cpuLimit") or part.get("cpu") or 0))
                memory = max(memory, _bytes(str(part.get("memoryLimit") or part.get("memory") or "")))
    default = capacity.DEFAULTS["research"]
    out: dict[str, Any] = {}
    if cpu > float(default.cpu or 0):
        out["cpu"] = cpu
    if memory > parse_memory(str(default.memory)):
        out["memory"] = str(int(memory))
    return out


def _unlimited(manifest: Mapping[str, Any]) -> bool:
    env = manifest["spec"]["environment"]
    parts = [env.get("resources") or {}, *(env.get("profiles") or []),
             *(s for p in env.get("profiles") or [] for s in p.get("sizes") or [])]
    return any(part.get("unlimited") for part in parts)


#: The GPU of a machine family, where its name says it (the price catalog's names).
GPU_TYPES = {"g4dn": "nvidia-tesla-t4", "g5": "nvidia-a10g", "p3": "nvidia-tesla-v100"}


def _catalog_into(class_doc: dict[str, Any], catalog: Catalog) -> None:
    if catalog.node_pools:
        class_doc["spec"]["nodePools"] = [
            {"name": p["name"], "machineType": p["machineType"][:63], "nodeSelector": p["nodeSelector"],
             "cpu": max(p["cpu"], 0.001), "memory": str(int(max(p["memoryBytes"], 1))),
             **({"gpu": {"type": GPU_TYPES.get(p["machineType"].split(".")[0], "nvidia-gpu"), "count": p["gpus"]}}
                if p["gpus"] else {})}
            for p in catalog.node_pools.values()]
    if catalog.images:
        class_doc["spec"]["images"] = list(catalog.images.values())


def _hub_manifest(r: Reading, hub: Source, class_name: str, own: Mapping[Path, Any],
                  catalog: Catalog) -> tuple[dict[str, Any], dict[str, Any] | None]:
    secret_name = f"{hub.name}-oauth"
    branding_path = WRAPPER_BRANDING if r.get(*WRAPPER_BRANDING.split("."), take=False) else \
        render.TEMPLATE_VARS_PATH
    branding = _branding(r, tuple(branding_path.split(".")))
    if page := _home_page(r, own):
        branding = {**(branding or {}), "homePage": page}
    auth = _auth(r, secret_name)
    environment: dict[str, Any] = {"image": _image(r, ("singleuser", "image")) or "fill-me/image:latest",
                                   "storage": _storage(r, own)}
    default_url = r.get("singleuser", "defaultUrl")
    if default_url:
        environment["defaultUrl"] = default_url
    pre_pull = ("prePuller", "continuous", "enabled")
    if isinstance(own.get(pre_pull), bool):  # the hub's own choice (its class's default stays the class's)
        environment["prePull"] = r.get(*pre_pull)
    profiles = _profiles(r, catalog)
    if profiles:
        environment["profiles"] = profiles
    resources = _resources(r, catalog)
    if resources and not profiles:
        environment["resources"] = resources
    env = _env(r, own)
    if env:
        environment["env"] = env
    files = _files(r, own)
    if files:
        environment["files"] = files
    if r.get("hub", "allowNamedServers"):
        limit = r.get("hub", "namedServerLimitPerUser")
        environment["namedServers"] = {"enabled": True, **({"limitPerUser": int(limit)} if limit else {})}
    # What the deployer derives from the hub's domain, the operator derives from spec.hub.domain.
    r.taken.update({("ingress", "hosts"), ("ingress", "tls")})
    if r.get("singleuser", "cloudMetadata", "blockWithIptables", take=False) is False:
        r.taken.add(("singleuser", "cloudMetadata", "blockWithIptables"))  # what the operator renders too
    hub_spec: dict[str, Any] = {"domain": hub.domain,
                                "adminUsers": list(r.get("hub", "config", "Authenticator", "admin_users") or [])}
    if r.get(*STAFF_FLAG) is True and (kind := r.get(*STAFF_KIND)):
        # The wrapper's staff-as-admins switch, each hub's (the class lists the staff: staffUsers).
        hub_spec["staffAdmins"] = str(kind)
    if branding:
        hub_spec["branding"] = branding
    name = (branding or {}).get("orgName") or f"{hub.cluster} {hub.name}"
    spec: dict[str, Any] = {
        "hubClassName": class_name,
        "community": {"displayName": name[:200], "contactEmail": f"FILL-ME@{hub.domain}", "archetype": "research"},
        "placement": {"type": "shared", "sharedCluster": re.sub(r"[^a-z0-9-]", "-", hub.cluster.lower())[:63]},
        "hub": hub_spec,
        "auth": auth,
        "environment": environment,
    }
    if hub.chart == "daskhub":
        spec["dask"] = {"enabled": True}
    manifest = {"apiVersion": API_VERSION, "kind": "CommunityHub",
                "metadata": {"name": hub.name, "namespace": hub.name},
                "spec": spec}
    secret = None
    if auth["provider"] != "temporary":
        keys = ("userPassword", "adminPassword") if auth["provider"] == "sharedPassword" else \
            ("client_id", "client_secret")
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": {"name": secret_name, "namespace": hub.name},
                  "stringData": dict.fromkeys(keys, FILL_ME)}
    return manifest, secret
