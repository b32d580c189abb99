"""Deleting a hub, in the reverse order of delivery: the Helm release and the hub's namespace, then
(dedicated) the cluster through ``terraform destroy`` and its state and kubeconfig Secrets.

Returns None when everything is gone (Kopf then releases the finalizer), or a Verdict saying what is
still in the way, which the caller reports and retries; the finalizer stays until then.
"""

from __future__ import annotations

from lightkube import ApiError

from communityhub.adapters import kube
from communityhub.adapters.helm import HelmError, kubeconfig_file
from communityhub.conditions import Verdict
from communityhub.context import HubContext, Target
from communityhub.steps import cluster, dedicated


async def remove_release(ctx: HubContext, target: Target) -> Verdict | None:
    """helm uninstall, then the hub's namespace; None once both are gone."""
    client = ctx.clusters.get(target.kubeconfig)
    try:
        async with kubeconfig_file(target.kubeconfig) as kubeconfig:
            removed = await ctx.helm.uninstall(ctx.name, target.namespace, kubeconfig=kubeconfig)
        if removed:
            ctx.log.info("helm release uninstalled", release=ctx.name, target=target.cluster)
        if await kube.delete_namespace(client, target.namespace):
            return Verdict.unknown("NamespaceTerminating",
                                   f"waiting for namespace {target.namespace} on {target.cluster} to be deleted")
    except HelmError as err:
        return Verdict.false("HelmUninstallFailed", f"helm uninstall of {ctx.name} failed: {err.summary}")
    except ApiError as err:
        return Verdict.false("KubernetesError", f"{err.status.code} {err.status.reason}: {err.status.message}")
    except OSError as err:
        return Verdict.false("ClusterUnreachable", f"cluster {target.cluster} cannot be reached: {err}")
    return None


async def teardown(ctx: HubContext) -> Verdict | None:
    if ctx.spec.placement.type == "dedicated":
        target = dedicated.target_from_secret(ctx)
        if target is not None:
            blocked = await remove_release(ctx, target)
            if blocked is not None:
                return blocked
        blocked = await dedicated.destroy(ctx)
        if blocked is None:
            ctx.log.info("dedicated cluster destroyed")
        return blocked
    target, verdict = cluster.resolve(ctx)
    if target is None:
        return Verdict.false(
            "TeardownBlocked",
            f"cannot reach the hub's cluster to remove it: {verdict.message} (to abandon what is left there, "
            f"remove the finalizer hubs.2i2c.org/finalizer by hand)")
    blocked = await remove_release(ctx, target)
    if blocked is None:
        ctx.log.info("hub removed", target=target.cluster, namespace=target.namespace)
    return blocked
