"""Pure rendering: a CommunityHub spec -> the JupyterHub chart's values (and the names around them).

Nothing here talks to a cluster: the same spec always renders the same values, whose hash tells
the hub step whether a Helm upgrade is due.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import jinja2
import markupsafe
import yaml
from jinja2.utils import htmlsafe_json_dumps

from communityhub.api.models import (
    CatalogImage,
    CatalogNodePool,
    CommunityHubSpec,
    Content,
    GatewayRoute,
    HubClassSpec,
    Profile,
    ProfileSize,
    PublicAuth,
    SharedDirectory,
    TemporaryAuth,
)
from communityhub.api.quantities import parse_memory
from communityhub.delivery import capacity, names, serving

OAUTH_SECRET_NAME = "hub-oauth-client"
#: On everything the operator creates (and how it finds the hub namespaces it made).
MANAGED_BY = {"app.kubernetes.io/managed-by": "communityhub-operator"}
#: The JupyterHub chart's label on every object it makes (with `release` and `component`).
CHART_APP = {"app": "jupyterhub"}
#: Labels that tie a hub's namespace (and a dedicated cluster's Secret) to its CommunityHub.
HUB_LABEL = "hubs.2i2c.org/hub"
HUB_NAMESPACE_LABEL = "hubs.2i2c.org/hub-namespace"
#: The operator's usage service in each hub: its token comes from this Secret in the hub's namespace.
USAGE_TOKEN_SECRET_NAME = "hub-usage-token"
#: The key of the usage token in its Secrets (the hub's, and the one beside the CommunityHub).
USAGE_TOKEN_KEY = "token"
USAGE_SERVICE = "communityhub-usage"
#: Just what counting active users needs: list users, their activity and their servers.
#: What the operator's metering reads of a hub: its users, their activity and servers, and their groups (the cost
#: split by group).
USAGE_SCOPES = ("list:users", "read:users:activity", "read:servers", "read:users:groups")

#: The chart's authenticator_class entry point and config section, per SSO provider.
AUTHENTICATORS = {
    "github": ("github", "GitHubOAuthenticator"),
    "cilogon": ("cilogon", "CILogonOAuthenticator"),
    "oidc": ("generic-oauth", "GenericOAuthenticator"),
    "oauth2": ("generic-oauth", "GenericOAuthenticator"),
    "google": ("google", "GoogleOAuthenticator"),
    "temporary": ("tmp", "TmpAuthenticator"),  # jupyterhub-tmpauthenticator, in the chart's hub image
    "sharedPassword": ("shared-password", "SharedPasswordAuthenticator"),  # JupyterHub's own (5.x)
    "none": ("null", "NullAuthenticator"),  # JupyterHub's own: nobody logs in (a public Binder hub)
}

#: The Secret in the hub's namespace a login reads (the operator copies it there from the one beside the
#: CommunityHub), and each key's environment variable in the hub: (secret, {env: (key, optional)}).
SHARED_PASSWORD_SECRET_NAME = "hub-shared-password"
OAUTH_LOGIN: tuple[str, dict[str, tuple[str, bool]]] = (
    OAUTH_SECRET_NAME, {"OAUTH_CLIENT_ID": ("client_id", False), "OAUTH_CLIENT_SECRET": ("client_secret", False)})
SHARED_PASSWORD_LOGIN: tuple[str, dict[str, tuple[str, bool]]] = (
    SHARED_PASSWORD_SECRET_NAME, {"CHUB_USER_PASSWORD": ("userPassword", False),
                                  "CHUB_ADMIN_PASSWORD": ("adminPassword", True)})


def login_secret(spec: CommunityHubSpec) -> tuple[str, dict[str, tuple[str, bool]]] | None:
    """The Secret the hub's login reads, and how (None: temporary users, or no login, need none)."""
    if spec.auth.provider in ("temporary", "none"):
        return None
    return SHARED_PASSWORD_LOGIN if spec.auth.provider == "sharedPassword" else OAUTH_LOGIN


#: hub.extraConfig of a shared-password hub: the passwords from the environment, never from values (an unset
#: admin password is None: JupyterHub then lets no admin in, and says so in its log).
SHARED_PASSWORD_CONFIG = (
    "import os\n"
    "c.SharedPasswordAuthenticator.user_password = os.environ.get('CHUB_USER_PASSWORD') or None\n"
    "c.SharedPasswordAuthenticator.admin_password = os.environ.get('CHUB_ADMIN_PASSWORD') or None\n"
)


def role_scopes_config(function: str, scopes: Mapping[str, Sequence[str]]) -> str:
    """hub.extraConfig that adds ``scopes`` to JupyterHub's roles by name (``user``, ``server``): into the role the
    chart's loadRoles made (a class's own scopes stay), or a role of its own with JupyterHub's default scopes and
    these (``function`` names the code, one per component)."""
    defaults = {"user": ["self"], "server": ["users:activity!user", "access:servers!server"]}
    wanted = {role: list(added) for role, added in scopes.items()}
    base = {role: defaults.get(role, []) for role in wanted}
    return (
        f"def {function}(roles):\n"
        f"    wanted = {wanted!r}\n"
        f"    base = {base!r}\n"
        "    for name, added in wanted.items():\n"
        "        role = next((r for r in roles if r.get('name') == name), None)\n"
        "        if role is None:\n"
        "            roles.append({'name': name, 'scopes': [*base[name], *added]})\n"
        "            continue\n"
        "        have = role.get('scopes', base[name])\n"
        "        role['scopes'] = [*have, *(s for s in added if s not in have)]\n"
        "\n"
        f"{function}(c.JupyterHub.load_roles)\n"
    )


def pass_tokens_config(spec: CommunityHubSpec) -> str | None:
    """hub.extraConfig that hands the user's access token to their server (auth.passTokens)."""
    if not spec.auth.pass_tokens:
        return None
    names = ["ACCESS_TOKEN", *(["GITHUB_TOKEN"] if spec.auth.provider == "github" else [])]
    return (
        "def communityhub_pass_tokens(spawner, auth_state):\n"
        "    token = (auth_state or {}).get('access_token')\n"
        "    if token:\n"
        f"        for name in {names!r}:\n"
        "            spawner.environment[name] = token\n"
        "\n"
        "c.Spawner.auth_state_hook = communityhub_pass_tokens\n"
    )


