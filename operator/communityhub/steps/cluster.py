"""Step 1, ClusterReady: where the hub runs.

Shared placement lands the hub on a cluster the operator knows by name: ``local`` (its own) or one
registered by a Secret labelled ``hubs.2i2c.org/shared-cluster=<name>`` with a ``kubeconfig`` key
in the operator's namespace. Dedicated placement (Terraform) is its own module.
"""

from __future__ import annotations

from communityhub.api.conditions import Verdict
from communityhub.steps import dedicated
from communityhub.steps.context import HubContext, Target, indexed

LOCAL = "local"
SHARED_CLUSTER_LABEL = "hubs.2i2c.org/shared-cluster"


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
    kubeconfig = indexed(ctx.shared_clusters, name)
    if kubeconfig is None:
        return None, Verdict.false(
            "SharedClusterNotFound",
            f"shared cluster {name!r} is not known; known: {', '.join(known_clusters(ctx))}. Register it with a "
            f"Secret labelled {SHARED_CLUSTER_LABEL}={name} holding a 'kubeconfig' key in namespace "
            f"{ctx.settings.namespace}.")
    return Target(cluster=name, namespace=namespace, kubeconfig=kubeconfig), Verdict.true(
        "SharedClusterAssigned", f"placed on shared cluster {name}, namespace {namespace}")


async def place(ctx: HubContext) -> Verdict:
    if ctx.spec.placement.type == "dedicated":
        return await dedicated.provision(ctx)
    ctx.target, verdict = resolve(ctx)
    return verdict
