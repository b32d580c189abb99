"""Step 2, HubReady: the JupyterHub Helm release, deployed and Available.

Helm runs only when there is something to do: the rendered values (with the chart and version)
hash differently from what the status says was deployed, or the release's Deployments are gone.
Otherwise the step only reads the Deployments' health (from the Kopf index for the operator's own
cluster) and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import secrets
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from lightkube import ApiError, AsyncClient

from communityhub.adapters import http, kube
from communityhub.adapters.helm import IN_PROGRESS, HelmError, Release, kubeconfig_file
from communityhub.api import conditions
from communityhub.api.conditions import Verdict
from communityhub.api.models import CommunityHubSpec, NamespaceQuota
from communityhub.delivery import (
    binder,
    bucket_inputs,
    capacity,
    components,
    homes,
    names,
    policy,
    render,
    serving,
)
from communityhub.delivery.diagnosis import Cause, rollout_cause
from communityhub.runtime import metrics
from communityhub.runtime.settings import Settings
from communityhub.steps import domains as domain_claims
from communityhub.steps import homes as home_server
from communityhub.steps.context import HubContext, Target

EXPECTED_DEPLOYMENTS = ("hub", "proxy")


def chart_source(ctx: HubContext) -> tuple[str, str, str | None]:
    """(chart reference, version, repository); a local chart archive or directory has no repository. The
    version: the hub's own pin, else its FleetRollout's, else its HubClass's, else the operator's default; the
    chart: its HubClass's, else the operator's."""
    settings = ctx.settings
    target = ctx.rollout_target or {}
    own = ctx.hub_class.spec.chart if ctx.hub_class.spec is not None else None
    version = ctx.spec.hub.chart.version or target.get("chartVersion") or (own and own.version) or \
        settings.chart_version
    if own is not None and own.name:  # the class names its chart: from its repository, or a local one
        return own.name, version, own.repository
    repository = settings.chart_repository or None
    return settings.chart_name, version, repository


@functools.cache
def local_chart_version(path: str) -> str | None:
    """The version in a local chart's Chart.yaml (an archive's or a directory's), or None when unreadable."""
    try:
        if Path(path).is_dir():
            text = (Path(path) / "Chart.yaml").read_text()
        else:
            with tarfile.open(path) as archive:
                member = next(m for m in archive.getmembers() if m.name.count("/") == 1
                              and m.name.endswith("/Chart.yaml"))
                extracted = archive.extractfile(member)
                text = extracted.read().decode() if extracted else ""
        return str(yaml.safe_load(text).get("version"))
    except (OSError, StopIteration, tarfile.TarError, yaml.YAMLError, AttributeError):
        return None


def unavailable_version(ctx: HubContext) -> Verdict | None:
    """A version the operator cannot deploy: with a local chart (no repository) only that chart's own."""
    chart, version, repository = chart_source(ctx)
    if repository:
        return None
    local = local_chart_version(chart)
    if local is None or local.lstrip("v") == version.lstrip("v"):
        return None
    own = ctx.hub_class.spec.chart if ctx.hub_class.spec is not None else None
    source = "spec.hub.chart.version" if ctx.spec.hub.chart.version else (
        f"FleetRollout {ctx.rollout}" if (ctx.rollout_target or {}).get("chartVersion") else
        f"HubClass {ctx.hub_class.name}" if own is not None and own.version else "CHUB_CHART_VERSION")
    return Verdict.false("ChartVersionUnavailable",
                         f"{source} asks for chart version {version}, and the operator deploys the local chart "
                         f"{chart} (version {local}) only (CHUB_CHART_REPOSITORY is empty)")


def oauth_checksum(ctx: HubContext) -> str | None:
    """A digest of the login's Secret (OAuth client, shared password), so a rotated one rolls the hub (it stays out)."""
    if not ctx.login_secret:
        return None
    blob = b"\0".join(ctx.login_secret[k] for k in sorted(ctx.login_secret))
    return hashlib.sha256(f"{ctx.namespace}/{ctx.name}".encode() + b"\0" + blob).hexdigest()[:16]