@cache
def templates() -> jinja2.Environment:
    """The package's jinja2 templates (chart values, the DELIVERED email): only ``*.html.j2`` is escaped.

    ``tojson`` keeps non-ASCII text as it is: its default escapes an emoji as a UTF-16 surrogate pair, which
    the YAML reader turns into two lone surrogates that helm's parser refuses."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("communityhub", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        keep_trailing_newline=True,
    )
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    env.filters["tojson"] = _tojson
    return env


#: Characters that JSON leaves as they are and YAML does not read back as written: DEL, the C1 controls and
#: two non-characters are refused, NEL and the Unicode line and paragraph separators are folded into a space.
#: A tenant may write them (the fuzz tests did), so they are escaped.
_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")


def _tojson(value: Any) -> markupsafe.Markup:
    """jinja2's ``tojson`` (with the environment's dumps options), with what YAML cannot carry escaped."""
    text = htmlsafe_json_dumps(value, dumps=json.dumps, sort_keys=True, ensure_ascii=False)
    return markupsafe.Markup(_NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text)))


def label_value(text: str) -> str:
    """A label-safe form of free text (<= 63 chars, alphanumeric at both ends)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:63].rstrip("-_.")
    return slug or "unnamed"


def hub_labels(namespace: str, name: str, spec: CommunityHubSpec) -> dict[str, str]:
    return {
        **MANAGED_BY,
        HUB_LABEL: label_value(name),
        HUB_NAMESPACE_LABEL: label_value(namespace),
        "hubs.2i2c.org/community": label_value(spec.community.display_name),
        "hubs.2i2c.org/archetype": spec.community.archetype,
    }


def hub_url(spec: CommunityHubSpec) -> str:
    return f"https://{spec.hub.domain}"


def callback_url(spec: CommunityHubSpec) -> str:
    return f"{hub_url(spec)}/hub/oauth_callback"


def split_image(reference: str) -> tuple[str, str]:
    """``registry/path:tag`` -> (``registry/path``, ``tag``); no tag means ``latest``."""
    name, _, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    else:
        tag = "latest"
    if digest:  # the chart joins name:tag; a pinned digest rides on the name
        return f"{name}@{digest}", tag
    return name, tag


#: OIDC discovery document key -> GenericOAuthenticator trait.
OIDC_ENDPOINTS = {
    "authorization_endpoint": "authorize_url",
    "token_endpoint": "token_url",
    "userinfo_endpoint": "userdata_url",
}


def github_teams(spec: CommunityHubSpec, catalog: HubClassSpec | None = None) -> tuple[list[str], list[str]]:
    """(who is allowed in, who is admin) of a GitHub hub, as oauthenticator names them: organizations and
    <organization>:<team>, the class's staff teams (allowed, and admins) included."""
    assert spec.auth.github is not None
    allowed = [entry for org, teams in spec.auth.github.allowed() for entry in ([f"{org}:{t}" for t in teams] or [org])]
    staff = list(catalog.github_staff_teams) if catalog is not None else []
    admins = list(dict.fromkeys([*spec.auth.github.admin_teams, *staff]))
    return list(dict.fromkeys([*allowed, *staff])), admins


#: hub.extraConfig of a GitHub hub whose teams are groups: oauthenticator keeps the teams in the auth state as
#: GitHub's API returns them; the hub's groups are "<organization>:<team slug>", as allowed_organizations names
#: them (a callable, which YAML config cannot carry).
GITHUB_TEAM_GROUPS = (
    "def communityhub_github_teams(auth_state):\n"
    "    return [f\"{team['organization']['login']}:{team['slug']}\" for team in auth_state.get('teams') or []]\n"
    "\n"
    "c.GitHubOAuthenticator.auth_state_groups_key = communityhub_github_teams\n"
)


