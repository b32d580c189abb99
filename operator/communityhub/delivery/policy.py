"""Pure policy decisions on a spec, each returning a Verdict with a reason a human can act on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from communityhub.api.conditions import Verdict
from communityhub.api.models import ESSENTIAL_MAX_PROFILES, CommunityHubSpec, HubClassSpec, Profile, TierRules
from communityhub.api.quantities import parse_memory
from communityhub.delivery import capacity, domains, homes

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
    """The Terraform environment from a credentials Secret, or why it is refused: a key that is not one of the
    cloud's credential variables, or a value not of the shape that variable takes (named; its value never).
    Shapes, not only keys: a credential can point its cloud's client at a file, a command or a URL (Google's
    ``external_account`` with a ``credential_source`` file or executable, a token URL of the sender's), which
    would read the operator's files and send them out."""
    allowed = CREDENTIAL_KEYS[cloud]
    foreign = sorted(k for k in data if k not in allowed)
    if foreign:
        return Verdict.false("CredentialsSecretInvalid",
                             f"Secret {secret} has keys that are not {cloud} credentials: {', '.join(foreign)}; "
                             f"allowed: {', '.join(allowed)}")
    try:
        env = {k: v.decode() for k, v in data.items()}
    except UnicodeDecodeError:
        return Verdict.false("CredentialsSecretInvalid", f"Secret {secret} has a value that is not text")
    for key, value in sorted(env.items()):
        if problem := credential_shape(key, value):
            return Verdict.false("CredentialsSecretInvalid", f"Secret {secret}: {key} {problem}")
    return env


#: A Google service account key's fields (what `gcloud iam service-accounts keys create` writes), and the values
#: of those that name where the client goes: Google's own endpoints only.
GCP_KEY_FIELDS = frozenset({"type", "project_id", "private_key_id", "private_key", "client_email", "client_id",
                            "auth_uri", "token_uri", "auth_provider_x509_cert_url", "client_x509_cert_url",
                            "universe_domain"})
GCP_REQUIRED = ("project_id", "private_key", "client_email")
GCP_ENDPOINTS = {
    "token_uri": ("https://oauth2.googleapis.com/token",),
    "auth_uri": ("https://accounts.google.com/o/oauth2/auth",),
    "auth_provider_x509_cert_url": ("https://www.googleapis.com/oauth2/v1/certs",),
    "universe_domain": ("googleapis.com",),
}
_PROJECT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9][-a-z0-9]{0,38}[a-z0-9]$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TOKEN = re.compile(r"^[A-Za-z0-9/+=._~-]{1,4096}$")
_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "GOOGLE_PROJECT": (_PROJECT, "a GCP project id"), "GOOGLE_CLOUD_PROJECT": (_PROJECT, "a GCP project id"),
    "AWS_ACCESS_KEY_ID": (re.compile(r"^[A-Z0-9]{12,128}$"), "an AWS access key id"),
    "AWS_SECRET_ACCESS_KEY": (_TOKEN, "an AWS secret access key"),
    "AWS_SESSION_TOKEN": (_TOKEN, "an AWS session token"),
    "AWS_REGION": (_REGION, "an AWS region"), "AWS_DEFAULT_REGION": (_REGION, "an AWS region"),
    "ARM_CLIENT_ID": (_UUID, "an Azure client id (a UUID)"), "ARM_TENANT_ID": (_UUID, "an Azure tenant id (a UUID)"),
    "ARM_SUBSCRIPTION_ID": (_UUID, "an Azure subscription id (a UUID)"),
    "ARM_CLIENT_SECRET": (re.compile(r"^[\x21-\x7e]{1,1024}$"), "an Azure client secret"),
    "LOCAL_CLOUD_TOKEN": (_TOKEN, "a token"),
}


def credential_shape(key: str, value: str) -> str | None:
    """What is wrong with a credential variable's value, in words that never repeat it; None when it fits."""
    if key == "GOOGLE_CREDENTIALS":
        return _gcp_key(value)
    pattern, what = _SHAPES[key]
    return None if pattern.match(value) else f"is not {what}"