def desired_values(ctx: HubContext) -> dict[str, Any]:
    values = render.values(ctx.namespace, ctx.name, ctx.spec, ctx.oidc_endpoints, ctx.settings.namespace,
                           ctx.names.release, refuse_spawn=ctx.guards.refuse_spawn if ctx.guards else None,
                           fleet_values=dict((ctx.rollout_target or {}).get("values") or {}),
                           class_values=ctx.hub_class.spec.values if ctx.hub_class.spec is not None else None,
                           catalog=ctx.hub_class.spec, hub_namespace=ctx.names.namespace,
                           keep_ingress=ctx.keep_ingress)
    extra = bucket_inputs.user_values(buckets_status(ctx), ctx.names.user_service_account)
    if extra:
        values = render.deep_merge(values, extra)
    values = components.with_hub_side(values, ctx.spec, ctx.hub_class.spec, ctx.names)
    checksum = oauth_checksum(ctx)
    if checksum:
        values = render.deep_merge(
            {"hub": {"annotations": {"hubs.2i2c.org/oauth-client-checksum": checksum}}}, values)
    return values


async def keeps_ingress(ctx: HubContext, target: Target, release: dict[str, Any]) -> bool:
    """Whether a hub moving onto its class's Gateway keeps its Ingress this pass: it had one (a release deployed
    before the class named a Gateway, or recorded with one), and no Gateway has accepted its route yet."""
    class_spec = ctx.hub_class.spec
    if class_spec is None or class_spec.gateway_route is None or not release.get("valuesHash"):
        return False
    if release.get("ingress") is False:
        return False
    return not await kube.route_accepted(ctx.clusters.get(target.kubeconfig), target.namespace)


def buckets_status(ctx: HubContext) -> dict[str, Any]:
    """The buckets this pass made or found (else those the status recorded)."""
    return ctx.buckets if ctx.buckets is not None else dict(ctx.status.get("buckets") or {})


def held_class_generation(ctx: HubContext, release: dict[str, Any]) -> int | None:
    """The class generation the release carries, when a change of the hub's class waits for its FleetRollout
    to reach this hub (the hub's own spec unchanged since its last deploy); else None."""
    recorded = ctx.status.get("hubClass") or {}
    if not (ctx.class_rollout and ctx.rollout != ctx.class_rollout and release.get("valuesHash")):
        return None
    if recorded.get("name") != ctx.hub_class.name or recorded.get("generation") == ctx.hub_class.generation:
        return None
    if ctx.generation != ctx.status.get("observedGeneration"):
        return None
    generation = recorded.get("generation")
    return int(generation) if generation is not None else None


def rollout_of(ctx: HubContext) -> str | None:
    """The rollout a deployed release carries: the hub's label, when that rollout still exists."""
    return ctx.rollout if ctx.rollout_target is not None else None


def carrying(release: dict[str, Any], rollout: str | None) -> dict[str, Any]:
    """The release record with the rollout it carries (no key at all without one: an unchanged record is not
    rewritten)."""
    out = {k: v for k, v in release.items() if k != "rollout"}
    if rollout:
        out["rollout"] = rollout
    return out


#: The tokens of the operator's services of each hub (usage, serving check): Secret name and key.
USAGE_TOKEN = (render.USAGE_TOKEN_SECRET_NAME, render.USAGE_TOKEN_KEY)
SERVING_CHECK_TOKEN = (serving.TOKEN_SECRET_NAME, serving.TOKEN_KEY)


async def service_token(client: AsyncClient, hub_namespace: str,
                        which: tuple[str, str] = USAGE_TOKEN) -> bytes | None:
    """The token of one of the operator's services of the hub, kept only in the hub's namespace (it goes with it)."""
    data = await kube.read_secret(client, which[0], hub_namespace)
    return (data or {}).get(which[1]) or None


async def usage_token(client: AsyncClient, hub_namespace: str) -> bytes | None:
    return await service_token(client, hub_namespace, USAGE_TOKEN)


async def ensure_service_tokens(client: AsyncClient, hub_namespace: str, labels: dict[str, str]) -> None:
    """Made once, in the hub's namespace: the operator writes nothing into the CommunityHub's namespace."""
    for which in (USAGE_TOKEN, SERVING_CHECK_TOKEN):
        if await service_token(client, hub_namespace, which) is None:
            await kube.ensure_secret(client, which[0], hub_namespace, {which[1]: secrets.token_hex(32).encode()},
                                     labels)


async def deployment_health(ctx: HubContext, target: Target) -> list[dict[str, Any]]:
    """On our own cluster the Kopf index answers, with no API call, when every Deployment is Available there. Its
    watch can lag minutes behind a busy API server, so a "not yet" is read again from the API before a pass
    says so: a Ready hub never turns RolloutInProgress on a stale copy."""
    if target.kubeconfig is None:
        indexed = list(ctx.deployments.get((target.namespace, ctx.names.release), []))
        if indexed and not waiting_for(indexed):
            return indexed
    return await kube.list_hub_deployments(ctx.clusters.get(target.kubeconfig), target.namespace,
                                           ctx.names.release)