def auth_config(spec: CommunityHubSpec, oidc_endpoints: Mapping[str, str] | None = None,
                catalog: HubClassSpec | None = None) -> dict[str, Any]:
    """The authenticator section for the chosen provider, with the keys oauthenticator (>= 17) reads.

    Since oauthenticator 16 nobody is let in without an allow rule, so every provider renders one:
    GitHub organization/team membership, CILogon per identity provider (its email domains, or everyone with
    allowAll, else only the users the hub names), OIDC groups, else ``allow_all`` for the issuer's users.
    ``oidc_endpoints`` are the issuer's discovered endpoints (GenericOAuthenticator does no discovery).
    """
    auth = spec.auth
    config: dict[str, Any]
    if auth.provider == "github" and auth.github:
        allowed, admins = github_teams(spec, catalog)
        config = {
            "allowed_organizations": allowed,
            # membership of private organizations and teams, and what the hub asks its users' tokens for
            "scope": ["read:org", *(x for x in auth.github.scopes if x != "read:org")],
        }
        if admins or spec_uses_groups(spec):
            # Teams become the hub's groups where something reads them (admin teams, profiles' allowedGroups):
            # the callable that names them is extraConfig.
            config.update({"populate_teams_in_auth_state": True, "manage_groups": True})
        if admins:
            config["admin_groups"] = admins
    elif auth.provider == "cilogon" and auth.cilogon:
        idps: dict[str, Any] = {}
        for idp in auth.cilogon.allowed_idps:
            entry: dict[str, Any] = {"username_derivation": {"username_claim": idp.username_claim}}
            if idp.allowed_domains:
                entry["allowed_domains"] = list(idp.allowed_domains)
            elif idp.allow_all:
                entry["allow_all"] = True
            if idp.default:
                entry["default"] = True
            # Without domains, no allow_all: listing a provider (Google, say) for two named admins must not let
            # in every account it has. Its users then come in only by name (admin_users, allowed_users).
            idps[idp.entity_id] = entry
        config = {"allowed_idps": idps, "scope": ["openid", "email", "org.cilogon.userinfo"]}
        if auth.cilogon.admin_groups or spec_uses_groups(spec):
            # The groups CILogon releases become the hub's (admin groups, profiles' allowedGroups).
            config.update({"manage_groups": True,
                           "auth_state_groups_key": f"cilogon_user.{auth.cilogon.groups_claim}"})
        if auth.cilogon.admin_groups:
            config["admin_groups"] = list(auth.cilogon.admin_groups)
    elif auth.provider == "oidc" and auth.oidc:
        oidc = auth.oidc
        if not oidc_endpoints:
            raise ValueError(f"the endpoints of OIDC issuer {oidc.issuer} have not been discovered")
        config = {trait: oidc_endpoints[key] for key, trait in OIDC_ENDPOINTS.items()}
        config.update({
            "username_claim": oidc.username_claim,
            "scope": list(oidc.scopes),
            "login_service": oidc.issuer.removeprefix("https://").rstrip("/"),
        })
        uses_groups = oidc.allowed_groups or oidc.admin_groups or spec_uses_groups(spec)
        _group_rules(config, oidc.groups_claim if uses_groups else None,
                     oidc.allowed_groups, oidc.admin_groups, auth.allowed_users)
    elif auth.provider == "oauth2" and auth.oauth2:
        oauth2 = auth.oauth2
        config = {"authorize_url": oauth2.authorize_url, "token_url": oauth2.token_url,
                  **({"userdata_from_id_token": True} if oauth2.userdata_from_id_token else
                     {"userdata_url": oauth2.userdata_url}),
                  "username_claim": oauth2.username_key, "scope": list(oauth2.scopes),
                  "login_service": oauth2.login_service}
        _group_rules(config, oauth2.groups_key, oauth2.allowed_groups, oauth2.admin_groups, auth.allowed_users)
    elif auth.provider == "google" and auth.google:
        # Only the hosted domains' users get past oauthenticator's `hd` check (a hard filter, before any allow
        # rule): among them, everyone, as the field says. allowedUsers cannot add anyone outside them.
        config = {"hosted_domain": list(auth.google.hosted_domains), "allow_all": True}
    elif auth.provider == "temporary":
        # TmpAuthenticator: every visitor a new user; the cap is JupyterHub's active_server_limit. JupyterHub 5
        # lets in nobody without an allow rule, TmpAuthenticator's new users included: they are all allowed.
        # A visitor clicks "Sign in" first (auto_login off): with it on, every request to /hub/login without a
        # cookie (a link preview, a crawler, a health check, `curl -L`) made a new user, counted as active.
        return {"allow_all": True, "auto_login": False, "login_service": "a temporary account"}
    elif auth.provider == "none":
        return {}  # nobody logs in: BinderHub makes each launch's user through the hub's API
    elif auth.provider == "sharedPassword":
        # Everyone with the password, unless users are named. Groups stay the admins' to manage: the
        # authenticator gives none, and managed groups would empty them at each login.
        return {"allow_all": not auth.allowed_users, "manage_groups": False}
    else:  # the CRD's CEL rules make this unreachable for admitted objects
        raise ValueError(f"auth.{auth.provider} settings are missing")
    return config


def _group_rules(config: dict[str, Any], groups_key: str | None, allowed: Sequence[str], admins: Sequence[str],
                 allowed_users: Sequence[str]) -> None:
    """GenericOAuthenticator's group rules: groups managed from the user data's key (oauthenticator 17: group
    rules need managed groups), who is let in (the groups, else everyone the provider authenticates unless
    users are named), and who is admin."""
    if groups_key:
        config["manage_groups"] = True
        config["auth_state_groups_key"] = f"oauth_user.{groups_key}"
    if allowed:
        config["allowed_groups"] = list(allowed)
    elif not allowed_users:
        config["allow_all"] = True
    if admins:
        config["admin_groups"] = list(admins)


def login_names(spec: CommunityHubSpec, users: Sequence[str]) -> list[str]:
    """The JupyterHub names of users as the spec writes them. With one Google hosted domain, oauthenticator
    strips ``@<domain>`` from its users' names (strip_domain), so an admin written as an e-mail address of that
    domain is named without it, or the name would never match."""
    google = spec.auth.google if spec.auth.provider == "google" else None
    if google is None or len(google.hosted_domains) != 1:
        return list(users)
    suffix = "@" + google.hosted_domains[0]
    return list(dict.fromkeys(u[: -len(suffix)] if u.lower().endswith(suffix.lower()) else u for u in users))


def admin_names(spec: CommunityHubSpec, catalog: HubClassSpec | None = None) -> list[str]:
    """The hub's admins: the provider's staff of the kind the hub names (hub.staffAdmins, from its class's
    staffUsers), then the hub's own."""
    kind = spec.hub.staff_admins
    staff = list(catalog.staff_users.get(kind, [])) if catalog is not None and kind else []
    return list(dict.fromkeys([*staff, *spec.hub.admin_users]))


def spec_uses_groups(spec: CommunityHubSpec) -> bool:
    """Whether something is for some groups only (their names are the provider's groups): a profile, or a
    shared directory mounted for groups."""
    return (profiles_for_groups(spec)
            or any(d.who == "groups" for d in spec.environment.storage.shared_directories))


def profiles_for_groups(spec: CommunityHubSpec) -> bool:
    """Whether a profile, or a size inside one, is for some groups only."""
    return any(p.allowed_groups or any(s.allowed_groups for s in p.sizes) for p in spec.environment.profiles)


def github_groups_config(spec: CommunityHubSpec, auth: Mapping[str, Any]) -> str | None:
    """The extraConfig that turns a GitHub user's teams into the hub's groups, when groups are managed."""
    return GITHUB_TEAM_GROUPS if spec.auth.provider == "github" and auth.get("manage_groups") else None


#: What a user may type as an unlisted image: a reference with a tag.
UNLISTED_IMAGE_REGEX = r"^[a-zA-Z0-9._/:-]+:[A-Za-z0-9_][A-Za-z0-9_.-]*$"


def node_selector(pool: CatalogNodePool) -> dict[str, str]:
    """Where a catalog pool's nodes are: its own labels, else its machine type's well-known label."""
    return dict(pool.node_selector) or {"node.kubernetes.io/instance-type": pool.machine_type}


def spawner_memory(quantity: str) -> str | int:
    """A memory quantity as JupyterHub's ByteSpecification reads it (KubeSpawner's mem_guarantee/mem_limit):
    only K, M, G and T, each a power of 1024, so a Kubernetes ``4Gi`` is refused when a server starts. Binary
    suffixes lose their ``i`` (the same bytes); K, M, G and T stay as written, read as JupyterHub reads them
    (the fleet's own values mean GiB by ``G``); anything else becomes its number of bytes."""
    if quantity[-2:] in ("Ki", "Mi", "Gi", "Ti"):
        return quantity[:-1]
    if quantity[-1:] in ("K", "M", "G", "T"):
        return quantity
    return parse_memory(quantity)


