"""What a dedicated hub will cost before anything is provisioned (pure), and the approval of that figure.

The estimate prices the cluster's node pools (the core pool every module adds, and the spec's user
pools) at their minimum and maximum node counts for a month of 730 hours with the price catalog, and
adds the monthly fee. Every module puts a cluster's nodes in one zone, so a pool's counts are the spec's; a GPU pool
adds its accelerators' price to the machine's.
A machine type the catalog does not price is named, never counted as free.

With ``placement.dedicated.requireApproval``, Terraform plans but does not apply until the CommunityHub
carries ``hubs.2i2c.org/approved-estimate=<id>``: the id is a digest of the inputs, the estimate and the
plan's counts, so approving one figure never approves another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from communityhub.api.models import CommunityHubSpec, NodePoolGpu
from communityhub.money import billing

HOURS_PER_MONTH = 730
#: The core pool each Terraform module adds (machine type, min, max): tests/unit/test_estimate.py checks
#: these against terraform/modules/<cloud>/main.tf.
CORE_POOLS: dict[str, tuple[str, int, int]] = {
    "gcp": ("e2-standard-2", 1, 2),
    "aws": ("t3.large", 1, 2),
    "azure": ("Standard_D2s_v5", 1, 2),
    "local": ("n2-standard-2", 1, 2),
}
#: The local module stands in for a cloud: priced as that cloud's region.
PRICED_AS = {"local": ("gcp", "us-central1")}
#: The annotation a person sets to the estimate's id to let Terraform apply.
APPROVED = "hubs.2i2c.org/approved-estimate"


@dataclasses.dataclass(frozen=True)
class PoolCost:
    name: str
    machine_type: str
    min_nodes: int
    max_nodes: int
    usd_per_hour: float | None  # None: not in the catalog


@dataclasses.dataclass(frozen=True)
class Estimate:
    pools: tuple[PoolCost, ...]
    fee_usd: float
    passthrough: bool

    def cloud_usd(self, which: str) -> float:
        return round(sum(HOURS_PER_MONTH * (p.min_nodes if which == "min" else p.max_nodes) * p.usd_per_hour
                         for p in self.pools if p.usd_per_hour is not None), 2)

    @property
    def unpriced(self) -> list[str]:
        return [f"{p.name} ({p.machine_type})" for p in self.pools if p.usd_per_hour is None]

    def describe(self) -> str:
        cloud = f"cloud ${self.cloud_usd('min'):,.2f} to ${self.cloud_usd('max'):,.2f} a month"
        payer = "passed through in the invoice" if self.passthrough else "paid by the customer's own account"
        text = f"{cloud} ({payer}), fee ${self.fee_usd:,.2f} a month"
        if self.unpriced:
            text += f"; not in the price catalog, so not counted: {', '.join(self.unpriced)}"
        return text

    def approval_id(self, inputs_hash: str, plan: str) -> str:
        blob = json.dumps([inputs_hash, dataclasses.asdict(self), plan], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def to_status(self, inputs_hash: str | None = None, plan: str | None = None,
                  approval_id: str | None = None) -> dict[str, Any]:
        """status.estimate; with an approval gate, also the inputs and plan the approval id is for."""
        gate = {"inputsHash": inputs_hash, "plan": plan, "approvalId": approval_id} if approval_id else {}
        return {**gate, "monthlyCloudUSDMin": self.cloud_usd("min"), "monthlyCloudUSDMax": self.cloud_usd("max"),
                "monthlyFeeUSD": self.fee_usd, "passThrough": self.passthrough,
                "nodePools": [{"name": p.name, "machineType": p.machine_type, "min": p.min_nodes, "max": p.max_nodes,
                               **({"usdPerHour": p.usd_per_hour} if p.usd_per_hour is not None else {})}
                              for p in self.pools]}


#: Clouds whose accelerators are priced apart from the machine (GKE's guest accelerators); on AWS and Azure a GPU
#: machine type's price includes its GPUs.
ACCELERATORS_APART = {"gcp", "local"}


def _price(prices: Mapping[str, Any], machine: str, gpu: NodePoolGpu | None, cloud: str = "gcp") -> float | None:
    """USD per node-hour: the machine, plus its accelerators where the cloud prices them apart (by type, in the
    same catalog)."""
    if cloud not in ACCELERATORS_APART:
        gpu = None
    if machine not in prices or (gpu is not None and gpu.type not in prices):
        return None
    return round(float(prices[machine]) + (gpu.count * float(prices[gpu.type]) if gpu else 0.0), 4)


def estimate(spec: CommunityHubSpec, catalog: Mapping[str, Any]) -> Estimate | None:
    """The monthly estimate of a dedicated hub; None for a shared one (its share is metered, not planned)."""
    dedicated = spec.placement.dedicated
    if spec.placement.type != "dedicated" or dedicated is None:
        return None
    cloud, region = PRICED_AS.get(dedicated.cloud, (dedicated.cloud, dedicated.region))
    prices = (catalog.get(cloud) or {}).get(region) or {}
    core_type, core_min, core_max = CORE_POOLS[dedicated.cloud]
    pools = [PoolCost("core", core_type, core_min, core_max, _price(prices, core_type, None))] + [
        PoolCost(p.name, p.machine_type + (f" + {p.gpu.count}x {p.gpu.type}"
                                           if p.gpu and dedicated.cloud in ACCELERATORS_APART else ""),
                 p.min, p.max, _price(prices, p.machine_type, p.gpu, dedicated.cloud)) for p in dedicated.node_pools]
    priced = tuple(pools)
    return Estimate(priced, billing.monthly_fee(spec), billing.cloud_cost_passthrough(spec))


def awaiting(estimate_: Estimate, approval_id: str, plan: str, namespace: str, name: str) -> str:
    """The message of a hub whose apply waits for a person."""
    return (f"waiting for approval before terraform applies ({plan}); estimate: {estimate_.describe()}. "
            f"Approve with: kubectl annotate communityhub -n {namespace} {name} {APPROVED}={approval_id}")