def drifted(release: dict[str, Any], deployments: list[dict[str, Any]], now: dt.datetime,
            grace: float = 30.0) -> list[str]:
    """The release's Deployments that are gone although it was deployed ``grace`` seconds ago or more (deleted
    by hand, say); within the grace they may just not have reached the operator's watch yet."""
    if seconds_since(release.get("deployedAt"), now) < grace:
        return []
    present = {d["name"] for d in deployments}
    return [n for n in EXPECTED_DEPLOYMENTS if n not in present]


def edited(release: dict[str, Any], deployments: list[dict[str, Any]]) -> list[str]:
    """The release's Deployments whose spec changed since helm last deployed them (their generation moved past
    the one read right after that deploy): edited outside the operator (kubectl edit, scale, set image)."""
    recorded = release.get("generations") or {}
    return sorted(d["name"] for d in deployments
                  if d["name"] in recorded and d.get("generation", 0) > recorded[d["name"]])


def waiting_for(deployments: list[dict[str, Any]]) -> list[str]:
    """The Deployments of the release that are missing or not yet Available."""
    present = {d["name"]: d["ready"] for d in deployments}
    missing = [n for n in EXPECTED_DEPLOYMENTS if n not in present]
    return missing + [n for n, ready in sorted(present.items()) if not ready]


def health_verdict(release: dict[str, Any], deployments: list[dict[str, Any]], cause: Cause | None = None,
                   waited: float = 0.0, deadline: float = math.inf) -> Verdict:
    """Available, still rolling out (with the cluster's cause, if any), or past the deadline: False with it."""
    deployed = f"helm release {release.get('name')} revision {release.get('revision')} deployed"
    waiting = waiting_for(deployments)
    if not waiting:
        names = ", ".join(sorted(d["name"] for d in deployments))
        return Verdict.true("ReleaseDeployed", f"{deployed}; Deployments {names} available")
    message = f"{deployed}; waiting for Deployment(s) {', '.join(waiting)} to become Available"
    if cause:
        message += f": {cause.message}"
    if waited > deadline:
        return Verdict.false(cause.reason if cause else "RolloutTimedOut",
                             f"{message} (not Available {waited:.0f}s after the deploy; deadline {deadline:.0f}s)")
    return Verdict.unknown("RolloutInProgress", message)


def seconds_since(timestamp: str | None, now: dt.datetime) -> float:
    if not timestamp:
        return 0.0  # a release deployed before the operator recorded the time: no deadline
    return (now - dt.datetime.fromisoformat(timestamp)).total_seconds()


def hub_api_url(settings: Settings, spec: CommunityHubSpec, target: Target) -> str:
    """Where the hub's REST API answers: the setting's template, else the in-cluster Service for the
    operator's own cluster and the public URL for any other."""
    fields = {"domain": spec.hub.domain, "namespace": target.namespace, "cluster": target.cluster}
    if settings.hub_api_url:
        return settings.hub_api_url.format(**fields)
    if target.kubeconfig is None:
        return f"http://hub.{target.namespace}.svc:{render.HUB_API_PORT}/hub/api"
    return f"{render.hub_url(spec)}/hub/api"


def hub_api_is_operators(settings: Settings, target: Target) -> bool:
    """Whether the hub API's host is the operator's to name (its template without the tenant's domain, or the
    in-cluster Service): only then may it be a private address without CHUB_HTTP_ALLOW_PRIVATE."""
    if settings.hub_api_url:
        return "{domain}" not in settings.hub_api_url
    return target.kubeconfig is None


def health_url(api_url: str) -> str:
    """JupyterHub's health endpoint beside its REST API (/hub/api -> /hub/health)."""
    return api_url.rstrip("/").removesuffix("/api") + "/health"


def answer_verdict(available: Verdict, failure: str | None, was_ready: bool, waited: float,
                   deadline: float) -> Verdict:
    """HubReady once the Deployments are Available: True when the hub answers; while a new release does not
    answer yet, Unknown until the rollout deadline, then False; a hub that was Ready and stops answering, False."""
    if failure is None:
        return Verdict.true(available.reason, f"{available.message}; the hub answers")
    message = f"{available.message}, but the hub does not answer: {failure}"
    if was_ready or waited > deadline:
        return Verdict.false("HubNotAnswering", message)
    return Verdict.unknown("WaitingForHub", message)