def _amount(guarantee: str | float | None, limit: str | float | None, unit: str) -> str:
    if guarantee is None:
        return f"up to {f'{limit:g}' if isinstance(limit, float) else limit} {unit}"
    shown = f"{guarantee:g}" if isinstance(guarantee, float) else guarantee
    if limit is None or limit == guarantee:
        return f"{shown} {unit}"
    return f"{shown} to {f'{limit:g}' if isinstance(limit, float) else limit} {unit}"


def server_files(spec: CommunityHubSpec) -> dict[str, Any]:
    """The chart's singleuser.extraFiles from environment.files (keyed, so they merge with the class's)."""
    return {f.name: f.model_dump(by_alias=True, exclude_none=True, exclude={"name"}) for f in spec.environment.files}


def profile_list(spec: CommunityHubSpec, catalog: HubClassSpec | None = None) -> list[dict[str, Any]]:
    """KubeSpawner's profile_list: one entry per profile; a node pool and images from the HubClass's catalog
    (``catalog``). A name the catalog lacks renders nothing: the environment policy refuses it first."""
    pools = {pool.name: pool for pool in catalog.node_pools} if catalog else {}
    images = {image.name: image for image in catalog.images} if catalog else {}
    profiles = []
    for p in spec.environment.profiles:
        override = _size_override(p, pools)
        pool = pools.get(p.node_pool) if p.node_pool else None
        gpu = f", {p.gpu} GPU" + (f" ({pool.gpu.type})" if pool is not None and pool.gpu else "") if p.gpu else ""
        if p.working_dir:
            override["working_dir"] = p.working_dir
        if p.image:
            override["image"] = p.image
        if p.default_url:
            override["default_url"] = p.default_url
        entry: dict[str, Any] = {
            "display_name": p.display_name or p.name,
            "slug": p.name,
            "description": ", ".join(part for part in (
                _amount(p.cpu, p.cpu_limit, "CPU") if p.cpu or p.cpu_limit else "",
                _amount(p.memory, p.memory_limit, "memory")) if part) + gpu,
            "kubespawner_override": override,
        }
        chosen = [images[name] for name in p.image_choices if name in images]
        options: dict[str, Any] = {}
        if chosen or p.unlisted_image or p.image_building:
            option: dict[str, Any] = {"display_name": p.image_label, "choices": {
                image.name: {"display_name": image.description or image.name,
                             "kubespawner_override": image_override(image),
                             **({"default": True} if i == 0 else {})}
                for i, image in enumerate(chosen)}}
            if p.image_building:  # the spawn form's build choice (its built image arrives as the unlisted one)
                option["dynamic_image_building"] = {"enabled": True}
            if p.unlisted_image or p.image_building:
                option["unlisted_choice"] = {"enabled": True, "display_name": "Other image (name:tag)",
                                             "validation_regex": UNLISTED_IMAGE_REGEX,
                                             "kubespawner_override": {"image": "{value}"}}
            options["image"] = option
        if p.sizes:
            first = next((s for s in p.sizes if s.default), p.sizes[0])
            options["resources"] = {"display_name": p.sizes_label, "choices": {
                size.name: {"display_name": size.display_name or size.name,
                            "kubespawner_override": _size_override(size, pools, p.node_pool),
                            **({"default": True} if size is first else {}),
                            **({ALLOWED_GROUPS_KEY: list(size.allowed_groups)} if size.allowed_groups else {})}
                for size in p.sizes}}
        if options:
            entry["profile_options"] = options
        if p.content is not None and catalog is not None and catalog.content_puller:
            override["init_containers"] = [content_puller(spec, p.content, catalog.content_puller)]
        if p.allowed_groups:
            entry[ALLOWED_GROUPS_KEY] = list(p.allowed_groups)
        if p.default:
            entry["default"] = True
        profiles.append(entry)
    return profiles


def _size_override(size: Profile | ProfileSize, pools: Mapping[str, CatalogNodePool],
                   default_pool: str | None = None) -> dict[str, Any]:
    """KubeSpawner's overrides of a profile's or a size's resources: guarantee, limit, GPUs, its pool."""
    override: dict[str, Any] = {}
    if size.cpu is not None:
        override["cpu_guarantee"] = size.cpu
    # None, not absent: no limit, whatever the hub-wide singleuser.cpu/memory limit of the class says.
    if "cpu" in size.unlimited:
        override["cpu_limit"] = None
    elif size.cpu_limit or size.cpu:
        override["cpu_limit"] = size.cpu_limit or size.cpu
    override["mem_guarantee"] = spawner_memory(size.memory)
    override["mem_limit"] = None if "memory" in size.unlimited else spawner_memory(size.memory_limit or size.memory)
    name = size.node_pool or default_pool
    pool = pools.get(name) if name else None
    if pool is not None:
        override["node_selector"] = node_selector(pool)
    if size.gpu:
        override["extra_resource_guarantees"] = {"nvidia.com/gpu": str(size.gpu)}
        override["extra_resource_limits"] = {"nvidia.com/gpu": str(size.gpu)}
    if size.env:
        override["environment"] = dict(size.env)
    return override


def image_override(image: CatalogImage) -> dict[str, Any]:
    """A catalog image as a choice's KubeSpawner overrides: the image and its own settings."""
    override: dict[str, Any] = {"image": image.reference}
    for key, value in (("default_url", image.default_url), ("working_dir", image.working_dir),
                       ("image_pull_policy", image.pull_policy)):
        if value:
            override[key] = value
    if image.init_containers:
        override["init_containers"] = [dict(c) for c in image.init_containers]
    return override


def content_directory(repository: str) -> str:
    """The directory a repository is pulled into, in the home: its name, cut to safe characters."""
    name = repository.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    return re.sub(r"[^A-Za-z0-9._-]", "-", name).strip(".-")[:100] or "content"


