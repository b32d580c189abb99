"""Deleting a hub, in the reverse order of delivery: the Helm release and the hub's namespace, then
(dedicated) the cluster through ``terraform destroy`` and its state and kubeconfig Secrets.

Returns None when everything is gone (Kopf then releases the finalizer), or a Verdict saying what is
still in the way, which the caller reports and retries; the finalizer stays until then.
"""

from __future__ import annotations

from lightkube import ApiError

from communityhub.adapters import kube
from communityhub.adapters.helm import HelmError, kubeconfig_file
from communityhub.api.conditions import Verdict
from communityhub.fleet import decommission
from communityhub.steps import binder, buckets, cluster, dask, dedicated, domains, homes, sso
from communityhub.steps.context import HubContext, Target

#: What helm says when it cannot reach the cluster's API.
UNREACHABLE_BY_HELM = "Kubernetes cluster unreachable"


async def keep_volumes(ctx: HubContext, target: Target) -> None:
    """Before the namespace goes: its volumes retained (unless the spec lets them go), and what they are
    recorded in the status, where the last pass finds them for the final condition and email."""
    client = ctx.clusters.get(target.kubeconfig)
    volumes = await kube.claimed_volumes(client, target.namespace)
    labels = decommission.volume_labels(ctx.namespace, ctx.name)
    for volume in decommission.to_keep(ctx.spec, volumes):
        await kube.retain_volume(client, volume["volume"], labels,
                                 {decommission.CLAIM_ANNOTATION: f"{target.namespace}/{volume['claim']}"})
    record = {"cluster": target.cluster,
              "volumes": [{k: v[k] for k in ("claim", "volume", "capacity")} for v in volumes]}
    if ctx.status.get("decommission") != record:
        await kube.patch_hub_status(ctx.clusters.get(None), ctx.namespace, ctx.name, {"decommission": record})
    ctx.decommission = record
    if volumes:
        ctx.log.info("hub volumes " + ("kept" if decommission.to_keep(ctx.spec, volumes) else "let go"),
                     volumes=[v["volume"] for v in volumes])


async def remove_release(ctx: HubContext, target: Target) -> Verdict | None:
    """helm uninstall, then the hub's namespace; None once both are gone. A namespace that is gone is done
    (helm is not run where the operator's rights went with it); one the hub does not own (another hub's, or
    somebody else's) is left alone: the hub never installed there."""
    client = ctx.clusters.get(target.kubeconfig)
    try:
        meta = await kube.namespace_meta(client, target.namespace)
        if meta is None:
            return None
        if problem := ctx.ownership(meta):
            ctx.log.warning("hub namespace left in place", reason=f"namespace {problem}")
            return None
        if not meta["terminating"]:
            await keep_volumes(ctx, target)
            if ctx.status.get("dask"):  # the gateway first: its clusters' pods go with its DaskClusters
                blocked = await dask.remove(ctx, target)
                if blocked is not None:
                    return blocked
            if ctx.status.get("binder"):  # its build pods and the docker API before the hub they serve
                blocked = await binder.remove(ctx, target)
                if blocked is not None:
                    return blocked
            if ctx.status.get("homes"):  # after keep_volumes: the server's disk is kept before its claim goes
                blocked = await homes.remove(ctx, target)
                if blocked is not None:
                    return blocked
            async with kubeconfig_file(target.kubeconfig) as kubeconfig:
                removed = await ctx.helm.uninstall(ctx.names.release, target.namespace, kubeconfig=kubeconfig)
            if removed:
                ctx.log.info("helm release uninstalled", release=ctx.names.release, target=target.cluster)
            await kube.delete_namespace(client, target.namespace)
        return Verdict.unknown("NamespaceTerminating",
                               f"waiting for namespace {target.namespace} on {target.cluster} to be deleted")
    except HelmError as err:
        if UNREACHABLE_BY_HELM in err.summary:
            return Verdict.false("ClusterUnreachable", f"cluster {target.cluster} cannot be reached: {err.summary}")
        return Verdict.false("HelmUninstallFailed", f"helm uninstall of {ctx.names.release} failed: {err.summary}")
    except ApiError as err:
        if err.status.code == 401:  # the operator's credential is gone (a destroy interrupted after its withdrawal)
            return Verdict.false("ClusterUnreachable", f"cluster {target.cluster} refuses the operator's credential")
        return Verdict.false("KubernetesError", f"{err.status.code} {err.status.reason}: {err.status.message}")
    except kube.UNREACHABLE as err:
        return Verdict.false("ClusterUnreachable", f"cluster {target.cluster} cannot be reached: {err}")
    return None


async def teardown(ctx: HubContext) -> Verdict | None:
    if ctx.spec.placement.type == "dedicated":
        target = dedicated.target_from_secret(ctx)
        if target is not None:
            blocked = await remove_release(ctx, target)
            # The release goes with the cluster: an unreachable cluster must not keep it (and its bill) alive.
            if blocked is not None and blocked.reason != "ClusterUnreachable":
                return blocked
            if blocked is not None:
                ctx.log.warning("dedicated cluster unreachable; destroying it without uninstalling the release",
                                reason=blocked.message)
        blocked = await buckets.remove(ctx) or await dedicated.destroy(ctx)
        if blocked is None:
            await release_login(ctx)
            await domains.release(ctx)
            ctx.log.info("dedicated cluster destroyed")
        return blocked
    target, verdict = cluster.resolve(ctx)
    if target is None and not ctx.status.get("cluster"):
        # Never placed (a shared cluster that does not exist, say): nothing was deployed anywhere.
        await domains.release(ctx)
        ctx.log.info("hub removed: it was never placed on a cluster", reason=verdict.message)
        return None
    if target is None:
        return Verdict.false(
            "TeardownBlocked",
            f"cannot reach the hub's cluster to remove it: {verdict.message} (to abandon what is left there, "
            f"remove the finalizer hubs.2i2c.org/finalizer by hand)")
    blocked = await remove_release(ctx, target) or await buckets.remove(ctx)
    if blocked is None:
        await release_login(ctx)
        await domains.release(ctx)
        ctx.log.info("hub removed", target=target.cluster, namespace=target.namespace)
    return blocked


async def release_login(ctx: HubContext) -> None:
    """The CILogon client the operator registered for the hub, once its release is gone: deleted, and said in the
    status record the DECOMMISSIONED email reads (a failure is said there too: revoke it by hand)."""
    outcome = await sso.deregister(ctx)
    if outcome is None:
        return
    record = {**(ctx.decommission or dict(ctx.status.get("decommission") or {})), "cilogonClient": outcome}
    await kube.patch_hub_status(ctx.clusters.get(None), ctx.namespace, ctx.name, {"decommission": record})
    ctx.decommission = record
