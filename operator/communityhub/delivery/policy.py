"""Pure policy decisions on a spec, each returning a Verdict with a reason a human can act on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from communityhub.api.conditions import Verdict
from communityhub.api.models import ESSENTIAL_MAX_PROFILES, CommunityHubSpec
from communityhub.api.quantities import parse_memory

#: Largest profile per archetype (CPU cores, memory bytes): the standard platform, not one-offs.
PROFILE_LIMITS = {
    "education": (4.0, parse_memory("16Gi")),
    "research": (32.0, parse_memory("256Gi")),
    "partnership": (64.0, parse_memory("512Gi")),
}


#: The environment variables each cloud's Terraform provider reads its credentials from: the only keys of a
#: credentials Secret that reach Terraform (no file paths, nothing that changes how Terraform runs).
CREDENTIAL_KEYS = {
    "gcp": ("GOOGLE_CREDENTIALS", "GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT"),
    "aws": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "azure": ("ARM_CLIENT_ID", "ARM_CLIENT_SECRET", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID"),
    "local": ("LOCAL_CLOUD_TOKEN",),
}


def credential_env(cloud: str, data: Mapping[str, bytes], secret: str) -> dict[str, str] | Verdict:
    """The Terraform environment from a credentials Secret, or why it is refused (a key that is not one of
    the cloud's credential variables, named; its value never)."""
    allowed = CREDENTIAL_KEYS[cloud]
    foreign = sorted(k for k in data if k not in allowed)
    if foreign:
        return Verdict.false("CredentialsSecretInvalid",
                             f"Secret {secret} has keys that are not {cloud} credentials: {', '.join(foreign)}; "
                             f"allowed: {', '.join(allowed)}")
    return {k: v.decode() for k, v in data.items()}


#: What spec.hub.values may set: paths into the chart's values that change neither who logs in, nor what runs
#: (images, extraConfig, commands), nor resources, security contexts or the operator's own wiring.
#: CHUB_HUB_VALUES_ALLOWED adds paths (dotted), or `*` for any.
OPEN_VALUE_PATHS: tuple[tuple[str, ...], ...] = (
    ("ingress", "annotations"),
    ("ingress", "ingressClassName"),
    ("proxy", "service", "annotations"),
    ("hub", "config", "JupyterHub", "concurrent_spawn_limit"),
    ("hub", "config", "JupyterHub", "active_server_limit"),
    ("hub", "config", "JupyterHub", "template_vars"),
    ("hub", "config", "KubeSpawner", "start_timeout"),
    ("hub", "config", "KubeSpawner", "http_timeout"),
    ("singleuser", "startTimeout"),
    ("singleuser", "extraEnv"),
    ("cull", "every"),
    ("cull", "maxAge"),
    ("cull", "users"),
    ("cull", "removeNamedServers"),
)


def leaf_paths(values: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every path to a value that is not a non-empty map (lists and scalars are leaves)."""
    for key, value in values.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, path)
        else:
            yield path


def hub_values(values: Mapping[str, Any], extra_allowed: Sequence[str] = ()) -> Verdict | None:
    """None when every key of spec.hub.values is one a hub author may set; else False naming the others."""
    if "*" in extra_allowed:
        return None
    allowed = [*OPEN_VALUE_PATHS, *(tuple(p.split(".")) for p in extra_allowed if p)]
    refused = [".".join(path) for path in leaf_paths(values)
               if not any(path[:len(prefix)] == prefix for prefix in allowed)]
    if not refused:
        return None
    shown = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
    return Verdict.false(
        "ValuesNotAllowed",
        f"spec.hub.values sets {shown}: the operator owns these (auth, images, profiles, resources, extraConfig, "
        f"security); use the CommunityHub's own fields. Open to hubs: "
        f"{', '.join('.'.join(p) for p in OPEN_VALUE_PATHS)} (more with the operator setting "
        f"CHUB_HUB_VALUES_ALLOWED)")


def environment(spec: CommunityHubSpec) -> Verdict:
    """Is this software environment within the membership tier's and archetype's policy?"""
    archetype, tier = spec.community.archetype, spec.community.membership
    max_cpu, max_mem = PROFILE_LIMITS[archetype]
    profiles = spec.environment.profiles
    for p in profiles:
        if p.cpu > max_cpu or parse_memory(p.memory) > max_mem:
            return Verdict.false(
                "ProfileExceedsLimits",
                f"profile {p.name} asks for {p.cpu:g} CPU and {p.memory}; {archetype} hubs allow at most "
                f"{max_cpu:g} CPU and {max_mem // 2**30}Gi per profile")
        if tier == "essential" and p.gpu:
            return Verdict.false("ProfileNotInTier",
                                 f"profile {p.name} asks for GPUs; essential membership has no GPU profiles")
        if tier == "essential" and p.image:
            return Verdict.false("ProfileNotInTier",
                                 f"profile {p.name} sets its own image; essential membership uses the hub's image")
    if tier == "essential" and len(profiles) > ESSENTIAL_MAX_PROFILES:
        return Verdict.false("TooManyProfiles",
                             f"essential membership offers at most {ESSENTIAL_MAX_PROFILES} profiles, "
                             f"{len(profiles)} given")
    return Verdict.unknown("EnvironmentRendered", describe_environment(spec))


def describe_environment(spec: CommunityHubSpec) -> str:
    env = spec.environment
    names = ", ".join(p.name for p in env.profiles) or "one default server"
    return f"image {env.image}, profiles: {names}, home {env.home_storage}, default URL {env.default_url}"
