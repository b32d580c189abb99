"""What one hub may take of a shared cluster (pure): the bounds of its archetype and tier, the ResourceQuota and
LimitRange of its namespace (builders that return the objects to apply), and what the quota's status says.

A tenant edits its CommunityHub; nothing it writes there may make its hub take more than its archetype allows:
the hub pod, the homes and a Dask cluster are bounded here, and everything its pods and claims reserve together
is bounded by the namespace's ResourceQuota, which the operator owns and applies again whenever it deploys.
A HubClass may change any of these per archetype (spec.archetypes.<archetype>).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from communityhub.api.conditions import Verdict
from communityhub.api.models import ArchetypeLimits, CommunityHubSpec, HubClassSpec, NamespaceQuota, TierRules
from communityhub.api.quantities import parse_memory
from communityhub.delivery import names

#: The operator's defaults per archetype (a HubClass changes them field by field).
DEFAULTS: dict[str, ArchetypeLimits] = {
    "education": ArchetypeLimits(
        cpu=4, memory="16Gi", hub_cpu=1, hub_memory="4Gi", home_storage="50Gi", dask_cores=32,
        quota=NamespaceQuota(cpu=64, memory="256Gi", gpus=4, storage="2Ti", claims=500, pods=300)),
    "research": ArchetypeLimits(
        cpu=32, memory="256Gi", hub_cpu=4, hub_memory="16Gi", home_storage="1Ti", dask_cores=256,
        quota=NamespaceQuota(cpu=512, memory="2Ti", gpus=16, storage="20Ti", claims=2000, pods=1000)),
    "partnership": ArchetypeLimits(
        cpu=64, memory="512Gi", hub_cpu=8, hub_memory="32Gi", home_storage="2Ti", dask_cores=1024,
        quota=NamespaceQuota(cpu=1024, memory="4Ti", gpus=32, storage="50Ti", claims=5000, pods=2000)),
}
#: A container that asks for nothing is given this much (quota admission refuses pods without requests).
DEFAULT_REQUEST = {"cpu": "10m", "memory": "64Mi"}
#: The named servers one user may have when the spec names no limit.
NAMED_SERVER_LIMIT = 5
#: WithinQuota turns False once a resource's use reaches this share of its quota.
NEARLY_FULL = 0.9


@dataclasses.dataclass(frozen=True)
class Bounds:
    """One hub's bounds, its class's over the operator's, field by field."""

    server_cpu: float
    server_memory: int
    hub_cpu: float
    hub_memory: int
    home_storage: int
    dask_cores: float
    quota: NamespaceQuota


def _field(own: Any, default: Any, name: str) -> Any:
    value = getattr(own, name, None) if own is not None else None
    return value if value is not None else getattr(default, name)


def bounds(spec: CommunityHubSpec, hub_class: HubClassSpec | None, rules: TierRules) -> Bounds:
    archetype = spec.community.archetype
    default = DEFAULTS[archetype]
    own = getattr(hub_class.archetypes, archetype) if hub_class is not None else None
    quota_own = own.quota if own is not None else None
    assert default.quota is not None
    quota = NamespaceQuota(**{f: _field(quota_own, default.quota, f) for f in NamespaceQuota.model_fields})
    if not rules.gpu:
        quota = quota.model_copy(update={"gpus": 0})
    return Bounds(
        server_cpu=float(_field(own, default, "cpu")), server_memory=parse_memory(_field(own, default, "memory")),
        hub_cpu=float(_field(own, default, "hub_cpu")), hub_memory=parse_memory(_field(own, default, "hub_memory")),
        home_storage=parse_memory(_field(own, default, "home_storage")),
        dask_cores=float(_field(own, default, "dask_cores")), quota=quota)


def _gib(value: int) -> str:
    return f"{value / 2**30:g}Gi"