async def observe(ctx: HubContext, target: Target, release: dict[str, Any],
                  deployments: list[dict[str, Any]]) -> Verdict:
    """HubReady from the Deployments and the hub's own health endpoint; while the Deployments wait, the cause
    the cluster gives (read only then)."""
    if not waiting_for(deployments):
        available = health_verdict(release, deployments)
        if not ctx.settings.hub_health_probe:
            return available
        url = health_url(hub_api_url(ctx.settings, ctx.spec, target))
        try:
            await http.probe(url, timeout_seconds=ctx.settings.http_timeout_seconds,
                             extra_ca_file=ctx.settings.extra_ca_file,
                             allow_private=ctx.settings.http_allow_private
                             or hub_api_is_operators(ctx.settings, target))
            failure = None
        except http.HttpError as err:
            failure = str(err)
        before = conditions.find(ctx.status.get("conditions") or [], conditions.HUB_READY)
        return answer_verdict(available, failure, bool(before and before.get("status") == "True"),
                              seconds_since(release.get("deployedAt"), dt.datetime.now(dt.UTC)),
                              ctx.settings.rollout_deadline_seconds)
    client = ctx.clusters.get(target.kubeconfig)
    pods, claims, events = await kube.rollout_objects(client, target.namespace, ctx.names.release)
    waited = seconds_since(release.get("deployedAt"), dt.datetime.now(dt.UTC))
    return health_verdict(release, deployments, rollout_cause(pods, claims, events), waited,
                          ctx.settings.rollout_deadline_seconds)


async def install(ctx: HubContext, client: AsyncClient, target: Target,
                  values: Callable[[], dict[str, Any]]) -> Release:
    """helm upgrade --install. A release that a helm killed mid-run (timeout, OOM, a restarted operator) left
    pending is recovered: no helm of this hub runs now (one pass per hub at a time, one operator leads), so
    nothing owns it; its pending records go, and the upgrade runs again."""
    chart, version, repository = chart_source(ctx)
    async with kubeconfig_file(target.kubeconfig) as kubeconfig:
        async def upgrade() -> Release:
            return await ctx.helm.upgrade_install(
                ctx.names.release, target.namespace, chart, values,
                version=version if repository else None, repository=repository, kubeconfig=kubeconfig)
        try:
            return await upgrade()
        except HelmError as err:
            if IN_PROGRESS not in err.summary:
                raise
            dropped = await kube.drop_pending_release(client, target.namespace, ctx.names.release)
            ctx.log.warning("helm release left pending by an interrupted run; its pending record removed",
                            release=ctx.names.release, records=dropped)
            return await upgrade()


#: What status.release.valuesHash says while a guard keeps the hub scaled down: matches no values, so helm runs
#: when the guard lifts, and its three-way merge brings the Deployments' replicas back.
SCALED_DOWN_HASH = "scaled-down"


async def scale_down(ctx: HubContext, why: Verdict) -> Verdict:
    """A guard's scale-down: the release's Deployments to 0 replicas and the user servers stopped, once; the
    release, its volumes and the hub's database stay. HubReady says why, with the guard's message."""
    target = ctx.target
    assert target is not None, "the cluster step runs first"
    release = dict(ctx.status.get("release") or {})
    if not release.get("name"):
        return Verdict.false(why.reason, f"{why.message} (nothing was deployed yet)")
    ctx.release = {**release, "valuesHash": SCALED_DOWN_HASH}
    try:
        running = [d["name"] for d in await deployment_health(ctx, target) if d.get("replicas", 1) > 0]
        if running:
            client = ctx.clusters.get(target.kubeconfig)
            await kube.scale_deployments(client, target.namespace, running, 0)
            stopped = await kube.delete_user_servers(client, target.namespace)
            ctx.log.info("hub scaled down", deployments=running, user_servers=len(stopped), reason=why.message)
            ctx.events.append(("Normal", "HubScaledDown",
                               f"Deployment(s) {', '.join(running)} of release {ctx.names.release} scaled to 0 and "
                               f"{len(stopped)} user server(s) stopped; volumes and the hub's database kept"))
    except ApiError as err:
        return Verdict.false("KubernetesError",
                             f"scaling down on cluster {target.cluster}: {err.status.code} {err.status.message}")
    except kube.UNREACHABLE as err:
        return Verdict.false("ClusterUnreachable", f"cluster {target.cluster} cannot be reached: {err}")
    return why


