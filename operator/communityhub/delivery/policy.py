"""Pure policy decisions on a spec, each returning a Verdict with a reason a human can act on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from communityhub.api.conditions import Verdict
from communityhub.api.models import ESSENTIAL_MAX_PROFILES, CommunityHubSpec, HubClassSpec, Profile, TierRules
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


#: The variables of a pod's own cloud identity (workload identity) that reach Terraform for provider-account
#: clusters with CHUB_PROVIDER_CREDENTIALS=workload-identity: federation token files and the identity to assume,
#: never a static secret. GKE's Workload Identity answers through the metadata server: nothing to pass.
WORKLOAD_IDENTITY_KEYS = {
    "gcp": ("GOOGLE_CLOUD_PROJECT",),
    "aws": ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_REGION",
            "AWS_DEFAULT_REGION", "AWS_STS_REGIONAL_ENDPOINTS", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
    "azure": ("ARM_USE_OIDC", "ARM_OIDC_TOKEN_FILE_PATH", "ARM_USE_MSI", "ARM_CLIENT_ID", "ARM_TENANT_ID",
              "ARM_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
              "AZURE_AUTHORITY_HOST"),
    "local": ("LOCAL_CLOUD_TOKEN",),
}


def workload_identity_env(cloud: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The operator pod's own cloud identity, for Terraform: only the cloud's federation variables."""
    return {k: environ[k] for k in WORKLOAD_IDENTITY_KEYS[cloud] if environ.get(k)}


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


#: The operator's tier rules, for a tier its HubClass leaves out (or a hub without a class).
DEFAULT_TIERS: dict[str, TierRules] = {
    "general": TierRules(),
    "premier": TierRules(),
    "essential": TierRules(gpu=False, own_images=False, unlisted_image=False, max_profiles=ESSENTIAL_MAX_PROFILES),
}


def tier_rules(spec: CommunityHubSpec, hub_class: HubClassSpec | None = None) -> TierRules:
    """What the hub's membership tier may use: its class's rules for the tier, else the operator's."""
    tier = spec.community.membership
    own = getattr(hub_class.tiers, tier) if hub_class is not None else None
    return own if own is not None else DEFAULT_TIERS[tier]


def archetype_limits(spec: CommunityHubSpec, hub_class: HubClassSpec | None = None) -> tuple[float, int]:
    """The largest server of the hub's archetype (CPU cores, memory bytes): its class's, else the operator's."""
    archetype = spec.community.archetype
    own = getattr(hub_class.archetypes, archetype) if hub_class is not None else None
    return (own.cpu, parse_memory(own.memory)) if own is not None else PROFILE_LIMITS[archetype]


def _catalog_message(kind: str, name: str, available: Sequence[str], hub_class: HubClassSpec | None) -> str:
    if hub_class is None:
        return f"{kind} {name} comes from a HubClass's catalog, and this hub has no HubClass"
    return f"{kind} {name} is not in the HubClass's catalog (it has: {', '.join(available) or 'none'})"


