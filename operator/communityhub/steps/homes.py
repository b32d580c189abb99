"""The hub's home server (delivery/homes.py decides): a jupyterhub-home-nfs release in the hub's namespace, made
before the hub's release, and the hub's home volume and claim bound to its export; its exporters read for
status.homes and HomeStorage. Removed with the hub, before its namespace."""

from __future__ import annotations

from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Service

from communityhub.adapters import kube
from communityhub.adapters.helm import HelmError, kubeconfig_file
from communityhub.api.conditions import Verdict
from communityhub.delivery import classes, homes, render
from communityhub.steps.context import HubContext, Target


def _chart(ctx: HubContext) -> tuple[str, str, str | None]:
    home = homes.server(ctx.hub_class.spec)
    settings = ctx.settings
    return classes.chart_ref(home.chart if home is not None else None, settings.home_nfs_chart_name,
                             settings.home_nfs_chart_version, settings.home_nfs_chart_repository)


async def measure(ctx: HubContext, client: AsyncClient, namespace: str) -> None:
    """status.homes' usage and HomeStorage, from the server's exporters."""
    quota_text = await kube.service_proxy_get(client, namespace, homes.QUOTA_METRICS, homes.QUOTA_METRICS_PORT,
                                              "/metrics")
    disk_text = await kube.service_proxy_get(client, namespace, homes.DISK_METRICS, homes.DISK_METRICS_PORT,
                                             "/metrics")
    found = homes.usage(quota_text or "", disk_text)
    ctx.home_storage = homes.disk_verdict(found)
    if quota_text is not None:
        ctx.homes = {**(ctx.homes or {}), "usage": homes.summary(found)}


async def deploy(ctx: HubContext, target: Target, client: AsyncClient, labels: dict[str, str]) -> Verdict | None:
    """None once the hub's home claim is bound to its home server's export; else why not (HubReady)."""
    class_spec = ctx.hub_class.spec
    home = homes.server(class_spec)
    assert class_spec is not None and class_spec.shared_storage is not None and home is not None
    shared = class_spec.shared_storage
    release = ctx.names.home_release
    values = homes.server_values(ctx.spec, home, ctx.namespace, ctx.name, shared.size, shared.storage_class_name)
    chart, version, repository = _chart(ctx)
    wanted = render.values_hash(chart, version, values)
    recorded: dict[str, Any] = dict(ctx.status.get("homes") or {})
    share = homes.share(home, ctx.namespace, ctx.name)
    try:
        if recorded.get("valuesHash") != wanted:
            async with kubeconfig_file(target.kubeconfig) as kubeconfig:
                ctx.log.info("helm upgrade", release=release, chart=chart, target=target.cluster)
                await ctx.helm.upgrade_install(release, target.namespace, chart, values, version=version,
                                               repository=repository, kubeconfig=kubeconfig)
        ctx.homes = {**{k: v for k, v in recorded.items() if k != "usage"},
                     "release": release, "valuesHash": wanted, "volume": ctx.names.home_volume, "share": share}
        service = await kube.get_or_none(client, Service, homes.SERVER, target.namespace)
        address = service.spec.clusterIP if service is not None and service.spec else None
        if not address or address == "None":
            return Verdict.unknown("HomeServerStarting", f"waiting for the home server's Service {homes.SERVER}")
        volume = homes.home_volume(ctx.names.home_volume, address, share, shared.size, target.namespace,
                                   render.SHARED_CLAIM, home.mount_options, labels, ctx.owner_annotations)
        live = await kube.get_or_none(client, PersistentVolume, ctx.names.home_volume, None)
        if live is None:
            await client.create(PersistentVolume.from_dict(volume))
            ctx.log.info("home volume made", volume=ctx.names.home_volume, share=share)
        else:
            live_dict = live.to_dict()
            if problem := ctx.ownership(live_dict.get("metadata") or {}):
                return Verdict.false("NameConflict", f"PersistentVolume {ctx.names.home_volume} {problem}: the "
                                                     f"hub's homes are not mounted from it")
            if (live_dict.get("spec") or {}).get("nfs") != volume["spec"]["nfs"]:
                return Verdict.false(
                    "HomeVolumeStale",
                    f"PersistentVolume {ctx.names.home_volume} exports {live_dict['spec'].get('nfs')}, not the "
                    f"home server's {volume['spec']['nfs']} (a volume's source cannot change): delete it and the "
                    f"claim {render.SHARED_CLAIM} once no server runs, and the operator makes them anew")
        claim = await kube.get_or_none(client, PersistentVolumeClaim, render.SHARED_CLAIM, target.namespace)
        if conflict := homes.claim_conflict(claim.to_dict() if claim is not None else None, ctx.names.home_volume):
            return conflict
        if claim is None:
            await client.create(PersistentVolumeClaim.from_dict(
                homes.home_claim(render.SHARED_CLAIM, target.namespace, ctx.names.home_volume, shared.size, labels)))
        await measure(ctx, client, target.namespace)
    except HelmError as err:
        return Verdict.false("HomeServerFailed", f"helm {err.command} of the home server {release} failed: "
                                                 f"{err.summary}")
    return None


async def remove(ctx: HubContext, target: Target) -> Verdict | None:
    """Uninstall the home server and delete the hub's home volume (the homes are on the server's disk, which
    decommissioning keeps); None once gone."""
    client = ctx.clusters.get(target.kubeconfig)
    try:
        async with kubeconfig_file(target.kubeconfig) as kubeconfig:
            if await ctx.helm.uninstall(ctx.names.home_release, target.namespace, kubeconfig=kubeconfig):
                ctx.log.info("helm release uninstalled", release=ctx.names.home_release)
        live = await kube.get_or_none(client, PersistentVolume, ctx.names.home_volume, None)
        if live is not None and not ctx.ownership(live.to_dict().get("metadata") or {}):
            await kube.delete_if_present(client, PersistentVolume, ctx.names.home_volume)
    except HelmError as err:
        return Verdict.false("HelmUninstallFailed", f"helm uninstall of {ctx.names.home_release} failed: "
                                                    f"{err.summary}")
    return None