def refusal(spec: CommunityHubSpec, limits: Bounds) -> Verdict | None:
    """What of the spec is beyond its archetype's bounds (the hub pod, the homes), or None."""
    archetype = spec.community.archetype
    hub = spec.hub.resources
    if hub.cpu > limits.hub_cpu or parse_memory(hub.memory) > limits.hub_memory:
        return Verdict.false("HubExceedsLimits",
                             f"hub.resources asks for {hub.cpu:g} CPU and {hub.memory}; {archetype} hubs' hub pod "
                             f"may ask for at most {limits.hub_cpu:g} CPU and {_gib(limits.hub_memory)}")
    env = spec.environment
    if env.storage.type == "perUserVolume" and parse_memory(env.home_storage) > limits.home_storage:
        return Verdict.false("HomeExceedsLimits",
                             f"environment.homeStorage {env.home_storage} is beyond {archetype} hubs' largest home, "
                             f"{_gib(limits.home_storage)}")
    return None


def dask_refusal(spec: CommunityHubSpec, limits: Bounds) -> Verdict | None:
    """A user's Dask cluster beyond the archetype's cores, or None."""
    if spec.dask is not None and spec.dask.enabled and spec.dask.max_cores_per_cluster > limits.dask_cores:
        return Verdict.false("DaskExceedsLimits",
                             f"dask.maxCoresPerCluster {spec.dask.max_cores_per_cluster:g} is beyond "
                             f"{spec.community.archetype} hubs' {limits.dask_cores:g} cores per user's cluster")
    return None


def quota_hard(quota: NamespaceQuota) -> dict[str, str]:
    hard = {"requests.cpu": f"{quota.cpu:g}", "requests.memory": str(quota.memory),
            "requests.nvidia.com/gpu": str(quota.gpus), "requests.storage": str(quota.storage),
            "persistentvolumeclaims": str(quota.claims), "pods": str(quota.pods)}
    return hard


def resource_quota(namespace: str, quota: NamespaceQuota, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": names.QUOTA, "namespace": namespace, "labels": dict(labels)},
            "spec": {"hard": quota_hard(quota)}}


def limit_range(namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """Requests for containers that set none, so the quota counts them (and admits them): no limits are added,
    so a server without a CPU limit keeps bursting as its profile says."""
    return {"apiVersion": "v1", "kind": "LimitRange",
            "metadata": {"name": names.LIMIT_RANGE, "namespace": namespace, "labels": dict(labels)},
            "spec": {"limits": [{"type": "Container", "defaultRequest": dict(DEFAULT_REQUEST)}]}}


def _amount(resource: str, value: str) -> float:
    if resource.endswith("memory") or resource.endswith("storage"):
        return float(parse_memory(value))
    if value.endswith("m"):
        return float(value[:-1]) / 1000
    return float(parse_memory(value)) if value[-1:].isalpha() else float(value)


def quota_verdict(status: Mapping[str, Any] | None) -> Verdict:
    """WithinQuota from the ResourceQuota's status: False, naming each resource at or near its quota, once one is;
    Kubernetes then refuses the user servers beyond it with its own message ("exceeded quota")."""
    hard, used = dict((status or {}).get("hard") or {}), dict((status or {}).get("used") or {})
    if not hard:
        return Verdict.unknown("QuotaNotCounted", f"the quota {names.QUOTA} of the hub's namespace is not counted yet")
    full, near = [], []
    for resource, limit in sorted(hard.items()):
        total, taken = _amount(resource, str(limit)), _amount(resource, str(used.get(resource, "0")))
        if total <= 0:
            continue
        (full if taken >= total else near if taken >= NEARLY_FULL * total else []).append(
            f"{resource} {used.get(resource, '0')} of {limit}")
    if full:
        return Verdict.false("QuotaExhausted",
                             f"quota {names.QUOTA}: {', '.join(full)} used; Kubernetes refuses new user servers that "
                             f"need more (exceeded quota)" + (f"; nearly full: {', '.join(near)}" if near else ""))
    if near:
        return Verdict.false("QuotaNearlyFull", f"quota {names.QUOTA}: {', '.join(near)} used")
    return Verdict.true("WithinQuota", f"quota {names.QUOTA}: every resource below {NEARLY_FULL:.0%} of its quota")