def content_puller(spec: CommunityHubSpec, content: Content, image: str) -> dict[str, Any]:
    """The init container that pulls a profile's content into the user's home (argv, no shell: the tenant's
    URL is an argument, never a command). The home is the user's own volume, or their directory of a share."""
    mount: dict[str, Any] = {"name": HOME_VOLUME, "mountPath": "/home/jovyan"}
    if spec.environment.storage.type == "sharedNFS":
        mount["subPath"] = home_sub_path(spec)
    return {"name": "content", "image": image,
            "command": ["gitpuller", content.repository, content.branch,
                        f"/home/jovyan/{content_directory(content.repository)}"],
            "volumeMounts": [mount]}


#: The key of a profile_list entry naming the groups that see it (read by profile_groups_config's filter).
ALLOWED_GROUPS_KEY = "communityhub_allowed_groups"


def profile_groups_config(spec: CommunityHubSpec) -> str | None:
    """hub.extraConfig that offers each user only the profiles of their groups (KubeSpawner calls a callable
    profile_list per spawn); None when no profile is for some groups only."""
    if not profiles_for_groups(spec):
        return None
    return (
        "import copy\n"
        "import inspect\n"
        "\n"
        "from tornado.web import HTTPError\n"
        "\n"
        "# A class's own extraConfig may have made profile_list a callable already (its keys sort first): it is\n"
        "# called, and its answer filtered.\n"
        f"KEY = {ALLOWED_GROUPS_KEY!r}\n"
        "COMMUNITYHUB_PROFILES = c.KubeSpawner.profile_list\n"
        "if not callable(COMMUNITYHUB_PROFILES):\n"
        "    COMMUNITYHUB_PROFILES = copy.deepcopy(COMMUNITYHUB_PROFILES)\n"
        "\n"
        "async def communityhub_profiles_for(spawner):\n"
        "    profiles = COMMUNITYHUB_PROFILES\n"
        "    if callable(profiles):\n"
        "        profiles = profiles(spawner)\n"
        "        if inspect.isawaitable(profiles):\n"
        "            profiles = await profiles\n"
        "    groups = {group.name for group in spawner.user.groups}\n"
        "    offered = []\n"
        "    for profile in profiles or []:\n"
        "        allowed = profile.get(KEY)\n"
        "        if allowed and not groups.intersection(allowed):\n"
        "            continue\n"
        "        profile = copy.deepcopy({k: v for k, v in profile.items() if k != KEY})\n"
        "        for option in (profile.get('profile_options') or {}).values():\n"
        "            # A choice (a size) for some groups is offered to their members only.\n"
        "            option['choices'] = {name: {k: v for k, v in choice.items() if k != KEY}\n"
        "                                 for name, choice in (option.get('choices') or {}).items()\n"
        "                                 if not choice.get(KEY) or groups.intersection(choice[KEY])}\n"
        "        offered.append(profile)\n"
        "    if profiles and not offered:\n"
        "        # An empty list would give the user the default server, past every profile's groups.\n"
        "        raise HTTPError(403, 'None of this hub\\'s server options is for your groups: ask its admins.')\n"
        "    return offered\n"
        "\n"
        "c.KubeSpawner.profile_list = communityhub_profiles_for\n"
    )


#: The claim of a sharedNFS hub's shared volume, in the hub's namespace (the operator makes it).
SHARED_CLAIM = "home-nfs"
#: The chart's name for the home volume in a user pod (static and dynamic storage alike).
HOME_VOLUME = "home"


#: KubeSpawner's name for a user's directory, per Storage.home_directory.
HOME_SUB_PATHS = {"username": "{username}", "escapedUsername": "{escaped_username}"}


def home_sub_path(spec: CommunityHubSpec) -> str:
    """A user's directory on the hub's shared volume, as a KubeSpawner template."""
    return HOME_SUB_PATHS[spec.environment.storage.home_directory]


def _shared_mount(directory: SharedDirectory) -> dict[str, Any]:
    return {"name": HOME_VOLUME, "mountPath": directory.mount_path, "subPath": f"_{directory.name}",
            "readOnly": directory.read_only}


#: The keys of the operator's entries in singleuser.storage.extraVolumes/extraVolumeMounts. The chart takes
#: both as maps (its keys name the entries), so a class's own entries (a /dev/shm, a second home mount) merge
#: with these key by key; lists would replace the class's maps whole.
EXTRA_KEY_PREFIX = "communityhub-"


def storage(spec: CommunityHubSpec) -> dict[str, Any]:
    """singleuser.storage: a volume per user, a directory per user on the hub's shared volume (with the shared
    directories everyone gets), or none; and a /tmp emptyDir of tmpSize."""
    wanted = spec.environment.storage
    out: dict[str, Any]
    mounts: dict[str, Any] = {}
    if wanted.type == "none":
        out = {"type": "none"}
    elif wanted.type == "sharedNFS":
        out = {"type": "static", "static": {"pvcName": SHARED_CLAIM, "subPath": home_sub_path(spec)}}
        mounts.update({f"{EXTRA_KEY_PREFIX}shared{d.mount_path}": _shared_mount(d)
                       for d in wanted.shared_directories if d.who == "everyone"})
    else:
        out = {"type": "dynamic", "capacity": spec.environment.home_storage}
    if wanted.tmp_size:
        out["extraVolumes"] = {f"{EXTRA_KEY_PREFIX}tmp": {"name": "tmp", "emptyDir": {"sizeLimit": wanted.tmp_size}}}
        mounts[f"{EXTRA_KEY_PREFIX}tmp"] = {"name": "tmp", "mountPath": "/tmp"}
    if mounts:
        out["extraVolumeMounts"] = mounts
    return out


def _entries(value: Any) -> list[dict[str, Any]]:
    """The chart's extraVolumes/extraVolumeMounts: a list, or a map whose values are the entries."""
    items = value.values() if isinstance(value, Mapping) else value or []
    return [dict(i) for i in items if isinstance(i, Mapping)]


