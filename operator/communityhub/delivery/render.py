"""Pure rendering: a CommunityHub spec -> the JupyterHub chart's values (and the names around them).

Nothing here talks to a cluster: the same spec always renders the same values, whose hash tells
the hub step whether a Helm upgrade is due.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2
import markupsafe
import yaml
from jinja2.utils import htmlsafe_json_dumps

from communityhub.api.models import CommunityHubSpec
from communityhub.delivery import names

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
USAGE_SCOPES = ("list:users", "read:users:activity", "read:servers")

#: The chart's authenticator_class entry point and config section, per SSO provider.
AUTHENTICATORS = {
    "github": ("github", "GitHubOAuthenticator"),
    "cilogon": ("cilogon", "CILogonOAuthenticator"),
    "oidc": ("generic-oauth", "GenericOAuthenticator"),
}


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


def auth_config(spec: CommunityHubSpec, oidc_endpoints: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The authenticator section for the chosen provider, with the keys oauthenticator (>= 17) reads.

    Since oauthenticator 16 nobody is let in without an allow rule, so every provider renders one:
    GitHub organization/team membership, CILogon per identity provider (its email domains, else
    ``allow_all`` for that provider), OIDC groups, else ``allow_all`` for the issuer's users.
    ``oidc_endpoints`` are the issuer's discovered endpoints (GenericOAuthenticator does no discovery).
    """
    auth = spec.auth
    config: dict[str, Any]
    if auth.provider == "github" and auth.github:
        org = auth.github.organization
        config = {
            "allowed_organizations": [f"{org}:{t}" for t in auth.github.teams] or [org],
            "scope": ["read:org"],  # membership of private organizations and teams
        }
    elif auth.provider == "cilogon" and auth.cilogon:
        idps: dict[str, Any] = {}
        for idp in auth.cilogon.allowed_idps:
            entry: dict[str, Any] = {"username_derivation": {"username_claim": idp.username_claim}}
            if idp.allowed_domains:
                entry["allowed_domains"] = list(idp.allowed_domains)
            else:
                entry["allow_all"] = True
            idps[idp.entity_id] = entry
        config = {"allowed_idps": idps, "scope": ["openid", "email", "org.cilogon.userinfo"]}
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
        if oidc.allowed_groups or oidc.admin_groups:
            config["manage_groups"] = True  # oauthenticator 17: group rules need managed groups
            config["auth_state_groups_key"] = f"oauth_user.{oidc.groups_claim}"
        if oidc.allowed_groups:
            config["allowed_groups"] = list(oidc.allowed_groups)
        elif not auth.allowed_users:
            config["allow_all"] = True
        if oidc.admin_groups:
            config["admin_groups"] = list(oidc.admin_groups)
    else:  # the CRD's CEL rules make this unreachable for admitted objects
        raise ValueError(f"auth.{auth.provider} settings are missing")
    return config


def profile_list(spec: CommunityHubSpec) -> list[dict[str, Any]]:
    """KubeSpawner's profile_list: one entry per profile, resources as guarantee = limit."""
    profiles = []
    for p in spec.environment.profiles:
        override: dict[str, Any] = {
            "cpu_guarantee": p.cpu, "cpu_limit": p.cpu,
            "mem_guarantee": p.memory, "mem_limit": p.memory,
        }
        if p.gpu:
            override["extra_resource_guarantees"] = {"nvidia.com/gpu": str(p.gpu)}
            override["extra_resource_limits"] = {"nvidia.com/gpu": str(p.gpu)}
        if p.image:
            override["image"] = p.image
        entry: dict[str, Any] = {
            "display_name": p.display_name or p.name,
            "slug": p.name,
            "description": f"{p.cpu:g} CPU, {p.memory} memory" + (f", {p.gpu} GPU" if p.gpu else ""),
            "kubespawner_override": override,
        }
        if p.default:
            entry["default"] = True
        profiles.append(entry)
    return profiles


def usage_service_config() -> str:
    """hub.extraConfig that registers the operator's usage service with a read-only role. The token is read
    from the environment (a Secret), so it never appears in values."""
    role = {"name": USAGE_SERVICE, "scopes": list(USAGE_SCOPES), "services": [USAGE_SERVICE]}
    return (
        "import os\n"
        f"c.JupyterHub.services.append({{'name': {USAGE_SERVICE!r}, 'api_token': os.environ['CHUB_USAGE_TOKEN']}})\n"
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


def values(namespace: str, name: str, spec: CommunityHubSpec,
           oidc_endpoints: Mapping[str, str] | None = None,
           operator_namespace: str = "communityhub-system", release: str | None = None,
           refuse_spawn: str | None = None, fleet_values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The chart values for this hub: rendered from the spec, a FleetRollout's ``fleet_values`` over them, then
    ``spec.hub.values`` merged last; with ``refuse_spawn``, new user servers are refused with that message (an
    enforced budget)."""
    class_name, config_key = AUTHENTICATORS[spec.auth.provider]
    image_name, image_tag = split_image(spec.environment.image)
    text = templates().get_template("jupyterhub-values.yaml.j2").render(
        spec=spec,
        release=release or names.derive(namespace, name).release,
        labels=hub_labels(namespace, name, spec),
        auth={
            "authenticator_class": class_name,
            "config_key": config_key,
            "config": {**auth_config(spec, oidc_endpoints), "oauth_callback_url": callback_url(spec)},
            "secret_name": OAUTH_SECRET_NAME,
        },
        environment={"image_name": image_name, "image_tag": image_tag, "profile_list": profile_list(spec)},
        production=production(spec, operator_namespace),
        usage={"secret_name": USAGE_TOKEN_SECRET_NAME, "token_key": USAGE_TOKEN_KEY, "config": usage_service_config()},
        refuse_spawn=refuse_spawn_config(refuse_spawn) if refuse_spawn else None,
    )
    # libyaml: every pass renders the values to see whether helm has anything to do, and the pure-Python
    # loader took 95% of that (about 20 ms per hub per pass on this machine).
    rendered = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if fleet_values:
        rendered = deep_merge(rendered, fleet_values)
    return deep_merge(rendered, spec.hub.values)


def values_hash(chart_ref: str, chart_version: str, rendered: dict[str, Any]) -> str:
    """Stable across runs and processes: what decides whether helm has anything to do."""
    blob = json.dumps({"chart": chart_ref, "version": chart_version, "values": rendered}, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:32]
