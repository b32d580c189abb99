"""Cloud cost from node-hours (pure): prices, the split of each node among hubs, and the monthly ledger.

A cluster's ledger integrates, between two observations, each node's price over the elapsed hours,
split as observed at the start of the interval. On a shared cluster a hub's share of a node is its
pods' requests over the node's allocatable capacity (CPU and memory weighted equally); what is not
requested by any hub (idle capacity, system pods) is the provider's overhead. On a dedicated cluster
every node is the hub's. Either way the owners (hubs and overhead) add up to ``total`` by construction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from communityhub.api.quantities import parse_cpu, parse_memory

OVERHEAD = "(overhead)"
REGION_LABEL = "topology.kubernetes.io/region"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
#: Nodes may say which cloud they are on; otherwise the scheme of spec.providerID does.
CLOUD_LABEL = "hubs.2i2c.org/cloud"
PROVIDER_SCHEMES = {"gce": "gcp", "aws": "aws", "azure": "azure"}

Catalog = Mapping[str, Mapping[str, Mapping[str, float]]]


@cache
def shipped_catalog() -> dict[str, Any]:
    text = resources.files("communityhub").joinpath("data/prices.yaml").read_text()
    return dict(yaml.safe_load(text))


def catalog(override_file: str = "") -> dict[str, Any]:
    """The shipped prices, with an override file (same shape) merged over them."""
    merged = {cloud: {region: dict(types) for region, types in regions.items()}
              for cloud, regions in shipped_catalog().items()}
    if override_file:
        override = yaml.safe_load(Path(override_file).read_text()) or {}
        for cloud, regions in override.items():
            for region, types in (regions or {}).items():
                merged.setdefault(cloud, {}).setdefault(region, {}).update(
                    {str(k): float(v) for k, v in (types or {}).items()})
    return merged


#: A node's accelerators: GKE's label names their type (priced apart from the machine); elsewhere the machine
#: type's price includes them, and this share of it is what its GPUs cost.
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
GPU = "nvidia.com/gpu"
GPU_SHARE_OF_GPU_MACHINE = 0.7
#: Catalog keys beside the machine types: a claim's GiB-month by storage class (``storage/*`` for any class), and
#: an object-storage GiB-month.
STORAGE_PREFIX = "storage/"
OBJECT_STORAGE = "objectstorage"
HOURS_PER_MONTH = 730.0
#: What an owner's cloud cost is made of (the invoice names each).
PARTS = ("compute", "gpu", "volumes", "buckets")


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    cloud: str
    region: str
    machine_type: str
    cpu: float  # allocatable cores
    memory: int  # allocatable bytes
    gpus: int = 0  # allocatable nvidia.com/gpu
    accelerator: str = ""  # GKE's accelerator type, priced apart


#: KubeSpawner's annotation of a user's server pod and home claim: the user's name as the hub knows it.
USERNAME_ANNOTATION = "hub.jupyter.org/username"


@dataclasses.dataclass(frozen=True)
class Pod:
    node: str
    owner: str | None  # "namespace/name" of the CommunityHub whose namespace the pod runs in; None: overhead
    cpu: float
    memory: int
    gpus: int = 0
    user: str | None = None  # whose server it is (KubeSpawner's annotation); None: the hub's own (overhead)


@dataclasses.dataclass(frozen=True)
class Volume:
    """A bound claim: its size, priced by its storage class in the cluster's cloud and region."""

    owner: str | None
    size: int  # bytes
    storage_class: str
    user: str | None = None  # a user's own home claim (KubeSpawner's annotation)


def node_from(obj: Mapping[str, Any], default_cloud: str) -> Node:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    labels = meta.get("labels") or {}
    scheme = str(spec.get("providerID") or "").partition("://")[0]
    cloud = labels.get(CLOUD_LABEL) or PROVIDER_SCHEMES.get(scheme, default_cloud)
    allocatable = status.get("allocatable") or {}
    return Node(name=meta.get("name", ""), cloud=cloud, region=labels.get(REGION_LABEL, ""),
                machine_type=labels.get(INSTANCE_TYPE_LABEL, ""), cpu=parse_cpu(allocatable.get("cpu", "0")),
                memory=parse_memory(allocatable.get("memory", "0")), gpus=int(parse_cpu(allocatable.get(GPU, "0"))),
                accelerator=labels.get(ACCELERATOR_LABEL, ""))