def mounts_without_volume(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """singleuser.storage's extra mounts (mount path, volume) whose volume the user pod will not have, in the final
    values: the chart's home volume is ``home`` for a static (shared) home and ``volumeNameTemplate`` for a dynamic
    one, and none for ``none``. A class that mounts its hubs' shared ``home`` a second time (/home/rstudio) breaks
    every server of a hub whose home is a volume of its own: the API server refuses the pod."""
    storage = dict((values.get("singleuser") or {}).get("storage") or {})
    volumes = {v.get("name") for v in _entries(storage.get("extraVolumes"))}
    kind = storage.get("type", "dynamic")
    if kind == "static":
        volumes.add("home")
    elif kind == "dynamic":
        volumes.add((storage.get("dynamic") or {}).get("volumeNameTemplate") or "volume-{user_server}")
    return [(str(m.get("mountPath")), str(m.get("name"))) for m in _entries(storage.get("extraVolumeMounts"))
            if m.get("name") not in volumes]


def shared_directories_config(spec: CommunityHubSpec) -> str | None:
    """hub.extraConfig that mounts the shared directories meant for admins or for groups into those users'
    servers only (a KubeSpawner modify_pod_hook); None when every directory is everyone's."""
    wanted = spec.environment.storage
    if wanted.type != "sharedNFS":
        return None
    mounts = [{**_shared_mount(d), "who": d.who, "groups": list(d.groups)} for d in wanted.shared_directories
              if d.who != "everyone"]
    if not mounts:
        return None
    return (
        "import inspect\n"
        "\n"
        "from kubernetes_asyncio.client.models import V1VolumeMount\n"
        "\n"
        f"COMMUNITYHUB_MOUNTS = {mounts!r}\n"
        "\n"
        "# A hook the class's own extraConfig set before this one (its keys sort first) still runs, first.\n"
        "COMMUNITYHUB_PREVIOUS_HOOK = c.KubeSpawner.modify_pod_hook if 'modify_pod_hook' in c.KubeSpawner else None\n"
        "\n"
        "async def communityhub_shared_directories(spawner, pod):\n"
        "    if COMMUNITYHUB_PREVIOUS_HOOK is not None:\n"
        "        pod = COMMUNITYHUB_PREVIOUS_HOOK(spawner, pod)\n"
        "        if inspect.isawaitable(pod):\n"
        "            pod = await pod\n"
        "    groups = {group.name for group in spawner.user.groups}\n"
        "    container = pod.spec.containers[0]\n"
        "    for mount in COMMUNITYHUB_MOUNTS:\n"
        "        if mount['who'] == 'admins' and not spawner.user.admin:\n"
        "            continue\n"
        "        if mount['who'] == 'groups' and not groups.intersection(mount['groups']):\n"
        "            continue\n"
        "        container.volume_mounts = [*(container.volume_mounts or []), V1VolumeMount(\n"
        "            name=mount['name'], mount_path=mount['mountPath'], sub_path=mount['subPath'],\n"
        "            read_only=mount['readOnly'])]\n"
        "    return pod\n"
        "\n"
        "c.KubeSpawner.modify_pod_hook = communityhub_shared_directories\n"
    )


def server_resources(spec: CommunityHubSpec) -> dict[str, Any] | None:
    """singleuser.cpu and .memory of a hub without profiles (its environment.resources)."""
    r = spec.environment.resources
    if r is None:
        return None
    # None: no limit (helm then drops a limit the class's values set).
    memory = {"guarantee": spawner_memory(r.memory),
              "limit": None if "memory" in r.unlimited else spawner_memory(r.memory_limit or r.memory)}
    out: dict[str, Any] = {"memory": memory}
    cpu = {k: v for k, v in (("guarantee", r.cpu), ("limit", r.cpu_limit or r.cpu)) if v is not None}
    if "cpu" in r.unlimited:
        cpu["limit"] = None
    if cpu:
        out["cpu"] = cpu
    return out


def branding_vars(spec: CommunityHubSpec) -> dict[str, Any]:
    """The template variables of the spec's branding a class's templates read (org, funded_by)."""
    branding = spec.hub.branding
    if branding is None:
        return {}
    org = {k: v for k, v in (("name", branding.org_name), ("url", branding.org_url),
                             ("logo_url", branding.logo_url)) if v}
    funded = {k: v for k, v in (("name", branding.funded_by_name), ("url", branding.funded_by_url)) if v}
    return {k: v for k, v in (("org", org), ("funded_by", funded), ("learn_more", branding.learn_more)) if v}


def home_page(spec: CommunityHubSpec, catalog: HubClassSpec | None) -> dict[str, Any]:
    """The class's home page the hub picked (branding.homePage), at the class's path; nothing for a page the class
    does not offer (the hub step refuses it: policy.class_choice_refusal)."""
    page = spec.hub.branding.home_page if spec.hub.branding else None
    pages = catalog.home_pages if catalog is not None else None
    if page is None or pages is None or page not in pages.offered:
        return {}
    return nested(page, pages.values_path.split("."))


def gateway_route(spec: CommunityHubSpec, route: GatewayRoute) -> dict[str, Any]:
    """The chart's HTTPRoute for the hub's domain, attached to the class's Gateway (its listener's TLS)."""
    gateway = {"name": route.name, **({"namespace": route.namespace} if route.namespace else {}),
               **({"sectionName": route.section_name} if route.section_name else {})}
    return {"httpRoute": {"enabled": True, "hostnames": [spec.hub.domain], "gateway": gateway}}


def without_declined(class_values: Mapping[str, Any], spec: CommunityHubSpec,
                     catalog: HubClassSpec | None) -> dict[str, Any]:
    """The class's values less the parts the hub declines (hub.declinedValues), as a null in helm's merge removes
    them; a name the class does not offer removes nothing (the hub step refuses it)."""
    out = copy.deepcopy(dict(class_values))
    offered = catalog.optional_values if catalog is not None else {}
    for name in spec.hub.declined_values:
        for path in offered[name].paths if name in offered else ():
            _take(out, tuple(path.split(".")))
    return out


#: Where JupyterHub's own templates read their variables (and where branding goes without a class).
TEMPLATE_VARS_PATH = "hub.config.JupyterHub.template_vars"


def hub_settings(spec: CommunityHubSpec) -> dict[str, Any]:
    """hub.config.JupyterHub from the spec's announcement, login redirect and named servers (empty when it sets
    none of them); the rest of the branding goes where the class's templates read it (``values``)."""
    out: dict[str, Any] = {}
    branding = spec.hub.branding
    if branding is not None:
        if branding.announcement:
            out["template_vars"] = {"announcement": branding.announcement}
        if branding.login_redirect:
            out["default_url"] = branding.login_redirect
    named = spec.environment.named_servers
    if named is not None and named.enabled:
        out["allow_named_servers"] = True
        out["named_server_limit_per_user"] = named.limit_per_user or capacity.NAMED_SERVER_LIMIT
    return out


def service_config(name: str, token_env: str, scopes: Sequence[str]) -> str:
    """hub.extraConfig that registers one of the operator's services of the hub (usage: read-only; the serving
    check: the check user only) with a role of ``scopes``. The token is read from the environment (a Secret), so
    it never appears in values."""
    role = {"name": name, "scopes": list(scopes), "services": [name]}
    return (
        "import os\n"
        f"c.JupyterHub.services.append({{'name': {name!r}, 'api_token': os.environ[{token_env!r}]}})\n"
        f"c.JupyterHub.load_roles.append({json.dumps(role)})\n"
    )


def refuse_spawn_config(message: str) -> str:
    """hub.extraConfig that refuses every new user server with ``message`` (an enforced budget): JupyterHub
    shows it on the spawn page. Servers already running are not touched."""
    return (
        "from tornado import web\n"
        "\n"
        "def communityhub_refuse_spawn(spawner):\n"
        f"    raise web.HTTPError(403, {message!r})\n"
        "\n"
        "c.Spawner.pre_spawn_hook = communityhub_refuse_spawn\n"
    )


#: Pod Security Admission on every hub namespace: the chart's pods (with the iptables init container off) meet
#: `baseline`, which is enforced: no privileged, hostPath, host network or added capabilities. `restricted`
#: is reported (warn, audit) so the gap is visible.
POD_SECURITY = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}
#: The idle culler's timeout per archetype (seconds): classes free nodes fast, research runs long jobs.
CULL_TIMEOUT_SECONDS = {"education": 3600, "research": 4 * 3600, "partnership": 2 * 3600}
CULL_EVERY_SECONDS = 600
#: Requests of the hub's infrastructure pods: sized for a hub of a few hundred users.
PROXY_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
HUB_DB_STORAGE = "1Gi"
#: The port of the hub's REST API (the hub Service's), which the operator's metering reads.
HUB_API_PORT = 8081
#: The JupyterHub chart's hub Secret (services' tokens among its keys) and the hub's API inside the namespace, as
#: a hub's other releases (a gateway, a builder) reach them.
HUB_SECRET = "hub"
HUB_API_URL = f"http://hub:{HUB_API_PORT}/hub/api"


