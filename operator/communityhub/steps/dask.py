"""DaskReady: the hub's Dask Gateway (spec.dask), a second release in the hub's namespace (the why:
communityhub.delivery.dask).

After the hub's release is Available (the gateway's JupyterHub service token lives in the hub's Secret): the
tier and archetype allow it, the provider's controller runs on the cluster, the gateway's and Traefik's
ServiceAccounts get their Roles in the hub's namespace, and helm installs the chart without its CRDs and with
its controller and RBAC off, only when the values changed (``status.dask.valuesHash``). DaskReady is True once
the gateway's API and Traefik Deployments are Available. Turning Dask off, or deleting the hub, uninstalls it
(its clusters go with the namespace's DaskClusters).
"""

from __future__ import annotations

from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ServiceAccount
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from communityhub.adapters import kube
from communityhub.adapters.helm import HelmError, kubeconfig_file
from communityhub.adapters.kube import deployment_health
from communityhub.api.conditions import Verdict
from communityhub.delivery import capacity, dask, policy, render
from communityhub.steps.context import HubContext, Target, remove_if_recorded

KINDS: dict[str, Any] = {"ServiceAccount": ServiceAccount, "Role": Role, "RoleBinding": RoleBinding}


def _chart(ctx: HubContext) -> tuple[str, str | None, str | None]:
    settings = ctx.settings
    repository = settings.dask_chart_repository or None
    return settings.dask_chart_name, settings.dask_chart_version if repository else None, repository


async def _controller_ready(client: AsyncClient, namespace: str) -> bool:
    """The provider's controller (the chart names its Deployment controller-<release>) is Available."""
    async for deployment in client.list(Deployment, namespace=namespace, labels={"app.kubernetes.io/name":
                                                                                  "dask-gateway"}):
        health = deployment_health(deployment.to_dict())
        if str(health.get("name", "")).startswith(f"{dask.CONTROLLER_COMPONENT}-") and health.get("ready"):
            return True
    return False


async def _apply_roles(client: AsyncClient, hub_namespace: str) -> None:
    for manifest in dask.roles(hub_namespace):
        kind = KINDS[manifest["kind"]]
        name = manifest["metadata"]["name"]
        created = await kube.create_if_missing(client, kind, name, hub_namespace, manifest)
        if not created and manifest["kind"] == "Role":  # its rules as this operator version says
            await client.patch(kind, name, {"rules": manifest["rules"]}, namespace=hub_namespace)


async def deploy(ctx: HubContext, hub: Verdict) -> Verdict | None:
    """DaskReady, or None when the hub has no gateway (one it had is removed)."""
    recorded = dict(ctx.status.get("dask") or {})
    target = ctx.target
    if not dask.enabled(ctx.spec):
        if blocked := await remove_if_recorded(ctx, recorded, remove):
            return blocked
        ctx.dask = {} if recorded else None
        return None
    assert ctx.spec.dask is not None
    hub_class = ctx.hub_class.spec
    refused = dask.refusal(ctx.spec, dask.tier_default(ctx.spec.community.membership, hub_class),
                           policy.archetype_limits(ctx.spec, hub_class)) or capacity.dask_refusal(
        ctx.spec, capacity.bounds(ctx.spec, hub_class, policy.tier_rules(ctx.spec, hub_class)))
    if refused is not None:
        return refused
    if not hub.ok or target is None:
        return Verdict.unknown("WaitingForHub", "the gateway is installed once the hub is Available (it "
                                                "authenticates users through the hub)")
    client = ctx.clusters.get(target.kubeconfig)
    try:
        if not await _controller_ready(client, ctx.settings.dask_controller_namespace):
            return Verdict.false(
                "DaskControllerMissing",
                f"no Available Dask Gateway controller in namespace {ctx.settings.dask_controller_namespace} of "
                f"cluster {target.cluster}: the provider installs it once per cluster, with the chart's CRDs "
                f"(docs/operations.md, Dask Gateway)")
        values = dask.gateway_values(ctx.spec, target.namespace, ctx.names.dask_release)
        chart, version, repository = _chart(ctx)
        wanted = render.values_hash(chart, version or ctx.settings.dask_chart_version, values)
        if recorded.get("valuesHash") != wanted:
            await _apply_roles(client, target.namespace)
            async with kubeconfig_file(target.kubeconfig) as kubeconfig:
                ctx.log.info("helm upgrade", release=ctx.names.dask_release, chart=chart, target=target.cluster)
                await ctx.helm.upgrade_install(ctx.names.dask_release, target.namespace, chart, values,
                                               version=version, repository=repository, kubeconfig=kubeconfig,
                                               skip_crds=True)
        ctx.dask = {"release": ctx.names.dask_release, "valuesHash": wanted}
        waiting = []
        for name in dask.deployments(ctx.names.dask_release):
            try:
                found = await client.get(Deployment, name, namespace=target.namespace)
            except ApiError as err:
                if not kube.is_not_found(err):
                    raise
                waiting.append(f"{name} (not created)")
                continue
            if not deployment_health(found.to_dict()).get("ready"):
                waiting.append(name)
    except HelmError as err:
        return Verdict.false("HelmFailed", f"helm {err.command} of release {ctx.names.dask_release} failed: "
                                           f"{err.summary}")
    except ApiError as err:
        return Verdict.false("KubernetesError", f"{err.status.code} {err.status.reason}: {err.status.message}")
    except kube.UNREACHABLE as err:
        return Verdict.false("ClusterUnreachable", f"cluster {target.cluster} cannot be reached: {err}")
    if waiting:
        return Verdict.unknown("GatewayStarting", f"waiting for Deployment(s) {', '.join(waiting)} to be Available")
    limits = ctx.spec.dask
    return Verdict.true("DaskGatewayAvailable",
                        f"Dask Gateway {ctx.names.dask_release}: workers of {limits.worker.cores} cores and "
                        f"{limits.worker.memory}, at most {limits.max_cores_per_cluster} cores and "
                        f"{limits.max_memory_per_cluster} per cluster, idle clusters stopped after "
                        f"{limits.idle_timeout_minutes} min")


async def remove(ctx: HubContext, target: Target) -> Verdict | None:
    """Uninstall the gateway and its Roles; None once gone."""
    client = ctx.clusters.get(target.kubeconfig)
    try:
        async with kubeconfig_file(target.kubeconfig) as kubeconfig:
            if await ctx.helm.uninstall(ctx.names.dask_release, target.namespace, kubeconfig=kubeconfig):
                ctx.log.info("helm release uninstalled", release=ctx.names.dask_release)
        for manifest in dask.roles(target.namespace):
            await kube.delete_if_present(client, KINDS[manifest["kind"]], manifest["metadata"]["name"],
                                         target.namespace)
    except HelmError as err:
        return Verdict.false("HelmUninstallFailed", f"helm uninstall of {ctx.names.dask_release} failed: "
                                                    f"{err.summary}")
    return None