def _gcp_key(value: str) -> str | None:
    try:
        key = json.loads(value)
    except ValueError:
        return ("is not a service account key (JSON): Google's client reads a path there as a file, which the "
                "operator does not allow")
    if not isinstance(key, dict) or key.get("type") != "service_account":
        kind = key.get("type") if isinstance(key, dict) else None
        return (f"is a credential of type {kind!r}, not a service account key: only type service_account is "
                f"accepted (an external_account or an authorized_user would have Google's client read files, run "
                f"commands or call URLs)" if kind else "is not a service account key (no type service_account)")
    if extra := sorted(set(key) - GCP_KEY_FIELDS):
        return f"has fields a service account key does not have: {', '.join(map(str, extra))}"
    if missing := [f for f in GCP_REQUIRED if not isinstance(key.get(f), str) or not key[f]]:
        return f"lacks {', '.join(missing)}"
    for field, allowed in GCP_ENDPOINTS.items():
        if field in key and key[field] not in allowed:
            return f"names its own {field}: a service account key's is Google's ({allowed[0]})"
    cert = key.get("client_x509_cert_url")
    if cert is not None and not str(cert).startswith("https://www.googleapis.com/robot/v1/metadata/x509/"):
        return "names its own client_x509_cert_url"
    if not _PROJECT.match(str(key["project_id"])):
        return "has a project_id that is not a GCP project id"
    if "-----BEGIN PRIVATE KEY-----" not in str(key["private_key"]):
        return "has a private_key that is not a PEM private key"
    return None


#: What spec.hub.values may set: paths into the chart's values that change neither who logs in, nor what runs
#: (images, extraConfig, commands), nor resources, security contexts, names the hub answers to (ingress class and
#: annotations: the class's, see INGRESS_ANNOTATIONS_PATH), the pages' templates, the culler's schedule, nor the
#: operator's own wiring. CHUB_HUB_VALUES_ALLOWED and a class's openValuePaths add paths (dotted), or `*` for any.
OPEN_VALUE_PATHS: tuple[tuple[str, ...], ...] = (
    ("hub", "config", "JupyterHub", "concurrent_spawn_limit"),
    ("hub", "config", "JupyterHub", "active_server_limit"),
    ("hub", "config", "KubeSpawner", "start_timeout"),
    ("hub", "config", "KubeSpawner", "http_timeout"),
    ("singleuser", "startTimeout"),
    ("singleuser", "extraEnv"),
    ("cull", "maxAge"),
    ("cull", "users"),
    ("cull", "removeNamedServers"),
)
#: Ingress annotations a hub may set: only the keys its class lists (HubClass spec.ingressAnnotations), since
#: annotations pick certificate issuers, DNS names and controller snippets for the whole cluster.
INGRESS_ANNOTATIONS_PATH = ("ingress", "annotations")
EXTRA_ENV_PATH = ("singleuser", "extraEnv")


