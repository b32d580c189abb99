"""Kopf wiring, kept thin: decorators here, the logic in :mod:`communityhub.reconcile` and the steps.

Run with ``communityhub-operator`` (or ``make run``); it serves every namespace.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import logging
import os
import time
from pathlib import Path
from typing import Any

import kopf
import structlog
from lightkube import ApiError, Client
from lightkube.operators import exists
from prometheus_client import start_http_server

from communityhub import teardown
from communityhub.adapters import kube
from communityhub.adapters.helm import Helm
from communityhub.adapters.kube import Clusters, WatchIndex, deployment_health
from communityhub.api import annotations as ann
from communityhub.api import conditions, models
from communityhub.api.conditions import Verdict
from communityhub.delivery import classes, names
from communityhub.delivery.render import CHART_APP
from communityhub.fleet import decommission, lifecycle, rollout_plan
from communityhub.reconcile import failures as reconcile_failures
from communityhub.reconcile import reconcile
from communityhub.runtime import clock, leader, logs, memory, metrics, profiling, sharding
from communityhub.runtime.settings import Settings
from communityhub.steps import delivered, meter, notify, placement
from communityhub.steps import rollout as rollout_controller
from communityhub.steps.cluster import SHARED_CLUSTER_LABEL, SharedCluster
from communityhub.steps.context import HubContext, first, indexed
from communityhub.steps.dedicated import KUBECONFIG_LABEL, decode_kubeconfig

SETTINGS = Settings.from_env()
SHARDING = sharding.Sharding(SETTINGS.shard, SETTINGS.shards)
RESOURCE = (models.GROUP, models.VERSION, models.PLURAL)
ROLLOUTS = (models.GROUP, models.VERSION, models.ROLLOUT_PLURAL)
HUB_CLASSES = (models.GROUP, models.VERSION, models.HUB_CLASS_PLURAL)
PREFIX = models.GROUP  # our progress/diffbase annotations, and the marker that hides ours from diffs


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    logs.configure()
    # Progress and last-handled state under our own prefix. Kopf marks the prefix as its storage and
    # leaves every hubs.2i2c.org/ annotation out of its diffs: the usage and cost annotations the
    # operator writes do not count as changes and do not wake the update handler.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration")
    settings.persistence.finalizer = SHARDING.finalizer(PREFIX)
    if SHARDING.enabled:  # only this shard's hubs are sent, kept and handled (communityhub.runtime.sharding)
        settings.watching.label_selectors[models.GROUP, models.PLURAL] = SHARDING.selector()
    # Kubernetes Events only for what we post ourselves (condition changes), not for every log line.
    settings.posting.loggers = False
    settings.watching.server_timeout = 300
    # Server-side: only the JupyterHub chart's Deployments are sent, not every Deployment in the cluster.
    settings.watching.label_selectors["apps", "deployments"] = ",".join(f"{k}={v}" for k, v in CHART_APP.items())
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]
    memo.settings = SETTINGS
    memo.helm = Helm(binary=SETTINGS.helm, timeout=SETTINGS.helm_timeout_seconds,
                     concurrency=SETTINGS.helm_concurrency, cache_dir=Path(SETTINGS.chart_cache))
    memo.clusters = Clusters()
    memo.locks = {}
    memo.discovery = {}
    memo.email_failures = {}  # (namespace, name) -> DELIVERED email failures in a row
    memo.meter = meter.Meter.from_settings(SETTINGS)
    memo.metered = {}  # (namespace, name) -> monotonic time the hub is metered next
    # (namespace, name) -> (failed passes in a row, monotonic time of the next attempt, their reasons)
    memo.backoff = {}
    memo.passes = {}  # (namespace, name) -> passes started, so a resync that waited behind another is skipped
    memo.recorded = {}  # (namespace, name) -> the status fields this process last wrote
    memo.resyncing = {}  # (namespace, name) -> the body its resync daemon holds (see resync)
    # (namespace, name) -> the monotonic time a change handler's pass asked to be looked at again, and the Event that
    # wakes the hub's resync daemon for it (see deliver)
    memo.look_again = {}
    memo.nudges = {}
    memo.class_entries = {}  # HubClass name -> its index entry at the last event (see class_changed)
    # Kubeconfigs from Secrets of the operator's own namespace, watched there only (no cluster-wide Secret rights).
    log = logs.hub_logger(SETTINGS.namespace, "secret-index")
    memo.shared_clusters = WatchIndex(SETTINGS.namespace, {SHARED_CLUSTER_LABEL: exists()}, _shared_cluster, log)
    memo.dedicated_kubeconfigs = WatchIndex(SETTINGS.namespace, {KUBECONFIG_LABEL: "true"}, _dedicated, log)
    # Shard 0 runs the FleetRollouts, which span shards: a fleet-wide view of the hubs, not Kopf's of its own.
    memo.fleet = WatchIndex(None, {}, _fleet_entry, log, resource=kube.HUB) \
        if SHARDING.enabled and SHARDING.runs_rollouts() else None
    memo.watches = [asyncio.create_task(index.run(memo.clusters.get(None)))
                    for index in (memo.shared_clusters, memo.dedicated_kubeconfigs, memo.fleet) if index is not None]
    if SHARDING.enabled:
        memo.watches.append(asyncio.create_task(placement.run(
            memo.clusters.get(None), SHARDING, logs.hub_logger(SETTINGS.namespace, f"shard-{SHARDING.me}"))))
    if SETTINGS.metrics_port:
        start_http_server(SETTINGS.metrics_port)


def _shared_cluster(secret: dict[str, Any]) -> tuple[str, SharedCluster] | None:
    """Shared cluster name -> its kubeconfig, and where it runs (the registration's other keys, for buckets)."""
    kubeconfig = decode_kubeconfig(secret)
    if not kubeconfig:
        return None
    data = secret.get("data") or {}
    location = {key: base64.b64decode(data[key]).decode() for key in SharedCluster.LOCATION_KEYS if key in data}
    return secret["metadata"]["labels"][SHARED_CLUSTER_LABEL], SharedCluster(kubeconfig, location)


def _fleet_entry(hub: dict[str, Any]) -> tuple[tuple[str, str], dict[str, Any]]:
    meta = hub["metadata"]
    return (meta["namespace"], meta["name"]), rollout_controller.index_entry(hub)


async def _fleet(memo: kopf.Memo, fleet_hubs: kopf.Index) -> Any:
    """Every hub for the FleetRollouts: Kopf's index, or with shards the fleet-wide view (Kopf's has this shard's),
    once it is listed."""
    if memo.fleet is None:
        return fleet_hubs
    await asyncio.wait_for(memo.fleet.ready.wait(), timeout=60)
    return memo.fleet.data


def _runs_rollouts(**_: Any) -> bool:
    return SHARDING.runs_rollouts()


def _dedicated(secret: dict[str, Any]) -> tuple[str, str] | None:
    """Kubeconfig Secret name -> the kubeconfig of a hub's dedicated cluster (written by the cluster step)."""
    kubeconfig = decode_kubeconfig(secret)
    return (secret["metadata"]["name"], kubeconfig) if kubeconfig else None


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.watches:
        task.cancel()
    await memo.clusters.close()


@kopf.index("apps", "v1", "deployments", labels=CHART_APP)
async def hub_deployments(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """(namespace, release) -> health of each JupyterHub Deployment, kept current by Kopf's watch."""
    return {(namespace, labels.get("release")): deployment_health(body)}


@kopf.index(*HUB_CLASSES)
async def hub_classes(body: kopf.Body, name: str, **_: Any) -> dict[Any, Any]:
    """Class name -> its spec, generation and whether it is the default (communityhub.delivery.classes)."""
    return {name: classes.index_entry(body)}


@kopf.on.event(*HUB_CLASSES)
async def class_changed(type: str | None, name: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A HubClass made, changed or deleted: its hubs are looked at now, not at their next resync (five minutes in
    production). The index above already holds the new class when this runs (Kopf indexes first); each hub's pass
    decides what the change means to it (most write nothing), and helm stays bounded by its own concurrency."""
    after = None if type == "DELETED" else classes.index_entry(body)
    before = memo.class_entries.get(name)
    if after is None:
        memo.class_entries.pop(name, None)
    else:
        memo.class_entries[name] = after
    if type is None and before is None:
        return  # the listing at start: every hub's first pass reads the classes anyway (a listing after a lost
        # watch, which Kopf also sends without a type, is compared with what was seen before it)
    named = {key: (held.get("spec") or {}).get("hubClassName") for key, held in memo.resyncing.items()}
    now = time.monotonic()
    for key in classes.hubs_to_look_at(name, before, after, named):
        memo.look_again[key] = min(memo.look_again.get(key, now), now)
        memo.nudges.setdefault(key, asyncio.Event()).set()


async def _context(body: kopf.Body, memo: kopf.Memo, hub_deployments: kopf.Index, fleet_rollouts: kopf.Index,
                   hub_classes: kopf.Index, **_: Any) -> HubContext:
    for index in (memo.shared_clusters, memo.dedicated_kubeconfigs):  # listed once at start
        await asyncio.wait_for(index.ready.wait(), timeout=60)
    hub = models.CommunityHub.model_validate(dict(body))
    meta = body.metadata
    # The operator is the only writer of status: what this process last wrote wins over a body read before that
    # write landed, so a pass queued behind a long helm or terraform run neither runs it again nor rewrites
    # conditions from an old copy.
    key = (str(meta.namespace), str(meta.name))
    observed = dict(body.get("status") or {})
    recorded = memo.recorded.get(key, {})
    status = {**observed, **recorded}
    if recorded and status == observed:
        del memo.recorded[key]  # the body has caught up with our writes: no copy of them to keep
    labels = dict(meta.labels or {})
    rollout = labels.get(rollout_plan.ROLLOUT_LABEL)
    found = indexed(fleet_rollouts, rollout) if rollout else None  # one lookup, not a copy of the index
    hub_class = classes.resolve(hub.spec, first(hub_classes))  # a handful of classes: a copy is cheap
    if found and not rollout_plan.reaches(found, labels, hub_class.name):
        logs.hub_logger(str(meta.namespace), str(meta.name)).warning(
            "the hub's rollout label names a rollout whose waves or class do not include it: ignored",
            rollout=rollout)
        found = None
    return HubContext(
        rollout=rollout, rollout_target=found["target"] if found else None,
        hub_class=hub_class,
        class_rollout=rollout_plan.holding_class(hub_class.name, first(fleet_rollouts))
        if hub_class.spec is not None else None,
        name=str(meta.name), namespace=str(meta.namespace), generation=meta.get("generation"),
        spec=hub.spec, status=status, settings=memo.settings, helm=memo.helm,
        names=names.resolve(str(meta.namespace), str(meta.name), status),
        clusters=memo.clusters, deployments=hub_deployments, shared_clusters=memo.shared_clusters.data,
        dedicated_kubeconfigs=memo.dedicated_kubeconfigs.data, discovery=memo.discovery,
        annotations=dict(meta.annotations or {}), uid=str(meta.get("uid") or ""),
        log=logs.hub_logger(str(meta.namespace), str(meta.name)),
    )


async def _reconcile(body: kopf.Body, patch: kopf.Patch | None, memo: kopf.Memo, trigger: str,
                     hub_deployments: kopf.Index, fleet_rollouts: kopf.Index, hub_classes: kopf.Index) -> float | None:
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    key = (namespace, name)
    # Metering (usage and cost of Ready hubs) rides on the resync pass, every meter_seconds per hub.
    if key not in memo.metered:
        memo.metered[key] = meter.first_metering(namespace, name, memo.settings.meter_seconds, time.monotonic())
    meter_due = trigger == "resync" and time.monotonic() >= memo.metered[key]
    # Backoff counts failed passes in a row (not Kopf's retries, which include the polls of a rollout), and a
    # changed spec is tried at once: the fix a user just applied is not kept waiting.
    failures, next_attempt, failing = memo.backoff.get(key, (0, 0.0, frozenset()))
    if body.metadata.get("generation") != (body.get("status") or {}).get("observedGeneration"):
        failures, next_attempt, failing = 0, 0.0, frozenset()
    if trigger == "resync" and time.monotonic() < next_attempt:
        return next_attempt - time.monotonic()  # a failing hub is retried on its backoff, not on every resync
    lock = memo.locks.setdefault(key, asyncio.Lock())
    passes = memo.passes.get(key, 0)
    async with lock:  # the change handlers and the resync timer never work on one hub at once
        if trigger == "resync" and memo.passes.get(key, 0) != passes:
            return None  # another pass ran while this one waited: its body predates that pass's writes
        memo.passes[key] = memo.passes.get(key, 0) + 1
        # Built only now: with what the pass before this one recorded (see _context).
        ctx = await _context(body, memo, hub_deployments, fleet_rollouts, hub_classes)
        if not await _taken_over(ctx, memo, list(body.metadata.get("finalizers") or [])):
            return TAKEOVER_POLL_SECONDS
        try:
            with metrics.RECONCILE_SECONDS.labels(trigger).time():
                outcome = await reconcile(ctx, retry=failures, email_failures=memo.email_failures.get(key, 0),
                                          meter=memo.meter if meter_due else None)
        except (kopf.TemporaryError, kopf.PermanentError):
            raise
        except Exception as err:
            metrics.RECONCILE_ERRORS.labels(trigger).inc()
            await _say_the_operator_failed(memo, body, ctx, err)
            raise  # Kopf logs it with its traceback and retries on its own backoff
        if ctx.status.get("shard") != SHARDING.served_by:
            outcome.status_patch["shard"] = SHARDING.served_by
        if outcome.status_patch:
            # Written now, under the hub's lock, not by Kopf after the handler returns: Kopf's patches of two
            # passes (a change handler's and the resync timer's) could land out of order, an older status over a
            # newer one this process remembers as written, and the hub stayed RolloutInProgress while Ready.
            try:
                await kube.patch_hub_status(memo.clusters.get(None), namespace, name, outcome.status_patch)
            except ApiError as err:
                if kube.is_not_found(err):
                    return None
                raise kopf.TemporaryError(f"writing the status failed: {err.status.code} {err.status.message}",
                                          delay=5) from err
            memo.recorded.setdefault(key, {}).update(outcome.status_patch)
            if "conditions" in outcome.status_patch:
                for phase, seconds in metrics.first_delivery(
                        ctx.status.get("conditions") or [], outcome.status_patch["conditions"],
                        body.metadata.get("creationTimestamp"), bool(ctx.status.get("deliveredAt")),
                        datetime.datetime.now(datetime.UTC)).items():
                    metrics.DELIVERY_SECONDS.labels(phase).observe(seconds)
        metrics.HUBS.update(key, memo.recorded.get(key, {}).get("conditions") or ctx.status.get("conditions") or [])
    if meter_due and outcome.summary.ok:
        memo.metered[key] = meter.next_metering(memo.settings.meter_seconds, time.monotonic())
    if outcome.verdicts[conditions.DELIVERED].reason in delivered.RETRYABLE:
        memo.email_failures[key] = memo.email_failures.get(key, 0) + 1
    else:
        memo.email_failures.pop(key, None)
    if outcome.retry_after is None:
        memo.backoff.pop(key, None)
    else:
        now_failing = reconcile_failures(outcome.verdicts)
        # Counted only while the same steps fail for the same reasons: a new failure is progress.
        in_a_row = failures + 1 if now_failing and now_failing == failing else 1 if now_failing else 0
        memo.backoff[key] = (in_a_row, time.monotonic() + outcome.retry_after, now_failing)
    if patch is not None:
        for annotation, value in outcome.annotations.items():  # our prefix: Kopf's diffs leave these out
            patch.metadata.annotations[annotation] = value
    elif outcome.annotations:  # a resync: no Kopf patch to carry them
        try:
            await kube.patch_hub_annotations(memo.clusters.get(None), namespace, name, outcome.annotations)
        except ApiError as err:
            if not kube.is_not_found(err):
                raise
    for kind, reason, message in outcome.events:
        kopf.event(body, type=kind, reason=reason, message=message)
    if outcome.status_patch:
        ctx.log.info("status changed", trigger=trigger, ready=outcome.summary.status,
                     reason=outcome.summary.reason, fields=sorted(outcome.status_patch))
    metrics.RECONCILES.labels(trigger, outcome.summary.status).inc()
    return outcome.retry_after


#: Seconds between two looks of a shard at a hub another shard has not handed over yet.
TAKEOVER_POLL_SECONDS = 2.0


async def _taken_over(ctx: HubContext, memo: kopf.Memo, finalizers: list[str]) -> bool:
    """Is the hub this shard's to act on now? A hub another shard served waits until that shard hands it over
    (status.shard) or holds no Lease; then the other shards' finalizers go, so no shard that no longer sees the
    hub keeps it from being deleted. Nothing is written while waiting: its conditions stay as they were."""
    served_by = ctx.status.get("shard")
    client = memo.clusters.get(None)
    if served_by != SHARDING.served_by:
        alive = SHARDING.enabled and served_by is not None and await kube.lease_alive(
            client, SETTINGS.namespace, SHARDING.lease_of(SETTINGS.leader_lease, str(served_by)))
        decision = sharding.takeover(served_by, SHARDING, alive)
        if not decision.go:
            ctx.log.info("waiting for a handover", reason=decision.message)
            return False
        if served_by is not None:
            ctx.log.info("hub taken over", reason=decision.message)
    if foreign := SHARDING.foreign_finalizers(PREFIX, finalizers):
        with contextlib.suppress(ApiError):  # a 409 (changed meanwhile) or 404: the next pass looks again
            await kube.remove_finalizers(client, ctx.namespace, ctx.name, foreign)
            ctx.log.info("hub taken over: the other shards' finalizers removed")
    return True


def _forget(memo: kopf.Memo, key: tuple[str, str]) -> None:
    """What this process keeps of a hub, for a hub deleted or handed to another shard."""
    for per_hub in (memo.locks, memo.metered, memo.backoff, memo.email_failures, memo.recorded, memo.resyncing,
                    memo.look_again, memo.nudges):
        per_hub.pop(key, None)
    metrics.HUBS.forget(key)
    metrics.forget_cluster_credential(key)


@kopf.on.event(*RESOURCE)
async def hand_over(type: str, event: dict[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A hub relabelled to another shard leaves this shard's watch: a DELETED event that carries the hub as it was
    (a real deletion's carries its deletionTimestamp). Once the pass that may be running on it is over, the new
    shard is told in status.shard, and the hub forgotten here."""
    # Kopf keeps each hub's latest body for its daemon: kept small (a fleet's memory, runtime/memory.py).
    if isinstance(event.get("object"), dict):
        memory.compact(event["object"])
    if not SHARDING.enabled or type != "DELETED" or body.metadata.get("deletionTimestamp"):
        return
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    key = (namespace, name)
    client = memo.clusters.get(None)
    async with memo.locks.setdefault(key, asyncio.Lock()):
        try:
            live = await client.get(kube.HUB, name, namespace=namespace)
        except ApiError as err:
            if not kube.is_not_found(err):
                raise
            live = None  # deleted for good
        label = ((live.metadata.labels or {}) if live is not None and live.metadata else {}).get(sharding.LABEL)
        if live is not None and label != SHARDING.me:
            # A resync that queued behind this lock sees a pass went by, and skips (see _reconcile).
            memo.passes[key] = memo.passes.get(key, 0) + 1
            new = label if label in SHARDING.names() else None  # none: the shard that places it takes it at once
            with contextlib.suppress(ApiError):  # gone meanwhile
                await kube.patch_hub_status(client, namespace, name, {"shard": new})
            logs.hub_logger(namespace, name).info("hub handed over", to_shard=new, from_shard=SHARDING.me)
        elif live is not None:
            return  # still this shard's
    _forget(memo, key)


async def _say_the_operator_failed(memo: kopf.Memo, body: kopf.Body, ctx: HubContext, err: Exception) -> None:
    """A bug, not a condition any step knows: Ready says so (the log has the traceback), rather than a status
    that stays as it was. Only the exception's type: its text may quote values."""
    old = list(ctx.status.get("conditions") or [])
    failed = Verdict.false("OperatorError", f"the operator failed on this hub ({type(err).__name__}); its log "
                                            f"has the details, and it retries")
    new = conditions.apply(old, {conditions.READY: failed, **conditions.kstatus(failed)}, generation=ctx.generation,
                           now=conditions.now_rfc3339())
    if not conditions.changed(old, new):
        return
    with contextlib.suppress(Exception):  # the original error is the one to report
        await kube.patch_hub_status(memo.clusters.get(None), ctx.namespace, ctx.name, {"conditions": new})
        memo.recorded.setdefault((ctx.namespace, ctx.name), {})["conditions"] = new
        kopf.event(body, type="Warning", reason="OperatorError", message=failed.message)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
@kopf.on.update(*RESOURCE, field="metadata.labels")  # a FleetRollout reaching the hub (its label), or leaving it
async def deliver(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, reason: str,
                  hub_deployments: kopf.Index, fleet_rollouts: kopf.Index, hub_classes: kopf.Index, **_: Any) -> None:
    """Walk the hub through the delivery flow, once per change. What is left (a rollout to poll, a failure to retry
    on its backoff) is the hub's resync daemon's, woken for it: Kopf's own retries would write their progress
    annotations on every attempt, and a hub that keeps failing the same way must write nothing."""
    delay = await _reconcile(body, patch, memo, str(reason), hub_deployments, fleet_rollouts, hub_classes)
    if delay is not None:
        key = (str(body.metadata.namespace), str(body.metadata.name))
        memo.look_again[key] = time.monotonic() + delay
        memo.nudges.setdefault(key, asyncio.Event()).set()


#: The shortest wait of the resync loop after a pass that asked to be looked at again.
MIN_RESYNC_DELAY = 1.0


@kopf.daemon(*RESOURCE)
async def resync(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, hub_deployments: kopf.Index,
                 fleet_rollouts: kopf.Index, hub_classes: kopf.Index, logger: Any, **_: Any) -> None:
    """Drift check every resync_seconds: the same pass, which writes nothing when nothing changed (a changed
    HubClass is a change). A daemon, not a Kopf timer: a hub relabelled to another shard leaves this shard's watch
    without a deletion, which stops no timer; this loop ends once hand_over forgets the hub (its body is no longer
    the one registered here)."""
    key = (str(body.metadata.namespace), str(body.metadata.name))
    memo.resyncing[key] = body
    wait = SETTINGS.resync_seconds
    try:
        while not await _rest(stopped, memo, key, wait):
            if memo.resyncing.get(key) is not body:
                return  # handed over to another shard (or a newer daemon of this hub took over)
            wait = SETTINGS.resync_seconds
            if body.metadata.get("deletionTimestamp"):
                continue
            try:
                delay = await _reconcile(body, None, memo, "resync", hub_deployments, fleet_rollouts, hub_classes)
            except kopf.TemporaryError as err:  # already said (a status write that failed)
                delay = err.delay
            except Exception:  # a bug: Ready says so (see _reconcile); the next resync tries again
                logger.exception("resync failed")
                continue
            if delay is not None:  # what this pass found is looked at again when the pass says, not in 5 minutes
                wait = min(max(delay, MIN_RESYNC_DELAY), SETTINGS.resync_seconds)
    finally:
        if memo.resyncing.get(key) is body:
            del memo.resyncing[key]


async def _rest(stopped: kopf.DaemonStopped, memo: kopf.Memo, key: tuple[str, str], seconds: float) -> bool:
    """The resync daemon's wait for its next pass: ``seconds``, or until the time a change handler's pass asked for
    (``memo.look_again``) if that comes sooner. True once the daemon is stopped."""
    deadline = time.monotonic() + seconds
    nudge = memo.nudges.setdefault(key, asyncio.Event())
    while True:
        nudge.clear()  # before the look: a nudge set after it wakes the wait below
        if (asked := memo.look_again.pop(key, None)) is not None:
            deadline = min(deadline, asked)
        left = deadline - time.monotonic()
        if stopped or left <= 0:
            return bool(stopped)
        waits = [asyncio.ensure_future(stopped.wait(left)), asyncio.ensure_future(nudge.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()


#: Attempts at the DECOMMISSIONED email before the hub goes without it (a Warning Event says so): a broken
#: SMTP server must not keep a deleted hub, and its finalizer, forever.
DECOMMISSION_EMAIL_ATTEMPTS = 4


async def _say_it_is_decommissioned(ctx: HubContext, body: kopf.Body, memo: kopf.Memo) -> None:
    """The final condition, Event and DECOMMISSIONED email: what was kept and where, what to revoke."""
    record = ctx.decommission or dict(ctx.status.get("decommission") or {})
    buckets = [str(b.get("url")) for b in (ctx.status.get("buckets") or {}).get("buckets") or []]
    verdict, notice = decommission.summary(ctx.spec, ctx.namespace, ctx.name, str(record.get("cluster") or "-"),
                                           list(record.get("volumes") or []), buckets, record.get("cilogonClient"))
    # Only to a community that got its hub: one deleted before its delivery (a mistaken manifest) never ran.
    delivered = bool(ctx.annotations.get(ann.DELIVERED_AT))
    failed = await notify.send(ctx, [notice] if delivered else [],
                               lifecycle.month_of(clock.now(ctx.settings.clock_file)))
    for kind, reason, message in ctx.events:
        kopf.event(body, type=kind, reason=reason, message=message)
    key = (ctx.namespace, ctx.name)
    attempts = memo.email_failures[key] = memo.email_failures.get(key, 0) + 1 if failed else 0
    if failed and attempts < DECOMMISSION_EMAIL_ATTEMPTS:
        raise kopf.TemporaryError("the DECOMMISSIONED email failed; trying again", delay=10)
    if failed:
        kopf.event(body, type="Warning", reason="DecommissionEmailFailed",
                   message=f"the DECOMMISSIONED email failed {DECOMMISSION_EMAIL_ATTEMPTS} times; the hub goes "
                           f"without it. What it said: {verdict.message}")
    old = list(ctx.status.get("conditions") or [])
    new = conditions.apply(old, {decommission.DECOMMISSIONED: verdict}, generation=ctx.generation,
                           now=conditions.now_rfc3339())
    with contextlib.suppress(ApiError):  # gone already: the Event and the email carry it
        await kube.patch_hub_status(ctx.clusters.get(None), ctx.namespace, ctx.name, {"conditions": new})
    kopf.event(body, type="Normal", reason=decommission.DECOMMISSIONED, message=verdict.message)
    ctx.log.info("hub decommissioned", kept=verdict.message)


@kopf.on.delete(*RESOURCE)
async def remove(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int,
                 hub_deployments: kopf.Index, fleet_rollouts: kopf.Index, hub_classes: kopf.Index,
                 **_: Any) -> None:
    """Tear down in reverse: the release and namespace, then a dedicated cluster; the finalizer goes last."""
    ctx = await _context(body, memo, hub_deployments, fleet_rollouts, hub_classes)
    lock = memo.locks.setdefault((ctx.namespace, ctx.name), asyncio.Lock())
    async with lock:
        result = await teardown.teardown(ctx)
    status = dict(body.get("status") or {})
    if status.get("phase") != "Deleting":
        patch.status["phase"] = "Deleting"
    if result is not None:
        # Ready says why the hub is not gone yet (the finalizer stays until it is).
        ready = Verdict("False", result.reason, f"deletion: {result.message}")
        new_conditions = conditions.apply(status.get("conditions") or [], {conditions.READY: ready},
                                          generation=body.metadata.get("generation"), now=conditions.now_rfc3339())
        if conditions.changed(status.get("conditions") or [], new_conditions):
            patch.status["conditions"] = new_conditions
            kopf.event(body, type="Warning" if result.status == "False" else "Normal", reason=result.reason,
                       message=result.message)
        raise kopf.TemporaryError(result.message, delay=min(5 * 2 ** min(retry, 6), 120))
    await _say_it_is_decommissioned(ctx, body, memo)
    _forget(memo, (ctx.namespace, ctx.name))
    memo.passes.pop((ctx.namespace, ctx.name), None)


# ------------------------------------------------------------------------------------- FleetRollouts
@kopf.index(*RESOURCE)
async def fleet_hubs(body: kopf.Body, namespace: str, name: str, **_: Any) -> dict[Any, Any]:
    """(namespace, name) -> what a rollout needs of each hub (its labels, Ready, the rollout it runs)."""
    return {(namespace, name): rollout_controller.index_entry(body)}


@kopf.index(*ROLLOUTS)
async def fleet_rollouts(body: kopf.Body, name: str, **_: Any) -> dict[Any, Any]:
    """Rollout name -> its target and age (the hubs read their rollout's target here)."""
    return {name: rollout_controller.rollout_entry(body)}


@kopf.on.resume(*ROLLOUTS, when=_runs_rollouts)
@kopf.on.create(*ROLLOUTS, when=_runs_rollouts)
@kopf.on.update(*ROLLOUTS, field="spec", when=_runs_rollouts)
async def start_rollout(body: kopf.Body, name: str, memo: kopf.Memo, fleet_hubs: kopf.Index,
                        fleet_rollouts: kopf.Index, **_: Any) -> None:
    await _advance(body, name, memo, fleet_hubs, fleet_rollouts)


@kopf.timer(*ROLLOUTS, interval=SETTINGS.rollout_seconds, initial_delay=SETTINGS.rollout_seconds,
            when=_runs_rollouts)
async def advance_rollout(body: kopf.Body, name: str, memo: kopf.Memo, fleet_hubs: kopf.Index,
                          fleet_rollouts: kopf.Index, **_: Any) -> None:
    """The next hubs, once those before them are Ready on the target (a pass that starts nothing writes
    nothing)."""
    if not body.metadata.get("deletionTimestamp"):
        await _advance(body, name, memo, fleet_hubs, fleet_rollouts)


async def _advance(body: kopf.Body, name: str, memo: kopf.Memo, fleet_hubs: kopf.Index,
                   fleet_rollouts: kopf.Index) -> None:
    log = structlog.get_logger("communityhub").bind(rollout=name)
    decided, changed, started = await rollout_controller.advance(
        memo.clusters.get(None), name, dict(body), await _fleet(memo, fleet_hubs), fleet_rollouts)
    for key in started:
        log.info("rollout reaches hub", hub=key, wave=decided.wave)
    if started:
        kopf.event(body, type="Normal", reason="HubsStarted",
                   message=f"wave {decided.wave}: {', '.join(started)}")
    if "phase" in changed:
        log.info("rollout phase", phase=decided.phase, reason=decided.verdict.reason, progress=decided.progress)
        kopf.event(body, type="Warning" if decided.verdict.status == "False" and decided.phase == "Halted"
                   else "Normal", reason=decided.verdict.reason, message=decided.verdict.message)


@kopf.on.delete(*ROLLOUTS, when=_runs_rollouts)
async def roll_back(name: str, memo: kopf.Memo, fleet_hubs: kopf.Index, **_: Any) -> None:
    """Deleting a rollout rolls it back: its hubs return to the rollout they ran before, or to the defaults."""
    back = await rollout_controller.roll_back(memo.clusters.get(None), name, await _fleet(memo, fleet_hubs))
    structlog.get_logger("communityhub").bind(rollout=name).info("rollout rolled back", hubs=back)


def run() -> None:
    """Console entry point: serve every namespace, once this replica leads."""
    logs.configure()
    if SETTINGS.memory_profile:
        profiling.enable(SETTINGS.memory_profile)
    logging.getLogger("kopf.activities.probe").setLevel(logging.WARNING)
    liveness = f"http://0.0.0.0:{SETTINGS.health_port}/healthz" if SETTINGS.health_port else None
    election = None
    if SETTINGS.leader_election:
        log = structlog.get_logger("communityhub").bind(component="leader-election")
        election = leader.LeaderElection(
            Client(field_manager="communityhub-operator"), SETTINGS.namespace, SHARDING.lease(SETTINGS.leader_lease),
            SETTINGS.leader_lease_seconds, SETTINGS.leader_renew_seconds, log=log.info,
            after=SHARDING.replaces(SETTINGS.leader_lease))
        standby = leader.StandbyHealth(SETTINGS.health_port) if SETTINGS.health_port else None
        try:
            election.acquire()
        finally:
            if standby is not None:
                standby.stop()
        # Lost leadership: stop at once, before another replica's work can overlap ours (restarted as standby).
        election.keep(lost=lambda: os._exit(1))
    try:
        kopf.run(clusterwide=True, standalone=True, liveness_endpoint=liveness, memo=memory.SharedMemo())
    finally:
        if election is not None:
            election.release()
