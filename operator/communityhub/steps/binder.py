"""BinderReady: the hub's image builder (spec.binder), a binderhub-service release in the hub's namespace (the
why: communityhub.delivery.binder).

After the hub's release is Available (BinderHub's JupyterHub service token lives in the hub's Secret): the class
allows builds, its build pool exists and every node of it is tainted, the registry login the class names is read
from the operator's namespace, and helm installs the chart only when what it gets changed (``status.binder.
valuesHash``: the login's Secret by resourceVersion, never its content). BinderReady is True once BinderHub's
Deployment is Available and the docker API's DaemonSet has its pods on the pool. Turning it off, or deleting the
hub, uninstalls it; built images stay in the provider's registry.
"""

from __future__ import annotations

import base64
from typing import Any

from lightkube import ApiError
from lightkube.resources.apps_v1 import DaemonSet, Deployment
from lightkube.resources.core_v1 import Node, Secret

from communityhub.adapters import kube
from communityhub.adapters.helm import HelmError, kubeconfig_file
from communityhub.adapters.kube import deployment_health
from communityhub.api.conditions import Verdict
from communityhub.delivery import binder, classes, render
from communityhub.steps.context import HubContext, Target, remove_if_recorded


def _chart(ctx: HubContext) -> tuple[str, str, str | None]:
    own = ctx.hub_class.spec.binder.chart if ctx.hub_class.spec and ctx.hub_class.spec.binder else None
    settings = ctx.settings
    return classes.chart_ref(own, settings.binder_chart_name, settings.binder_chart_version,
                             settings.binder_chart_repository)


async def _login(ctx: HubContext, name: str) -> tuple[dict[str, str], str] | Verdict:
    """The registry login (username, password) and its Secret's resourceVersion, from the operator's namespace."""
    local = ctx.clusters.get(None)
    try:
        secret = await local.get(Secret, name, namespace=ctx.settings.namespace)
    except ApiError as err:
        if kube.is_not_found(err):
            return Verdict.false("RegistryLoginMissing", f"the registry login Secret {name} (HubClass binder."
                                                         f"registry.credentialsSecret) is not in namespace "
                                                         f"{ctx.settings.namespace}")
        raise
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.data or {}).items()}
    if not data.get("username") or not data.get("password"):
        return Verdict.false("RegistryLoginInvalid", f"the registry login Secret {name} needs the keys username "
                                                     f"and password")
    version = secret.metadata.resourceVersion if secret.metadata else None
    return {"username": data["username"], "password": data["password"]}, str(version)


async def deploy(ctx: HubContext, hub: Verdict) -> Verdict | None:
    """BinderReady, or None when the hub builds no images (a builder it had is removed)."""
    recorded = dict(ctx.status.get("binder") or {})
    target = ctx.target
    if not binder.enabled(ctx.spec):
        if blocked := await remove_if_recorded(ctx, recorded, remove):
            return blocked
        ctx.binder = {} if recorded else None
        return None
    class_spec = ctx.hub_class.spec
    if refused := binder.refusal(ctx.spec, class_spec, ctx.hub_class.name):
        return refused
    assert class_spec is not None and class_spec.binder is not None
    allowed = class_spec.binder
    if not hub.ok or target is None:
        return Verdict.unknown("WaitingForHub", "the builder is installed once the hub is Available (it is a "
                                                "service of the hub, authenticated through it)")
    client = ctx.clusters.get(target.kubeconfig)
    release = ctx.names.binder_release
    try:
        pool = binder.pool_selector(allowed, ctx.namespace, ctx.name)
        nodes = [node.to_dict() async for node in client.list(Node, labels=pool)]  # the pool's only
        if refused := binder.pool_refusal(allowed, pool, nodes):
            return refused
        login = await _login(ctx, binder.credentials_secret(allowed, ctx.namespace, ctx.name))
        if isinstance(login, Verdict):
            return login
        credentials, login_version = login
        prefix = binder.image_prefix(allowed, ctx.namespace, ctx.name, target.namespace)
        values = binder.service_values(ctx.spec, allowed, release=release, hub_url=render.hub_url(ctx.spec),
                                       prefix=prefix, login=credentials, pool=pool)
        chart, version, repository = _chart(ctx)
        # The hash knows the login by its Secret's version: a rotated password reinstalls, and none is kept.
        hidden = render.deep_merge(values, {"buildPodsRegistryCredentials": {"password": login_version},
                                            "config": {"DockerRegistry": {"password": login_version}}})
        wanted = render.values_hash(chart, version, hidden)
        if recorded.get("valuesHash") != wanted:
            async with kubeconfig_file(target.kubeconfig) as kubeconfig:
                ctx.log.info("helm upgrade", release=release, chart=chart, target=target.cluster)
                await ctx.helm.upgrade_install(release, target.namespace, chart, values, version=version,
                                               repository=repository, kubeconfig=kubeconfig)
        ctx.binder = {"release": release, "valuesHash": wanted, "imagePrefix": prefix}
        waiting = await _waiting(client, target.namespace, release)
    except HelmError as err:
        return Verdict.false("HelmFailed", f"helm {err.command} of release {release} failed: {err.summary}")
    except ApiError as err:
        return Verdict.false("KubernetesError", f"{err.status.code} {err.status.reason}: {err.status.message}")
    except kube.UNREACHABLE as err:
        return Verdict.false("ClusterUnreachable", f"cluster {target.cluster} cannot be reached: {err}")
    if waiting:
        return Verdict.unknown("BuilderStarting", f"waiting for {', '.join(waiting)}")
    return Verdict.true("BuilderAvailable", f"BinderHub {binder.builder(release)} builds images on the build pool "
                                            f"({binder.pool_text(pool)}), pushed to {prefix}<repository>")


async def _waiting(client: Any, namespace: str, release: str) -> list[str]:
    waiting = []
    deployment = await kube.get_or_none(client, Deployment, binder.builder(release), namespace)
    if deployment is None:
        waiting.append(f"Deployment {binder.builder(release)} (not created)")
    elif not deployment_health(deployment.to_dict()).get("ready"):
        waiting.append(f"Deployment {binder.builder(release)}")
    daemons = await kube.get_or_none(client, DaemonSet, binder.docker_api(release), namespace)
    state = (daemons.status if daemons is not None else None)
    if daemons is None:
        waiting.append(f"DaemonSet {binder.docker_api(release)} (not created)")
    elif state is None or not state.numberReady or state.numberReady < state.desiredNumberScheduled:
        waiting.append(f"DaemonSet {binder.docker_api(release)} ({state.numberReady if state else 0} of "
                       f"{state.desiredNumberScheduled if state else '?'} docker API pods ready)")
    return waiting


async def remove(ctx: HubContext, target: Target) -> Verdict | None:
    """Uninstall the builder (its Secrets, the registry login among them, go with the release); None once gone."""
    release = ctx.names.binder_release
    try:
        async with kubeconfig_file(target.kubeconfig) as kubeconfig:
            if await ctx.helm.uninstall(release, target.namespace, kubeconfig=kubeconfig):
                ctx.log.info("helm release uninstalled", release=release)
    except HelmError as err:
        return Verdict.false("HelmUninstallFailed", f"helm uninstall of {release} failed: {err.summary}")
    return None