def _profile(p: Profile, spec: CommunityHubSpec, hub_class: HubClassSpec | None, rules: TierRules,
             max_cpu: float, max_mem: int) -> Verdict | None:
    """The first rule one profile breaks, or None."""
    archetype, tier = spec.community.archetype, spec.community.membership
    cpu, memory = p.cpu_limit or p.cpu or 0.0, p.memory_limit or p.memory
    if cpu > max_cpu or parse_memory(memory) > max_mem:
        return Verdict.false(
            "ProfileExceedsLimits",
            f"profile {p.name} asks for {cpu:g} CPU and {memory}; {archetype} hubs allow at most "
            f"{max_cpu:g} CPU and {max_mem // 2**30}Gi per profile")
    if not rules.gpu and p.gpu:
        return Verdict.false("ProfileNotInTier",
                             f"profile {p.name} asks for GPUs; {tier} membership has no GPU profiles")
    if not rules.own_images and p.image:
        return Verdict.false("ProfileNotInTier",
                             f"profile {p.name} sets its own image; {tier} membership uses the hub's image")
    if p.node_pool:
        pools = {pool.name: pool for pool in hub_class.node_pools} if hub_class else {}
        pool = pools.get(p.node_pool)
        if pool is None:
            return Verdict.false("NotInCatalog", f"profile {p.name}: " + _catalog_message(
                "node pool", p.node_pool, sorted(pools), hub_class))
        if rules.node_pools is not None and p.node_pool not in rules.node_pools:
            return Verdict.false("ProfileNotInTier", f"profile {p.name} runs on node pool {p.node_pool}; {tier} "
                                                     f"membership may use {', '.join(rules.node_pools) or 'none'}")
        if cpu > pool.cpu or parse_memory(memory) > parse_memory(pool.memory):
            return Verdict.false("ProfileExceedsNodePool",
                                 f"profile {p.name} asks for {cpu:g} CPU and {memory}; a node of pool {pool.name} "
                                 f"({pool.machine_type}) gives a server at most {pool.cpu:g} CPU and {pool.memory}")
        if p.gpu and (pool.gpu is None or p.gpu > pool.gpu.count):
            has = f"{pool.gpu.count} {pool.gpu.type}" if pool.gpu else "no"
            return Verdict.false("ProfileExceedsNodePool", f"profile {p.name} asks for {p.gpu} GPU; a node of pool "
                                                           f"{pool.name} has {has} GPU")
    if p.image_choices:
        images = [image.name for image in hub_class.images] if hub_class else []
        for name in p.image_choices:
            if name not in images:
                return Verdict.false("NotInCatalog", f"profile {p.name}: " + _catalog_message(
                    "image", name, images, hub_class))
            if rules.images is not None and name not in rules.images:
                return Verdict.false("ProfileNotInTier", f"profile {p.name} offers image {name}; {tier} membership "
                                                         f"may offer {', '.join(rules.images) or 'none'}")
    if p.content is not None:
        if hub_class is None or not hub_class.content_puller:
            return Verdict.false("ContentNotOffered", f"profile {p.name} pulls {p.content.repository}; that needs a "
                                                      f"HubClass with a contentPuller image")
        if spec.environment.storage.type == "none":
            return Verdict.false("ContentNeedsHome", f"profile {p.name} pulls {p.content.repository} into the home, "
                                                     f"and environment.storage.type is none")
    if p.unlisted_image and not rules.unlisted_image:
        return Verdict.false("ProfileNotInTier",
                             f"profile {p.name} lets users type an image; {tier} membership offers listed images only")
    return None


def environment(spec: CommunityHubSpec, hub_class: HubClassSpec | None = None) -> Verdict:
    """Is this software environment within the policy of the membership tier and the archetype (the hub's
    HubClass's, where it sets them), and do its profiles name what the class's catalog has?"""
    archetype, tier = spec.community.archetype, spec.community.membership
    max_cpu, max_mem = archetype_limits(spec, hub_class)
    rules = tier_rules(spec, hub_class)
    profiles = spec.environment.profiles
    for p in profiles:
        if refused := _profile(p, spec, hub_class, rules, max_cpu, max_mem):
            return refused
    if rules.max_profiles is not None and len(profiles) > rules.max_profiles:
        return Verdict.false("TooManyProfiles",
                             f"{tier} membership offers at most {rules.max_profiles} profiles, "
                             f"{len(profiles)} given")
    if spec.environment.storage.type == "sharedNFS" and (hub_class is None or hub_class.shared_storage is None):
        return Verdict.false("SharedStorageNotOffered",
                             "environment.storage.type sharedNFS needs a HubClass that offers shared storage "
                             "(spec.sharedStorage: a ReadWriteMany StorageClass); "
                             + ("this hub has no HubClass" if hub_class is None else "its HubClass offers none"))
    resources = spec.environment.resources
    if resources is not None:
        cpu, memory = resources.cpu_limit or resources.cpu or 0.0, resources.memory_limit or resources.memory
        if cpu > max_cpu or parse_memory(memory) > max_mem:
            return Verdict.false("ServerExceedsLimits",
                                 f"environment.resources asks for {cpu:g} CPU and {memory}; {archetype} hubs allow "
                                 f"at most {max_cpu:g} CPU and {max_mem // 2**30}Gi per server")
    return Verdict.unknown("EnvironmentRendered", describe_environment(spec))


def describe_environment(spec: CommunityHubSpec) -> str:
    env = spec.environment
    names = ", ".join(p.name for p in env.profiles) or "one default server"
    home = {"perUserVolume": f"home {env.home_storage}", "none": "no home that outlives a server",
            "sharedNFS": "home on the hub's shared volume"}[env.storage.type]
    shared = ", ".join(d.mount_path for d in env.storage.shared_directories)
    if shared:
        home += f" (shared: {shared})"
    return f"image {env.image}, profiles: {names}, {home}, default URL {env.default_url}"