#: Where the quota rides in the values hash (never in the values helm gets).
QUOTA_KEY = "communityhub-quota"


def namespace_quota(ctx: HubContext) -> NamespaceQuota | None:
    """The hub namespace's quota on a shared cluster (a dedicated cluster is the hub's own: none)."""
    if ctx.spec.placement.type != "shared":
        return None
    class_spec = ctx.hub_class.spec
    return capacity.bounds(ctx.spec, class_spec, policy.tier_rules(ctx.spec, class_spec)).quota


async def observe_quota(ctx: HubContext, target: Target, verdict: Verdict) -> Verdict:
    """WithinQuota, from the quota's status, once the hub is deployed on a shared cluster."""
    if ctx.spec.placement.type == "shared" and verdict.status != "False":
        try:
            ctx.quota = capacity.quota_verdict(
                await kube.quota_status(ctx.clusters.get(target.kubeconfig), names.QUOTA, target.namespace))
        except ApiError as err:
            ctx.quota = Verdict.unknown("QuotaUnreadable", f"{err.status.code} {err.status.message}")
    return verdict


async def deploy(ctx: HubContext) -> Verdict:
    target = ctx.target
    assert target is not None, "the cluster step runs first"
    class_spec = ctx.hub_class.spec
    if refused := policy.hub_refusal(ctx.spec, class_spec, ctx.hub_class.name, ctx.settings.hub_values_paths):
        return refused
    if refused := unavailable_version(ctx):
        return refused
    chart, version, _ = chart_source(ctx)
    ctx.keep_ingress = await keeps_ingress(ctx, target, dict(ctx.status.get("release") or {}))
    # Not kept: a pass may wait minutes for a helm slot, and install renders them again once it has one.
    values = desired_values(ctx)
    if refused := policy.mount_refusal(render.mounts_without_volume(values), ctx.spec.environment.storage.type):
        return refused
    quota = namespace_quota(ctx)
    # The quota is in the hash: a class that changes it has it applied again, with the release.
    hashed = {**values, **({QUOTA_KEY: capacity.quota_hard(quota)} if quota else {})}
    wanted_hash = render.values_hash(chart, version, hashed)
    release = dict(ctx.status.get("release") or {})
    try:
        deployments = await deployment_health(ctx, target)
        now = dt.datetime.now(dt.UTC)
        gone = drifted(release, deployments, now, ctx.settings.drift_grace_seconds) \
            if release.get("valuesHash") else []
        changed = edited(release, deployments) if release.get("valuesHash") == wanted_hash else []
        if release.get("valuesHash") == wanted_hash and deployments and not gone and not changed:
            # The hash covers the rollout's target: what runs is what the rollout asks for.
            ctx.release = carrying(release, rollout_of(ctx))
            if homes.enabled(ctx.spec, ctx.hub_class.spec):  # its own values (a quota changed), and its use
                labels = render.hub_labels(ctx.namespace, ctx.name, ctx.spec)
                waiting = await home_server.deploy(ctx, target, ctx.clusters.get(target.kubeconfig), labels)
                if waiting is not None:
                    return waiting
            return await observe_quota(ctx, target, await observe(ctx, target, release, deployments))
        held = held_class_generation(ctx, release)
        if held is not None and release.get("valuesHash") != wanted_hash and deployments and not gone:
            # The class changed, and its FleetRollout has not reached this hub: it keeps what it runs.
            ctx.held_class_generation = held
            ctx.release = carrying(release, rollout_of(ctx))
            return await observe(ctx, target, release, deployments)
        if (gone or changed) and release.get("valuesHash") == wanted_hash:
            # Deleted or edited outside the operator: helm's three-way merge makes them again, as the release's
            # manifest says, from what is there now.
            metrics.DRIFT_REPAIRS.labels(target.cluster).inc()
            what = "; ".join(part for part in (f"deleted: {', '.join(gone)}" if gone else "",
                                               f"edited: {', '.join(changed)}" if changed else "") if part)
            ctx.events.append(("Warning", "DriftRepaired", f"Deployment(s) of release {ctx.names.release} changed "
                                                           f"outside the operator ({what}); the release is deployed "
                                                           f"again"))

        if refused := await domain_claims.claim(ctx):
            ctx.release = release or None
            return refused
        client = ctx.clusters.get(target.kubeconfig)
        labels = render.hub_labels(ctx.namespace, ctx.name, ctx.spec)
        builds, builds_annotations = binder.namespace_metadata(ctx.spec, ctx.hub_class.spec, ctx.names.binder_release,
                                                               ctx.namespace, ctx.name)
        await kube.ensure_namespace(client, target.namespace, {**labels, **render.POD_SECURITY, **builds},
                                    {**ctx.owner_annotations, **builds_annotations}, ctx.ownership)
        settings = ctx.settings
        # The operator's rights in this namespace, and no other (on its own cluster).
        if target.kubeconfig is None and settings.hub_role and await kube.ensure_role_binding(
                client, target.namespace, settings.service_account, settings.hub_role, settings.service_account,
                settings.namespace):
            await kube.wait_for_rights(client, target.namespace)
        if quota:
            # Before the release: every pod of it is admitted under the quota, with the LimitRange's requests.
            await kube.apply_objects(client, [capacity.resource_quota(target.namespace, quota, labels),
                                              capacity.limit_range(target.namespace, labels)])
        login = render.login_secret(ctx.spec)
        if ctx.login_secret and login:
            await kube.ensure_secret(client, login[0], target.namespace, ctx.login_secret, labels)
        await ensure_service_tokens(client, target.namespace, labels)
        stored = buckets_status(ctx)
        class_identity = ctx.hub_class.spec.user_service_account_annotations if ctx.hub_class.spec else {}
        if stored.get("buckets"):
            # The users' ServiceAccount, which the buckets' cloud identity trusts (its annotations say which).
            await kube.ensure_service_account(client, ctx.names.user_service_account, target.namespace, labels,
                                              stored.get("serviceAccountAnnotations") or {})
        elif class_identity:
            # The identity the provider made for this hub (the class's rule, this hub's names in it).
            await kube.ensure_service_account(client, ctx.names.user_service_account, target.namespace, labels,
                                              render.per_hub(dict(class_identity), ctx.namespace, ctx.name))
        shared = ctx.hub_class.spec.shared_storage if ctx.hub_class.spec is not None else None
        if homes.enabled(ctx.spec, ctx.hub_class.spec):
            # Before the release: its users' servers mount the claim the home server's export is bound to.
            if (waiting := await home_server.deploy(ctx, target, client, labels)) is not None:
                ctx.release = release or None
                return waiting
        elif ctx.spec.environment.storage.type == "sharedNFS" and shared is not None:
            await kube.ensure_claim(client, render.SHARED_CLAIM, target.namespace, shared.storage_class_name,
                                    shared.size, labels)
        reason = "values changed" if release.get("valuesHash") != wanted_hash else \
            f"drift: {', '.join([*(f'{n} gone' for n in gone), *(f'{n} edited' for n in changed)])}"
        ctx.log.info("helm upgrade", release=ctx.names.release, chart=chart, version=version, target=target.cluster,
                     reason=reason if release.get("valuesHash") else "first install")
        result = await install(ctx, client, target, lambda: desired_values(ctx))
        # Read now, not from the watch (it may lag behind helm): the generations helm left are the baseline an
        # edit outside the operator moves past. Recorded with the release, in the same status write.
        fresh = await kube.list_hub_deployments(client, target.namespace, ctx.names.release)
        ctx.release = carrying({"name": result.name, "revision": result.revision, "chart": result.chart,
                                "valuesHash": wanted_hash, "deployedAt": conditions.now_rfc3339(),
                                "generations": {d["name"]: d["generation"] for d in fresh}}, rollout_of(ctx))
        if ctx.hub_class.spec is not None and ctx.hub_class.spec.gateway_route is not None:
            ctx.release["ingress"] = bool((values.get("ingress") or {}).get("enabled"))
        return await observe_quota(ctx, target, await observe(ctx, target, ctx.release, fresh))
    except HelmError as err:
        ctx.release = release or None
        return Verdict.false("HelmFailed", f"helm {err.command} of release {ctx.names.release} failed: {err.summary}")
    except kube.NotOwned as err:
        return Verdict.false("NameConflict", f"{err}: the hub is not deployed there")
    except kube.NamespaceTerminating as err:
        return Verdict.unknown("NamespaceTerminating", f"{err}; the release is installed once it is gone")
    except ApiError as err:
        return Verdict.false("KubernetesError",
                             f"cluster {target.cluster}: {err.status.code} {err.status.reason}: {err.status.message}")
    except kube.UNREACHABLE as err:
        return Verdict.false("ClusterUnreachable", f"cluster {target.cluster} cannot be reached: {err}")