def production(spec: CommunityHubSpec, operator_namespace: str) -> dict[str, Any]:
    """The settings a production hub needs that are not the community's choice."""
    resources = spec.hub.resources
    return {
        "hub_resources": {"requests": {"cpu": f"{resources.cpu:g}", "memory": resources.memory},
                          "limits": {"memory": resources.memory}},
        "proxy_resources": PROXY_RESOURCES,
        "db_storage": HUB_DB_STORAGE,
        "cull_timeout": CULL_TIMEOUT_SECONDS[spec.community.archetype],
        "cull_every": CULL_EVERY_SECONDS,
        # On a shared cluster every hub's puller would put a pod on every user node: only on the hub's own.
        "continuous_puller": spec.placement.type == "dedicated",
        "operator_namespace": operator_namespace,
        "hub_api_port": HUB_API_PORT,
    }


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge rule: maps merge recursively, anything else in ``override`` wins."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


#: What a HubClass's values override of the operator's rendering: the provider's choices (scheduling and the
#: user scheduler, culling, pre-pulling, the proxy's resources and Service type, the hub database), where the
#: operator only offers a default. Everything else the operator renders (who logs in, images, profiles, storage, its own
#: wiring) is rendered from the CommunityHub and goes over the class.
PROVIDER_DEFAULT_PATHS: tuple[tuple[str, ...], ...] = (
    ("scheduling",), ("cull",), ("prePuller",), ("proxy", "chp", "resources"), ("proxy", "service", "type"),
    ("hub", "db"))


def nested(values: Any, keys: Sequence[str]) -> dict[str, Any]:
    """``values`` placed under ``keys`` (a values path, outermost first)."""
    for key in reversed(keys):
        values = {key: values}
    return values


def _take(tree: dict[str, Any], path: tuple[str, ...]) -> Any:
    """Remove the value at ``path`` (and parents it leaves empty); return it, or None when absent."""
    node = tree
    for key in path[:-1]:
        node = node.get(key)
        if not isinstance(node, dict):
            return None
    taken = node.pop(path[-1], None)
    if not node and len(path) > 1:
        _take(tree, path[:-1])
    return taken