def _owner_and_user(meta: Mapping[str, Any], owners: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The hub an object's namespace belongs to, and (in a hub's namespace) the user KubeSpawner made it for."""
    owner = owners.get(meta.get("namespace", ""))
    user = (meta.get("annotations") or {}).get(USERNAME_ANNOTATION) if owner else None
    return owner, str(user) if user else None


def pod_from(obj: Mapping[str, Any], owners: Mapping[str, str]) -> Pod | None:
    """A scheduled, not finished pod with its requests; ``owners`` maps hub namespaces to their hub."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    cpu = memory = gpus = 0.0
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        cpu += parse_cpu(requests.get("cpu", "0"))
        memory += parse_memory(requests.get("memory", "0"))
        gpus += parse_cpu(str(requests.get(GPU, limits.get(GPU, "0"))))  # an extended resource's limit is its request
    owner, user = _owner_and_user(meta, owners)
    return Pod(node=spec["nodeName"], owner=owner, cpu=cpu, memory=int(memory), gpus=int(gpus), user=user)


def volume_from(obj: Mapping[str, Any], owners: Mapping[str, str]) -> Volume | None:
    """A bound claim and its size (the bound capacity, else the request)."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if status.get("phase") != "Bound":
        return None
    size = (status.get("capacity") or {}).get("storage") or ((spec.get("resources") or {}).get("requests") or {}).get(
        "storage", "0")
    owner, user = _owner_and_user(meta, owners)
    return Volume(owner=owner, size=parse_memory(str(size)), storage_class=str(spec.get("storageClassName") or ""),
                  user=user)


def price(prices: Catalog, node: Node) -> float | None:
    """The node's machine price per hour (with its accelerators where they are priced apart)."""
    hourly = prices.get(node.cloud, {}).get(node.region, {}).get(node.machine_type)
    if hourly is None:
        return None
    if node.accelerator and node.gpus:
        accelerator = prices.get(node.cloud, {}).get(node.region, {}).get(node.accelerator)
        if accelerator is None:
            return None
        return hourly + node.gpus * accelerator
    return hourly


def gpu_part(prices: Catalog, node: Node, hourly: float) -> float:
    """What of a node's hourly price is its GPUs: the accelerators where priced apart, else a share of the machine."""
    if not node.gpus:
        return 0.0
    if node.accelerator:
        return node.gpus * prices.get(node.cloud, {}).get(node.region, {}).get(node.accelerator, 0.0)
    return hourly * GPU_SHARE_OF_GPU_MACHINE


def storage_price(prices: Catalog, cloud: str, region: str, storage_class: str) -> float | None:
    """USD per GiB-month of a claim of this storage class (its own entry, else the region's ``storage/*``)."""
    regional = prices.get(cloud, {}).get(region, {})
    found = regional.get(STORAGE_PREFIX + storage_class, regional.get(STORAGE_PREFIX + "*"))
    return None if found is None else float(found)


def _add(out: dict[str, dict[str, float]], owner: str, part: str, rate: float) -> None:
    if rate or part == "compute":  # every node's owners, and the overhead, have a compute rate (0 included)
        parts = out.setdefault(owner, {})
        parts[part] = parts.get(part, 0.0) + rate


def _add_user(users: dict[str, dict[str, float]], owner: str, user: str | None, rate: float) -> None:
    if user:
        mine = users.setdefault(owner, {})
        mine[user] = mine.get(user, 0.0) + rate


def _pod_shares(node: Node, pod: Pod) -> tuple[float, float]:
    """The pod's share of the node's machine (CPU and memory requests, equally weighted) and of its GPUs."""
    cpu_share = pod.cpu / node.cpu if node.cpu else 0.0
    memory_share = pod.memory / node.memory if node.memory else 0.0
    return 0.5 * cpu_share + 0.5 * memory_share, (pod.gpus / node.gpus if node.gpus and pod.gpus else 0.0)


