"""Per-user home quotas (spec.environment.storage.quota), as the real jupyterhub-home-nfs chart takes them (pure).

Where a HubClass runs a home server (``sharedStorage.homeServer``), a sharedNFS hub's share is not a claim of a
ReadWriteMany StorageClass but its own NFS server: a release of the jupyterhub-home-nfs chart in the hub's
namespace (NFS Ganesha over an XFS disk, and a quota enforcer that gives each directory under the hub's share an
XFS project quota). The server's disk is the chart's claim (or the hub's pre-made cloud disk, named by the
class's per-hub values). The hub's home volume is then a PersistentVolume of that server's export (at its
Service's cluster IP: a node mounts NFS before cluster DNS is anyone's) and the claim the JupyterHub chart mounts
(``render.SHARED_CLAIM``) bound to it, so the JupyterHub values do not change.

The enforcer names quotas by directory: a user's home directory is their username, or KubeSpawner's escaped
username (``storage.homeDirectory``), so exceptions are rendered under the same name. Its exporter serves each
directory's use and limit (``dirsize_total_size_bytes``, ``dirsize_hard_limit_bytes``), and the node exporter
beside it the disk's free space: metering reads both (:func:`usage`).
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Iterable, Mapping
from typing import Any

from communityhub.api.conditions import Verdict
from communityhub.api.models import CommunityHubSpec, HomeServer, HubClassSpec
from communityhub.api.quantities import parse_memory
from communityhub.delivery.render import deep_merge, per_hub

#: The chart's names in the hub's namespace derive from this (fullnameOverride): <it>-home-nfs is the server's
#: Deployment, Service and claim; <it>-home-nfs-metrics the quota exporter, <it>-node-exporter-metrics the disk's.
FULLNAME = "home-quota"
SERVER = f"{FULLNAME}-home-nfs"
QUOTA_METRICS = f"{SERVER}-metrics"
QUOTA_METRICS_PORT = 7500
DISK_METRICS = f"{FULLNAME}-node-exporter-metrics"
DISK_METRICS_PORT = 9100
#: Where the chart mounts the server's disk, in the enforcer and in the node exporter.
EXPORT = "/export"
DISK_MOUNTPOINT = "/shared-volume"
GIB = 2**30
#: Share of a quota (or of the disk) past which a user (or the hub) is "near" it.
NEAR = 0.9
_SAFE = frozenset(string.ascii_lowercase + string.digits)
#: The chart's pre-made disk, per cloud (its <cloud>.enabled and <cloud>.volumeId).
DISK_CLOUDS = ("eks", "gke", "openstack")


def server(hub_class: HubClassSpec | None) -> HomeServer | None:
    shared = hub_class.shared_storage if hub_class is not None else None
    return shared.home_server if shared is not None else None


def enabled(spec: CommunityHubSpec, hub_class: HubClassSpec | None) -> bool:
    """The hub's homes are on a home server of its own."""
    return spec.environment.storage.type == "sharedNFS" and server(hub_class) is not None


def _cloud(values: Mapping[str, Any]) -> str | None:
    """The cloud whose pre-made disk the chart's values turn on (``<cloud>.enabled``), or None."""
    return next((c for c in DISK_CLOUDS if (values.get(c) or {}).get("enabled")), None)


def escaped(username: str) -> str:
    """KubeSpawner's {escaped_username}: escapism's escape with lowercase letters and digits safe and ``-`` as the
    escape character (each other byte of the UTF-8 as -XX), lowercased."""
    out = []
    for char in username:
        if char in _SAFE:
            out.append(char)
        else:
            out.extend(f"-{byte:02X}" for byte in char.encode())
    return "".join(out).lower()


def directory(spec: CommunityHubSpec, username: str) -> str:
    """The name of the user's home directory on the share (what the enforcer's quotas are keyed by): of the name
    the hub gives the user, which JupyterHub lowercases (Authenticator.normalize_username)."""
    name = username.lower()
    return escaped(name) if spec.environment.storage.home_directory == "escapedUsername" else name


def _gib(quantity: str) -> float:
    return parse_memory(quantity) / GIB


