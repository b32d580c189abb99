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


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    cloud: str
    region: str
    machine_type: str
    cpu: float  # allocatable cores
    memory: int  # allocatable bytes


@dataclasses.dataclass(frozen=True)
class Pod:
    node: str
    owner: str | None  # "namespace/name" of the CommunityHub whose namespace the pod runs in; None: overhead
    cpu: float
    memory: int


def node_from(obj: Mapping[str, Any], default_cloud: str) -> Node:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    labels = meta.get("labels") or {}
    scheme = str(spec.get("providerID") or "").partition("://")[0]
    cloud = labels.get(CLOUD_LABEL) or PROVIDER_SCHEMES.get(scheme, default_cloud)
    allocatable = status.get("allocatable") or {}
    return Node(name=meta.get("name", ""), cloud=cloud, region=labels.get(REGION_LABEL, ""),
                machine_type=labels.get(INSTANCE_TYPE_LABEL, ""), cpu=parse_cpu(allocatable.get("cpu", "0")),
                memory=parse_memory(allocatable.get("memory", "0")))


def pod_from(obj: Mapping[str, Any], owners: Mapping[str, str]) -> Pod | None:
    """A scheduled, not finished pod with its requests; ``owners`` maps hub namespaces to their hub."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    cpu = memory = 0.0
    for container in spec.get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu += parse_cpu(requests.get("cpu", "0"))
        memory += parse_memory(requests.get("memory", "0"))
    return Pod(node=spec["nodeName"], owner=owners.get(meta.get("namespace", "")), cpu=cpu, memory=int(memory))


def price(prices: Catalog, node: Node) -> float | None:
    return prices.get(node.cloud, {}).get(node.region, {}).get(node.machine_type)


def rates(nodes: Iterable[Node], pods: Iterable[Pod], prices: Catalog,
          dedicated_to: str | None = None) -> tuple[dict[str, float], list[str]]:
    """USD per hour for each owner (hubs and OVERHEAD) right now, and the nodes without a price."""
    out: dict[str, float] = {}
    unpriced: list[str] = []
    by_node: dict[str, list[Pod]] = {}
    for pod in pods:
        by_node.setdefault(pod.node, []).append(pod)
    for node in nodes:
        hourly = price(prices, node)
        if hourly is None:
            unpriced.append(f"{node.name} ({node.cloud}/{node.region}/{node.machine_type or '?'})")
            continue
        if dedicated_to is not None:
            out[dedicated_to] = out.get(dedicated_to, 0.0) + hourly
            continue
        shares: dict[str, float] = {}
        for pod in by_node.get(node.name, []):
            if pod.owner is None:
                continue
            cpu_share = pod.cpu / node.cpu if node.cpu else 0.0
            memory_share = pod.memory / node.memory if node.memory else 0.0
            share = 0.5 * cpu_share + 0.5 * memory_share
            shares[pod.owner] = shares.get(pod.owner, 0.0) + share
        total_share = sum(shares.values())
        scale = 1 / total_share if total_share > 1 else 1.0  # over-committed: hubs split the whole node
        for owner, share in shares.items():
            out[owner] = out.get(owner, 0.0) + hourly * share * scale
        out[OVERHEAD] = out.get(OVERHEAD, 0.0) + hourly * (1 - total_share * scale)
    return out, unpriced


def month_of(when: dt.datetime) -> str:
    return when.strftime("%Y-%m")


def month_start(when: dt.datetime) -> dt.datetime:
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


def empty_ledger(month: str) -> dict[str, Any]:
    return {"month": month, "owners": {}, "total": 0.0, "since": None, "observedAt": None, "rates": {},
            "previous": None}


def accrue(ledger: Mapping[str, Any] | None, new_rates: Mapping[str, float], now: dt.datetime) -> dict[str, Any]:
    """The ledger after the interval since its last observation, charged at the rates observed then.

    At a month boundary the old month is closed into ``previous`` and the new month starts at zero
    (the interval is split at midnight UTC of the first)."""
    out = dict(ledger) if ledger else empty_ledger(month_of(now))
    out["owners"] = dict(out.get("owners") or {})
    last = parse_time(out["observedAt"]) if out.get("observedAt") else None
    old_rates: Mapping[str, float] = out.get("rates") or {}
    if last is not None and now > last:
        boundary = month_start(now)
        if month_of(last) != month_of(now):
            _charge(out, old_rates, (boundary - last).total_seconds() / 3600)
            out = {**empty_ledger(month_of(now)), "previous": {k: out[k] for k in ("month", "owners", "total")},
                   "since": _rfc3339(boundary)}
            last = boundary
        _charge(out, old_rates, (now - last).total_seconds() / 3600)
    out["since"] = out.get("since") or _rfc3339(now)
    out["observedAt"] = _rfc3339(now)
    out["rates"] = dict(new_rates)
    return out


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _charge(ledger: dict[str, Any], hourly: Mapping[str, float], hours: float) -> None:
    for owner, rate in hourly.items():
        ledger["owners"][owner] = ledger["owners"].get(owner, 0.0) + rate * hours
        ledger["total"] = ledger.get("total", 0.0) + rate * hours