def part_rates(nodes: Iterable[Node], pods: Iterable[Pod], prices: Catalog, dedicated_to: str | None = None,
               volumes: Iterable[Volume] = (), buckets: Mapping[str, int] | None = None,
               users: dict[str, dict[str, float]] | None = None) -> tuple[dict[str, dict[str, float]], list[str]]:
    """USD per hour for each owner (hubs and OVERHEAD) right now, by part (PARTS), and what has no price.

    On a shared node, a pod pays the share of the machine its CPU and memory requests take (equally weighted) and
    the share of the GPUs it requests: a pod holding a node's GPUs with a sliver of CPU pays for the GPUs. Claims
    are priced by their size and storage class; ``buckets`` (owner -> bytes, where measured) by object storage.

    ``users`` (filled when given: owner -> user -> USD per hour, all parts) splits each hub's rate again: a user's
    server pays its share as a hub's pod does (on a dedicated cluster, its share of the node the hub pays for),
    a user's home claim its price; what is left of the hub's rate (its hub and proxy, Dask, the home server, idle
    capacity of a dedicated cluster, buckets) is the hub's overhead. A user's rate never exceeds the hub's."""
    out: dict[str, dict[str, float]] = {}
    unpriced: list[str] = []
    by_node: dict[str, list[Pod]] = {}
    nodes = list(nodes)
    for pod in pods:
        by_node.setdefault(pod.node, []).append(pod)
    for node in nodes:
        hourly = price(prices, node)
        if hourly is None:
            unpriced.append(f"{node.name} ({node.cloud}/{node.region}/{node.machine_type or '?'}"
                            + (f" + {node.gpus}x {node.accelerator}" if node.accelerator and node.gpus else "") + ")")
            continue
        gpu_hourly = gpu_part(prices, node, hourly)
        base_hourly = hourly - gpu_hourly
        here = [(p, *_pod_shares(node, p)) for p in by_node.get(node.name, []) if p.owner is not None]
        shares: dict[str, float] = {}
        gpu_shares: dict[str, float] = {}
        for pod, share, gpu_share in here:
            owner = pod.owner or ""
            shares[owner] = shares.get(owner, 0.0) + share
            if gpu_share:
                gpu_shares[owner] = gpu_shares.get(owner, 0.0) + gpu_share
        for part, part_hourly, split, which in (("compute", base_hourly, shares, 1),
                                                ("gpu", gpu_hourly, gpu_shares, 2)):
            total_share = sum(split.values())
            scale = 1 / total_share if total_share > 1 else 1.0  # over-committed: hubs split the whole node
            if users is not None:
                for entry in here:
                    if entry[which]:  # no GPUs asked: no GPU part, not a part of 0
                        _add_user(users, dedicated_to or entry[0].owner or "", entry[0].user,
                                  part_hourly * entry[which] * scale)
            if dedicated_to is not None:  # every node is the hub's, whoever uses it
                _add(out, dedicated_to, part, part_hourly)
                continue
            for owner, share in split.items():
                _add(out, owner, part, part_hourly * share * scale)
            _add(out, OVERHEAD, part, part_hourly * (1 - total_share * scale))
    where = {(n.cloud, n.region) for n in nodes}
    cloud, region = min(where) if where else ("", "")
    for volume in volumes:
        monthly = storage_price(prices, cloud, region, volume.storage_class)
        if monthly is None:
            unpriced.append(f"claims of storage class {volume.storage_class or '(none)'} ({cloud}/{region})")
            continue
        hourly_volume = volume.size / 2**30 * monthly / HOURS_PER_MONTH
        _add(out, dedicated_to or volume.owner or OVERHEAD, "volumes", hourly_volume)
        if users is not None and (dedicated_to or volume.owner):
            _add_user(users, dedicated_to or volume.owner or "", volume.user, hourly_volume)
    for owner, size in (buckets or {}).items():
        monthly = prices.get(cloud, {}).get(region, {}).get(OBJECT_STORAGE)
        if monthly is None:
            unpriced.append(f"object storage ({cloud}/{region})")
            continue
        _add(out, owner, "buckets", size / 2**30 * float(monthly) / HOURS_PER_MONTH)
    return out, sorted(set(unpriced), key=unpriced.index)


def rates(nodes: Iterable[Node], pods: Iterable[Pod], prices: Catalog, dedicated_to: str | None = None,
          volumes: Iterable[Volume] = (), buckets: Mapping[str, int] | None = None
          ) -> tuple[dict[str, float], list[str]]:
    """USD per hour for each owner (hubs and OVERHEAD) right now, all parts together, and what has no price."""
    parts, unpriced = part_rates(nodes, pods, prices, dedicated_to, volumes, buckets)
    return totals(parts), unpriced