def refusal(spec: CommunityHubSpec, hub_class: HubClassSpec | None) -> Verdict | None:
    """Why the hub's quota (or its home server) cannot be had on its class, or None."""
    home = server(hub_class)
    if home is not None and enabled(spec, hub_class):
        cloud = _cloud(home.values)
        named = any((layer.get(cloud) or {}).get("volumeId") for layer in (home.values, home.per_hub_values)) \
            if cloud else True
        if cloud is not None and not named and not spec.placement.home_disk:
            return Verdict.false("HomeDiskMissing",
                                 f"the class's home servers keep homes on pre-made {cloud} disks, and this hub names "
                                 f"none: the provider sets spec.placement.homeDisk (the disk of its homes)")
    quota = spec.environment.storage.quota
    if quota is None:
        return None
    if home is None:
        return Verdict.false(
            "HomeQuotaUnavailable",
            "environment.storage.quota needs a HubClass whose shared storage runs a home server (sharedStorage."
            "homeServer); " + ("this hub has no HubClass" if hub_class is None else
                               "its class keeps homes on a shared filesystem (a cloud filestore, say), which has "
                               "no per-user quotas"))
    most = parse_memory(home.max_quota) if home.max_quota else None
    sizes = [("perUser", quota.per_user)] + [(f"exceptions[{i}]", e.size) for i, e in enumerate(quota.exceptions)
                                               if e.size]
    for where, size in sizes:
        if most is not None and parse_memory(size) > most:
            return Verdict.false("HomeQuotaExceedsClass", f"environment.storage.quota.{where} is {size}; the class "
                                                          f"gives a user at most {home.max_quota}")
    if not home.unlimited and any(e.unlimited for e in quota.exceptions):
        return Verdict.false("HomeQuotaExceedsClass", "environment.storage.quota exempts users (unlimited), which "
                                                      "the class does not allow (homeServer.unlimited)")
    return None


def share(home: HomeServer, namespace: str, name: str) -> str:
    """The directory of the server's disk that holds the hub's homes."""
    return str(per_hub(home.share_directory, namespace, name))


def quota_config(spec: CommunityHubSpec, home: HomeServer, share_dir: str) -> dict[str, Any]:
    """The enforcer's QuotaManager settings the operator owns: where the homes are, and each one's quota (GiB)."""
    quota = spec.environment.storage.quota
    overrides: dict[str, float] = {}
    exclude: list[str] = []
    for exception in quota.exceptions if quota else []:
        for user in exception.users:
            if exception.unlimited:
                exclude.append(directory(spec, user))
            else:
                overrides[directory(spec, user)] = _gib(exception.size or "0")
    root = f"{EXPORT}/{share_dir}"
    return {"paths": [root], "projects_file": f"{root}/.projects", "projid_file": f"{root}/.projid",
            "hard_quota": _gib(quota.per_user if quota else home.default_quota),
            "quota_overrides": overrides, "exclude": sorted(exclude)}


def server_values(spec: CommunityHubSpec, home: HomeServer, namespace: str, name: str, size: str,
                  storage_class: str) -> dict[str, Any]:
    """The jupyterhub-home-nfs values of the hub's server: the class's values, its per-hub values with this hub's
    names, then what the operator owns (names, the disk's size, the quotas)."""
    base = deep_merge(dict(home.values), per_hub(dict(home.per_hub_values), namespace, name))
    cloud = _cloud(base)
    if cloud is not None and spec.placement.home_disk:
        base = deep_merge(base, {cloud: {"volumeId": spec.placement.home_disk}})
    owned = {
        "fullnameOverride": FULLNAME,
        "persistentVolume": {"size": size, **({} if cloud is not None else {"storageClass": storage_class})},
        "quotaEnforcer": {"enabled": True, "config": {"QuotaManager": quota_config(spec, home,
                                                                                   share(home, namespace, name))}},
    }
    merged = deep_merge(base, owned)
    # The operator's quotas, not a merge of them with the class's: a class's override must not outlive a hub's.
    merged["quotaEnforcer"]["config"]["QuotaManager"]["quota_overrides"] = owned["quotaEnforcer"]["config"][
        "QuotaManager"]["quota_overrides"]
    return merged


def disk(values: Mapping[str, Any]) -> str | None:
    """The pre-made cloud disk the server's values name (one hub's alone: the operator claims it), or None."""
    for cloud in DISK_CLOUDS:
        section = values.get(cloud) or {}
        if section.get("enabled") and section.get("volumeId"):
            return f"{cloud}:{section['volumeId']}"
    return None


def home_volume(volume_name: str, server_ip: str, share_dir: str, size: str, claim_namespace: str, claim: str,
                mount_options: Iterable[str], labels: Mapping[str, str],
                annotations: Mapping[str, str]) -> dict[str, Any]:
    """The hub's home volume: the server's export of the hub's share, for the hub's claim only (claimRef)."""
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": volume_name, "labels": dict(labels), "annotations": dict(annotations)},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteMany"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                 "mountOptions": list(mount_options),
                 "nfs": {"server": server_ip, "path": f"/{share_dir}"},
                 "claimRef": {"namespace": claim_namespace, "name": claim}},
    }


