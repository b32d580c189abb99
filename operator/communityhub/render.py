"""Pure rendering: a CommunityHub spec -> the JupyterHub chart's values (and the names around them).

Nothing here talks to a cluster: the same spec always renders the same values, whose hash tells
the hub step whether a Helm upgrade is due.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from functools import cache
from typing import Any

import jinja2
import yaml

from communityhub.api.models import CommunityHubSpec

OAUTH_SECRET_NAME = "hub-oauth-client"

#: The chart's authenticator_class entry point and config section, per SSO provider.
AUTHENTICATORS = {
    "github": ("github", "GitHubOAuthenticator"),
    "cilogon": ("cilogon", "CILogonOAuthenticator"),
    "oidc": ("generic-oauth", "GenericOAuthenticator"),
}


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("communityhub", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # YAML, not HTML
        keep_trailing_newline=True,
    )


def hub_namespace(namespace: str, name: str) -> str:
    """The hub's own namespace on its cluster: readable, unique per CommunityHub, a valid DNS label."""
    candidate = f"hub-{namespace}-{name}"
    if len(candidate) <= 63:
        return candidate
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:8]
    return f"{candidate[:54].rstrip('-')}-{digest}"


def label_value(text: str) -> str:
    """A label-safe form of free text (<= 63 chars, alphanumeric at both ends)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:63].rstrip("-_.")
    return slug or "unnamed"


def hub_labels(namespace: str, name: str, spec: CommunityHubSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "communityhub-operator",
        "hubs.2i2c.org/hub": label_value(name),
        "hubs.2i2c.org/hub-namespace": label_value(namespace),
        "hubs.2i2c.org/community": label_value(spec.community.display_name),
        "hubs.2i2c.org/archetype": spec.community.archetype,
    }


def hub_url(spec: CommunityHubSpec) -> str:
    return f"https://{spec.hub.domain}"


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


def auth_config(spec: CommunityHubSpec) -> dict[str, Any]:
    """The authenticator section for the chosen provider, with the keys oauthenticator reads."""
    auth = spec.auth
    config: dict[str, Any]
    if auth.provider == "github" and auth.github:
        org = auth.github.organization
        config = {
            "allowed_organizations": [f"{org}:{t}" for t in auth.github.teams] or [org],
            "scope": ["read:org"],
        }
    elif auth.provider == "cilogon" and auth.cilogon:
        idps: dict[str, Any] = {}
        for idp in auth.cilogon.allowed_idps:
            entry: dict[str, Any] = {"username_derivation": {"username_claim": idp.username_claim}}
            if idp.allowed_domains:
                entry["allowed_domains"] = list(idp.allowed_domains)
            idps[idp.entity_id] = entry
        config = {"allowed_idps": idps, "scope": ["openid", "email", "org.cilogon.userinfo"]}
    elif auth.provider == "oidc" and auth.oidc:
        issuer = auth.oidc.issuer.rstrip("/")
        # GenericOAuthenticator does no discovery; these are the common endpoint paths. The SSO step
        # replaces them with the issuer's /.well-known/openid-configuration where it can read it.
        config = {
            "authorize_url": f"{issuer}/authorize",
            "token_url": f"{issuer}/token",
            "userdata_url": f"{issuer}/userinfo",
            "username_claim": auth.oidc.username_claim,
            "scope": list(auth.oidc.scopes),
            "login_service": issuer.removeprefix("https://"),
        }
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


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge rule: maps merge recursively, anything else in ``override`` wins."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def values(namespace: str, name: str, spec: CommunityHubSpec) -> dict[str, Any]:
    """The chart values for this hub: rendered from the spec, then ``spec.hub.values`` merged last."""
    class_name, config_key = AUTHENTICATORS[spec.auth.provider]
    image_name, image_tag = split_image(spec.environment.image)
    text = _environment().get_template("jupyterhub-values.yaml.j2").render(
        spec=spec,
        release=name,
        labels=hub_labels(namespace, name, spec),
        auth={
            "authenticator_class": class_name,
            "config_key": config_key,
            "config": auth_config(spec),
            "secret_name": OAUTH_SECRET_NAME,
            "callback_url": f"{hub_url(spec)}/hub/oauth_callback",
        },
        environment={"image_name": image_name, "image_tag": image_tag, "profile_list": profile_list(spec)},
    )
    rendered = yaml.safe_load(text)
    return deep_merge(rendered, spec.hub.values)


def values_hash(chart_ref: str, chart_version: str, rendered: dict[str, Any]) -> str:
    """Stable across runs and processes: what decides whether helm has anything to do."""
    blob = json.dumps({"chart": chart_ref, "version": chart_version, "values": rendered}, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:32]