def totals(by_part: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Each owner's rate, its parts together."""
    return {owner: sum(parts.values()) for owner, parts in by_part.items()}


def month_of(when: dt.datetime) -> str:
    return when.strftime("%Y-%m")


def month_start(when: dt.datetime) -> dt.datetime:
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


def empty_ledger(month: str) -> dict[str, Any]:
    return {"month": month, "owners": {}, "parts": {}, "total": 0.0, "since": None, "observedAt": None, "rates": {},
            "partRates": {}, "users": {}, "userRates": {}, "userGroups": {}, "previous": None}


#: What of a month the ledger keeps once it is closed into ``previous``.
CLOSED = ("month", "owners", "parts", "total", "users", "userGroups")


def accrue(ledger: Mapping[str, Any] | None, new_rates: Mapping[str, float], now: dt.datetime,
           new_part_rates: Mapping[str, Mapping[str, float]] | None = None,
           new_user_rates: Mapping[str, Mapping[str, float]] | None = None,
           user_groups: Mapping[str, Mapping[str, list[str]]] | None = None) -> dict[str, Any]:
    """The ledger after the interval since its last observation, charged at the rates observed then (each
    owner's parts, and each hub's users, where the rates were observed so). ``user_groups`` (owner -> user ->
    groups, from each hub's API) replaces what the ledger knew of those hubs' groups.

    At a month boundary the old month is closed into ``previous`` and the new month starts at zero
    (the interval is split at midnight UTC of the first)."""
    out = dict(ledger) if ledger else empty_ledger(month_of(now))
    out["owners"] = dict(out.get("owners") or {})
    out["parts"] = {owner: dict(by_part) for owner, by_part in (out.get("parts") or {}).items()}
    out["users"] = {owner: dict(by_user) for owner, by_user in (out.get("users") or {}).items()}
    last = parse_time(out["observedAt"]) if out.get("observedAt") else None
    old_rates: Mapping[str, float] = out.get("rates") or {}
    old_parts: Mapping[str, Mapping[str, float]] = out.get("partRates") or {}
    old_users: Mapping[str, Mapping[str, float]] = out.get("userRates") or {}
    groups = {**(out.get("userGroups") or {}), **{o: dict(g) for o, g in (user_groups or {}).items()}}
    if last is not None and now > last:
        boundary = month_start(now)
        if month_of(last) != month_of(now):
            _charge(out, old_rates, old_parts, (boundary - last).total_seconds() / 3600, old_users)
            out = {**empty_ledger(month_of(now)),
                   "previous": {k: out.get(k) or {} for k in CLOSED},
                   "since": _rfc3339(boundary)}
            last = boundary
        _charge(out, old_rates, old_parts, (now - last).total_seconds() / 3600, old_users)
    out["since"] = out.get("since") or _rfc3339(now)
    out["observedAt"] = _rfc3339(now)
    out["rates"] = dict(new_rates)
    out["partRates"] = {owner: dict(by_part) for owner, by_part in (new_part_rates or {}).items()}
    out["userRates"] = {owner: dict(by_user) for owner, by_user in (new_user_rates or {}).items()}
    out["userGroups"] = groups
    return out


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _charge(ledger: dict[str, Any], hourly: Mapping[str, float], by_part: Mapping[str, Mapping[str, float]],
            hours: float, by_user: Mapping[str, Mapping[str, float]] | None = None) -> None:
    for owner, rate in hourly.items():
        ledger["owners"][owner] = ledger["owners"].get(owner, 0.0) + rate * hours
        ledger["total"] = ledger.get("total", 0.0) + rate * hours
    for key, nested in (("parts", by_part), ("users", by_user or {})):
        for owner, rates in nested.items():
            mine = ledger.setdefault(key, {}).setdefault(owner, {})
            for item, rate in rates.items():
                mine[item] = mine.get(item, 0.0) + rate * hours


#: What a ledger's ConfigMap may hold (the API server's limit is 1 MiB, with the object's metadata).
LEDGER_BYTES = 1_000_000
#: Dropped first to last when a ledger outgrows LEDGER_BYTES: the users of the month before, then this month's.
_USER_DETAIL = (("previous", "userGroups"), ("previous", "users"), (None, "userGroups"), (None, "users"),
                (None, "userRates"))


def trimmed(ledger: dict[str, Any], limit: int = LEDGER_BYTES) -> tuple[dict[str, Any], str]:
    """The ledger as JSON within ``limit`` bytes: per-user detail is given up (the month before's first) rather
    than the hubs' cost, and ``usersDropped`` says what went (hubctl billing users then says so)."""
    text = json.dumps(ledger, sort_keys=True)
    dropped = list(ledger.get("usersDropped") or [])
    for where, key in _USER_DETAIL:
        if len(text.encode()) <= limit:
            break
        holder = ledger.get(where) if where else ledger
        if isinstance(holder, dict) and holder.get(key):
            holder[key] = {}
            dropped.append(f"{where + '.' if where else ''}{key}")
            ledger["usersDropped"] = dropped
            text = json.dumps(ledger, sort_keys=True)
    return ledger, text