def home_claim(claim: str, namespace: str, volume_name: str, size: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The claim the JupyterHub chart mounts, bound to the home volume (no StorageClass: nothing provisions it)."""
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim, "namespace": namespace, "labels": dict(labels)},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": volume_name,
                 "resources": {"requests": {"storage": size}}},
    }


def claim_conflict(existing: Mapping[str, Any] | None, volume_name: str) -> Verdict | None:
    """A claim of the home's name already bound elsewhere (the hub's share before it had a home server): moving its
    data is the provider's step, never the operator's."""
    if existing is None:
        return None
    bound = (existing.get("spec") or {}).get("volumeName")
    if bound in (None, "", volume_name) and not (existing.get("spec") or {}).get("storageClassName"):
        return None
    return Verdict.false(
        "HomeClaimInUse",
        f"the hub's home claim is bound to volume {bound or '(a provisioned one)'}, not to its home server: the "
        f"share's data must be copied onto the server first and the old claim deleted (docs/operations.md, Home "
        f"quotas); users keep the old share meanwhile")


# ------------------------------------------------------------------------------------------------ metering
@dataclasses.dataclass(frozen=True)
class HomeUse:
    directory: str
    used_bytes: float
    limit_bytes: float  # 0: no quota

    @property
    def share(self) -> float | None:
        return self.used_bytes / self.limit_bytes if self.limit_bytes else None


@dataclasses.dataclass(frozen=True)
class HomesUsage:
    homes: tuple[HomeUse, ...]
    disk_size_bytes: float | None = None
    disk_free_bytes: float | None = None

    @property
    def over(self) -> list[HomeUse]:
        return [h for h in self.homes if h.limit_bytes and h.used_bytes >= h.limit_bytes]

    @property
    def near(self) -> list[HomeUse]:
        return [h for h in self.homes if h.share is not None and NEAR <= h.share < 1]

    @property
    def disk_used_share(self) -> float | None:
        if not self.disk_size_bytes or self.disk_free_bytes is None:
            return None
        return 1 - self.disk_free_bytes / self.disk_size_bytes


def _samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def usage(quota_metrics: str, disk_metrics: str | None = None) -> HomesUsage:
    """What the server's exporters say: each home's use and limit, and the disk's size and free space."""
    used: dict[str, float] = {}
    limits: dict[str, float] = {}
    for metric, labels, value in _samples(quota_metrics):
        name = labels.get("directory", "")
        if not name or name.startswith("."):
            continue
        if metric == "dirsize_total_size_bytes":
            used[name] = value
        elif metric == "dirsize_hard_limit_bytes":
            limits[name] = value
    size = free = None
    for metric, labels, value in _samples(disk_metrics or ""):
        if labels.get("mountpoint") != DISK_MOUNTPOINT:
            continue
        if metric == "node_filesystem_size_bytes":
            size = value
        elif metric == "node_filesystem_avail_bytes":
            free = value
    homes = tuple(HomeUse(d, used.get(d, 0.0), limits.get(d, 0.0)) for d in sorted(set(used) | set(limits)))
    return HomesUsage(homes, size, free)


def summary(found: HomesUsage) -> dict[str, Any]:
    """status.homes: totals, and the users over or near their quota by directory (no file names, no contents)."""
    out: dict[str, Any] = {"homes": len(found.homes),
                           "usedBytes": int(sum(h.used_bytes for h in found.homes)),
                           "overQuota": [h.directory for h in found.over][:50],
                           "nearQuota": [h.directory for h in found.near][:50]}
    if found.disk_size_bytes:
        out["diskSizeBytes"] = int(found.disk_size_bytes)
        out["diskFreeBytes"] = int(found.disk_free_bytes or 0)
    return out


def disk_verdict(found: HomesUsage) -> Verdict:
    """HomeStorage: False when the server's disk is nearly full (every user's writes fail together), else True."""
    share_used = found.disk_used_share
    over = len(found.over)
    homes = f"{len(found.homes)} homes, {over} at their quota, {len(found.near)} near it"
    if share_used is None:
        return Verdict.unknown("DiskUnmeasured", f"{homes}; the server's disk has not been measured yet")
    if share_used >= NEAR:
        free = (found.disk_free_bytes or 0) / GIB
        return Verdict.false("DiskNearlyFull",
                             f"the home server's disk is {share_used:.0%} full ({free:.1f} GiB free): grow the disk "
                             f"(sharedStorage.size) before every user's writes fail; {homes}")
    return Verdict.true("QuotasEnforced", f"{homes}; the disk is {share_used:.0%} full")