def split_provider_defaults(rendered: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the operator's defaults a class may override, the rest), from one rendering."""
    rest = copy.deepcopy(rendered)
    defaults: dict[str, Any] = {}
    for path in PROVIDER_DEFAULT_PATHS:
        taken = _take(rest, path)
        if taken is not None:
            node = defaults
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = taken
    return defaults, rest


def per_hub(values: Any, namespace: str, name: str, domain: str | None = None,
            cluster_namespace: str | None = None) -> Any:
    """A class's per-hub values with this hub's names filled in: {hub.namespace} and {hub.name} (the
    CommunityHub's metadata), {hub.domain} (spec.hub.domain: a DNS name, no quote or brace can reach the values
    through it) and {hub.clusterNamespace} (the hub's namespace on its cluster, where its pods run), the last
    two where given. A value's other braces (KubeSpawner's {username}, say) stay as they are."""
    if isinstance(values, Mapping):
        return {key: per_hub(value, namespace, name, domain, cluster_namespace) for key, value in values.items()}
    if isinstance(values, list):
        return [per_hub(value, namespace, name, domain, cluster_namespace) for value in values]
    if isinstance(values, str):
        out = values.replace("{hub.namespace}", namespace).replace("{hub.name}", name)
        if domain is not None:
            out = out.replace("{hub.domain}", domain)
        if cluster_namespace is not None:
            out = out.replace("{hub.clusterNamespace}", cluster_namespace)
        return out
    return values


def layered(rendered: dict[str, Any], class_values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The operator's defaults < the class's base values < the rest of the operator's rendering."""
    if not class_values:
        return rendered
    defaults, rest = split_provider_defaults(rendered)
    return deep_merge(deep_merge(defaults, dict(class_values)), rest)


def values(namespace: str, name: str, spec: CommunityHubSpec,
           oidc_endpoints: Mapping[str, str] | None = None,
           operator_namespace: str = "communityhub-system", release: str | None = None,
           refuse_spawn: str | None = None, fleet_values: dict[str, Any] | None = None,
           class_values: Mapping[str, Any] | None = None, catalog: HubClassSpec | None = None,
           hub_namespace: str | None = None, keep_ingress: bool = False) -> dict[str, Any]:
    """The chart values for this hub (``hub_namespace``: its namespace on its cluster, when not the derived
    one), in layers (each over the one before): the chart's defaults (helm's), the
    operator's defaults, the HubClass's ``class_values``, what the operator renders from the spec, a
    FleetRollout's ``fleet_values``, then ``spec.hub.values``. With ``refuse_spawn``, new user servers are
    refused with that message (an enforced budget). ``catalog``: the HubClass whose node pools and images the
    profiles name. ``keep_ingress``: a hub moving onto its class's Gateway keeps its Ingress beside the new route
    until a Gateway accepts the route (no moment without one)."""
    class_name, config_key = AUTHENTICATORS[spec.auth.provider]
    image_name, image_tag = split_image(spec.environment.image)
    authenticator = auth_config(spec, oidc_endpoints, catalog)
    login = login_secret(spec)
    oauth = login is OAUTH_LOGIN
    text = templates().get_template("jupyterhub-values.yaml.j2").render(
        spec=spec,
        release=release or names.derive(namespace, name).release,
        labels=hub_labels(namespace, name, spec),
        auth={
            "authenticator_class": class_name,
            "config_key": config_key,
            "config": {**authenticator, "oauth_callback_url": callback_url(spec)} if oauth else authenticator,
            "secret_name": login[0] if login else None,
            "env": login[1] if login else {},
            "shared_password": SHARED_PASSWORD_CONFIG if spec.auth.provider == "sharedPassword" else None,
            "groups": github_groups_config(spec, authenticator),
            "pass_tokens": pass_tokens_config(spec),
        },
        environment={"image_name": image_name, "image_tag": image_tag, "profile_list": profile_list(spec, catalog),
                     "resources": server_resources(spec), "storage": storage(spec), "files": server_files(spec)},
        shared_directories=shared_directories_config(spec),
        profile_groups=profile_groups_config(spec),
        hub_settings=hub_settings(spec),
        users={"admins": login_names(spec, admin_names(spec, catalog)),
               "allowed": login_names(spec, spec.auth.allowed_users)},
        production=production(spec, operator_namespace),
        usage={"secret_name": USAGE_TOKEN_SECRET_NAME, "token_key": USAGE_TOKEN_KEY,
               "config": service_config(USAGE_SERVICE, "CHUB_USAGE_TOKEN", USAGE_SCOPES)},
        serving_check={"secret_name": serving.TOKEN_SECRET_NAME, "token_key": serving.TOKEN_KEY,
                       "env": serving.TOKEN_ENV,
                       "config": service_config(serving.SERVICE, serving.TOKEN_ENV, serving.SCOPES)},
        refuse_spawn=refuse_spawn_config(refuse_spawn) if refuse_spawn else None,
    )
    # libyaml: every pass renders the values to see whether helm has anything to do, and the pure-Python
    # loader took 95% of that (about 20 ms per hub per pass on this machine).
    rendered = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    branded = branding_vars(spec)
    if branded:
        path = catalog.branding_values_path if catalog is not None else TEMPLATE_VARS_PATH
        rendered = deep_merge(rendered, nested(branded, path.split(".")))
    if catalog is not None and catalog.per_hub_values:
        class_values = deep_merge(dict(class_values or {}), per_hub(
            catalog.per_hub_values, namespace, name, spec.hub.domain,
            hub_namespace or names.derive(namespace, name).namespace))
    if spec.hub.declined_values and class_values:
        class_values = without_declined(class_values, spec, catalog)
    page = home_page(spec, catalog)
    if page:
        rendered = deep_merge(rendered, page)
    rendered = layered(rendered, class_values)
    if catalog is not None and catalog.gateway_route is not None:
        rendered = deep_merge(rendered, gateway_route(spec, catalog.gateway_route))
        if not keep_ingress:
            rendered["ingress"] = {"enabled": False}  # not the class's, nor its annotations: the route replaces it
    if spec.environment.pre_pull is not None:  # the hub's own choice, over the class's default
        rendered.setdefault("prePuller", {}).setdefault("continuous", {})["enabled"] = spec.environment.pre_pull
    if catalog is not None and catalog.user_service_account_annotations:
        # The class's cloud identity for users: the ServiceAccount the hub step makes with its annotations.
        rendered["singleuser"]["serviceAccountName"] = names.derive(namespace, name).user_service_account
    if fleet_values:
        rendered = deep_merge(rendered, fleet_values)
    rendered = deep_merge(rendered, spec.hub.values)
    if spec.auth.provider == "temporary":
        # The cap on an open hub is the spec's, whatever a tenant's open values ask.
        cap = (spec.auth.temporary or TemporaryAuth()).max_concurrent_users
        hub_config = rendered["hub"]["config"]["JupyterHub"]
        hub_config["active_server_limit"] = min(int(hub_config.get("active_server_limit") or cap), cap)
    if spec.auth.provider == "none":
        # A hub anyone may use: its caps and culler are the spec's (bounded by its class), over any other layer;
        # each launch's user goes with its server.
        public = spec.auth.public or PublicAuth()
        rendered["hub"]["config"]["JupyterHub"]["active_server_limit"] = public.max_concurrent_users
        rendered["cull"] = {**rendered.get("cull", {}), "enabled": True, "users": True, "adminUsers": False,
                            "timeout": public.idle_minutes * 60, "maxAge": public.max_age_minutes * 60,
                            "every": min(CULL_EVERY_SECONDS, public.idle_minutes * 60)}
    return rendered


def values_hash(chart_ref: str, chart_version: str, rendered: dict[str, Any]) -> str:
    """Stable across runs and processes: what decides whether helm has anything to do."""
    blob = json.dumps({"chart": chart_ref, "version": chart_version, "values": rendered}, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:32]