def leaf_paths(values: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every path to a value that is not a non-empty map (lists and scalars are leaves)."""
    for key, value in values.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, path)
        else:
            yield path


def _at(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _plain_env(env: Any) -> list[str]:
    """The names of singleuser.extraEnv entries that are not a plain string value: a valueFrom would hand every
    user server a Secret of the hub's namespace (the hub's values, its keys, the proxy token, TLS keys)."""
    if isinstance(env, Mapping):
        return sorted(str(k) for k, v in env.items()
                      if not (isinstance(v, str) or (isinstance(v, Mapping) and set(v) <= {"value"}
                                                      and isinstance(v.get("value", ""), str))))
    if isinstance(env, list):
        return sorted(str(e.get("name", "?")) if isinstance(e, Mapping) else "?" for e in env
                      if not (isinstance(e, Mapping) and set(e) <= {"name", "value"}
                              and isinstance(e.get("value", ""), str)))
    return ["(not a map)"] if env is not None else []


def mount_refusal(dangling: Sequence[tuple[str, str]], storage_type: str) -> Verdict | None:
    """HubReady for values whose user pods the API server would refuse (``render.mounts_without_volume``'s mount
    paths and volumes): said before helm runs, not found by each user at their first spawn. None when there are
    none."""
    if not dangling:
        return None
    said = ", ".join(f"{path} (volume {volume!r})" for path, volume in dangling)
    need = " (a class's mounts of 'home' need environment.storage.type sharedNFS)" \
        if any(volume == "home" for _, volume in dangling) else ""
    return Verdict.false("MountWithoutVolume", f"users' servers could not start: they mount {said}, a volume a "
                                               f"{storage_type} home does not make{need}")


def staff_refusal(spec: CommunityHubSpec, hub_class: HubClassSpec | None, class_name: str | None) -> Verdict | None:
    """None unless hub.staffAdmins names a kind of staff account its class does not list."""
    kind = spec.hub.staff_admins
    if kind is None or (hub_class is not None and kind in hub_class.staff_users):
        return None
    kinds = sorted(hub_class.staff_users) if hub_class is not None else []
    return Verdict.false("StaffNotInClass",
                         f"hub.staffAdmins is {kind}; HubClass {class_name} lists no staff of that kind (its "
                         f"staffUsers: {', '.join(kinds) or 'none'})")


def class_choice_refusal(spec: CommunityHubSpec, hub_class: HubClassSpec | None,
                         class_name: str | None) -> Verdict | None:
    """None unless the hub picks what its class does not offer: a part of its values to go without
    (hub.declinedValues), or a home page (branding.homePage)."""
    offered = hub_class.optional_values if hub_class is not None else {}
    unknown = [n for n in spec.hub.declined_values if n not in offered]
    if unknown:
        return Verdict.false("ValuesNotOptional",
                             f"hub.declinedValues names {', '.join(unknown)}; HubClass {class_name} offers "
                             f"{', '.join(sorted(offered)) or 'no optional values'}")
    page = spec.hub.branding.home_page if spec.hub.branding else None
    pages = hub_class.home_pages if hub_class is not None else None
    if page is not None and (pages is None or page not in pages.offered):
        return Verdict.false("HomePageNotOffered",
                             f"branding.homePage is {page}; HubClass {class_name} offers "
                             f"{', '.join(pages.offered) if pages else 'no choice of home page'}")
    return None


def hub_refusal(spec: CommunityHubSpec, hub_class: HubClassSpec | None, class_name: str | None,
                operator_open_paths: Sequence[str] = ()) -> Verdict | None:
    """HubReady's refusals of the spec against its class, before any values are rendered (the hub step and
    `hubctl plan` both ask): its open values, its domain, its staff, and what it picks of the class."""
    open_paths = [*operator_open_paths, *(hub_class.open_value_paths if hub_class else ())]
    return (hub_values(spec.hub.values, open_paths, hub_class.ingress_annotations if hub_class else ())
            or domains.suffix_refusal(spec.hub.domain, hub_class.hub_domains if hub_class else (), class_name)
            or staff_refusal(spec, hub_class, class_name)
            or class_choice_refusal(spec, hub_class, class_name))


def hub_values(values: Mapping[str, Any], extra_allowed: Sequence[str] = (),
               ingress_annotations: Sequence[str] = ()) -> Verdict | None:
    """None when every key of spec.hub.values is one a hub author may set; else False naming the others.
    ``ingress_annotations``: the annotation keys the hub's class lets its hubs put on their ingress."""
    if "*" in extra_allowed:
        return None
    allowed = [*OPEN_VALUE_PATHS, *(tuple(p.split(".")) for p in extra_allowed if p)]
    annotations_open = any(INGRESS_ANNOTATIONS_PATH[:len(p)] == p for p in allowed)
    refused = []
    for path in leaf_paths(values):
        if path[:2] == INGRESS_ANNOTATIONS_PATH and not annotations_open:
            if len(path) == 3 and path[2] in ingress_annotations:
                continue
            refused.append(".".join(path) + (" (the class allows no ingress annotations)" if not ingress_annotations
                                             else f" (the class allows {', '.join(ingress_annotations)})"))
        elif not any(path[:len(prefix)] == prefix for prefix in allowed):
            refused.append(".".join(path))
    # valueFrom stays refused unless the provider itself opened singleuser.extraEnv (or a path above it).
    env_opened = any(EXTRA_ENV_PATH[:len(p)] == p for p in allowed[len(OPEN_VALUE_PATHS):])
    not_plain = _plain_env(_at(values, EXTRA_ENV_PATH)) if not refused and not env_opened else []
    if not_plain:
        return Verdict.false(
            "ValuesNotAllowed",
            f"spec.hub.values singleuser.extraEnv {', '.join(not_plain)}: a hub's environment variables are plain "
            f"strings (a valueFrom would give every user server a Secret of the hub's namespace)")
    if not refused:
        return None
    shown = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
    return Verdict.false(
        "ValuesNotAllowed",
        f"spec.hub.values sets {shown}: the operator owns these (auth, images, profiles, resources, extraConfig, "
        f"security, ingress, templates, the culler's schedule); use the CommunityHub's own fields. Open to hubs: "
        f"{', '.join('.'.join(p) for p in OPEN_VALUE_PATHS)}, and the ingress annotations the HubClass lists "
        f"(more with the class's openValuePaths or the operator setting CHUB_HUB_VALUES_ALLOWED)")


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
    limits = capacity.bounds(spec, hub_class, tier_rules(spec, hub_class))
    return limits.server_cpu, limits.server_memory


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
    if p.unlimited and not rules.unlimited:
        return Verdict.false("ProfileNotInTier", f"profile {p.name} has no {' and no '.join(p.unlimited)} limit; "
                                                 f"{tier} membership's servers have limits (the class's "
                                                 f"tiers.{tier}.unlimited)")
    if p.unlimited and not p.node_pool:
        return Verdict.false("UnlimitedNeedsNodePool", f"profile {p.name} has no {' and no '.join(p.unlimited)} "
                                                       f"limit without a nodePool: its node is what bounds it")
    if not rules.gpu and p.gpu:
        return Verdict.false("ProfileNotInTier",
                             f"profile {p.name} asks for GPUs; {tier} membership has no GPU profiles")
    if p.gpu and not p.node_pool:
        return Verdict.false("GpuNeedsNodePool",
                             f"profile {p.name} asks for {p.gpu} GPU without a nodePool: a GPU profile runs on a GPU "
                             f"pool of the HubClass's catalog, which prices its GPUs")
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
        # The scheduler places a server by what it is guaranteed (its requests); a limit above the node's size
        # only lets it burst into what the node has free, as real hubs do.
        cpu_request = p.cpu or 0.0
        if cpu_request > pool.cpu or parse_memory(p.memory) > parse_memory(pool.memory):
            return Verdict.false("ProfileExceedsNodePool",
                                 f"profile {p.name} is guaranteed {cpu_request:g} CPU and {p.memory}; a node of pool "
                                 f"{pool.name} ({pool.machine_type}) gives a server at most {pool.cpu:g} CPU and "
                                 f"{pool.memory}")
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
    if (p.unlisted_image or p.image_building) and not rules.unlisted_image:
        what = "build an image" if p.image_building else "type an image"
        return Verdict.false("ProfileNotInTier",
                             f"profile {p.name} lets users {what}; {tier} membership offers listed images only")
    return None


