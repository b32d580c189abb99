"""Step 1, ClusterReady: where the hub runs.

Shared placement lands the hub on a cluster the operator knows by name: ``local`` (its own) or one
registered by a Secret labelled ``hubs.2i2c.org/shared-cluster=<name>`` with a ``kubeconfig`` key
in the operator's namespace. Dedicated placement (Terraform) is its own module.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from communityhub.api.conditions import Verdict
from communityhub.steps import dedicated
from communityhub.steps.context import HubContext, Target, indexed

LOCAL = "local"
SHARED_CLUSTER_LABEL = "hubs.2i2c.org/shared-cluster"


@dataclasses.dataclass(frozen=True)
class SharedCluster:
    """A registered shared cluster: its kubeconfig, and where it runs (for the buckets of its hubs)."""

    #: The registration Secret's keys, besides ``kubeconfig``, that say where the cluster runs.
    LOCATION_KEYS: ClassVar[tuple[str, ...]] = ("cloud", "region", "project", "clusterName", "resourceGroup")

    kubeconfig: str
    location: dict[str, str] = dataclasses.field(default_factory=dict)


def known_clusters(ctx: HubContext) -> list[str]:
    return sorted({LOCAL, *(str(k) for k in ctx.shared_clusters)})


def resolve(ctx: HubContext) -> tuple[Target | None, Verdict]:
    """Pure placement decision for a shared hub, from the spec and the shared-cluster index."""
    namespace = ctx.names.namespace
    placement = ctx.spec.placement
    name = placement.shared_cluster or LOCAL
    if name == LOCAL:
        return Target(cluster=LOCAL, namespace=namespace), Verdict.true(
            "SharedClusterAssigned", f"placed on shared cluster {LOCAL} (the operator's own), namespace {namespace}")
    registered: SharedCluster | None = indexed(ctx.shared_clusters, name)
    if registered is None:
        return None, Verdict.false(
            "SharedClusterNotFound",
            f"shared cluster {name!r} is not known; known: {', '.join(known_clusters(ctx))}. Register it with a "
            f"Secret labelled {SHARED_CLUSTER_LABEL}={name} holding a 'kubeconfig' key in namespace "
            f"{ctx.settings.namespace}.")
    return Target(cluster=name, namespace=namespace, kubeconfig=registered.kubeconfig), Verdict.true(
        "SharedClusterAssigned", f"placed on shared cluster {name}, namespace {namespace}")


async def place(ctx: HubContext) -> Verdict:
    if ctx.spec.placement.type == "dedicated":
        return await dedicated.provision(ctx)
    ctx.target, verdict = resolve(ctx)
    return verdict