def sized(p: Profile) -> list[Profile]:
    """The profile as each of its sizes makes it (checked like a profile of their own)."""
    return [p.model_copy(update={"name": f"{p.name}/{s.name}", "cpu": s.cpu, "memory": s.memory,
                                 "cpu_limit": s.cpu_limit, "memory_limit": s.memory_limit, "gpu": s.gpu,
                                 "node_pool": s.node_pool or p.node_pool, "unlimited": s.unlimited, "sizes": []})
            for s in p.sizes]


def environment(spec: CommunityHubSpec, hub_class: HubClassSpec | None = None) -> Verdict:
    """Is this software environment within the policy of the membership tier and the archetype (the hub's
    HubClass's, where it sets them), and do its profiles name what the class's catalog has?"""
    archetype, tier = spec.community.archetype, spec.community.membership
    max_cpu, max_mem = archetype_limits(spec, hub_class)
    rules = tier_rules(spec, hub_class)
    profiles = spec.environment.profiles
    for p in profiles:
        for variant in (p, *sized(p)):
            if refused := _profile(variant, spec, hub_class, rules, max_cpu, max_mem):
                return refused
    if refused := capacity.refusal(spec, capacity.bounds(spec, hub_class, rules)):
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
    if refused := homes.refusal(spec, hub_class):
        return refused
    if spec.environment.pre_pull and spec.placement.type != "dedicated" and \
            not (hub_class is not None and hub_class.hubs_may_pre_pull):
        return Verdict.false("PrePullNotOffered",
                             "environment.prePull puts a pod of this hub on every user node its servers may use; on "
                             "a shared cluster only a class whose hubs have nodes of their own allows it (its "
                             "hubsMayPrePull)")
    resources = spec.environment.resources
    if resources is not None and resources.unlimited and not rules.unlimited:
        return Verdict.false("ServerNotInTier", f"environment.resources has no {' and no '.join(resources.unlimited)} "
                                                f"limit; {tier} membership's servers have limits (the class's "
                                                f"tiers.{tier}.unlimited)")
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
    if env.storage.quota is not None:
        home += f", at most {env.storage.quota.per_user} each"
    return f"image {env.image}, profiles: {names}, {home}, default URL {env.default_url}"
