"""Kopf wiring, kept thin: decorators here, the logic in :mod:`communityhub.reconcile` and the steps.

Run with ``communityhub-operator`` (or ``make run``); it serves every namespace.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import kopf
from prometheus_client import start_http_server

from communityhub import conditions, logs, metrics, teardown
from communityhub.adapters.helm import Helm
from communityhub.adapters.kube import Clusters, deployment_health
from communityhub.api import models
from communityhub.conditions import Verdict
from communityhub.context import HubContext
from communityhub.reconcile import reconcile
from communityhub.settings import Settings
from communityhub.steps import delivery, meter
from communityhub.steps.cluster import SHARED_CLUSTER_LABEL
from communityhub.steps.dedicated import KUBECONFIG_LABEL, decode_kubeconfig

SETTINGS = Settings.from_env()
RESOURCE = (models.GROUP, models.VERSION, models.PLURAL)
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
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    # Kubernetes Events only for what we post ourselves (condition changes), not for every log line.
    settings.posting.loggers = False
    settings.watching.server_timeout = 300
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]
    memo.settings = SETTINGS
    memo.helm = Helm(binary=SETTINGS.helm, timeout=SETTINGS.helm_timeout_seconds)
    memo.clusters = Clusters()
    memo.locks = {}
    memo.discovery = {}
    memo.email_failures = {}  # (namespace, name) -> DELIVERED email failures in a row
    memo.meter = meter.Meter.from_settings(SETTINGS)
    memo.metered = {}  # (namespace, name) -> monotonic time the hub is metered next
    memo.backoff = {}  # (namespace, name) -> (failed passes in a row, monotonic time of the next attempt)
    if SETTINGS.metrics_port:
        start_http_server(SETTINGS.metrics_port)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await memo.clusters.close()


@kopf.index("apps", "v1", "deployments", labels={"app": "jupyterhub"})
def hub_deployments(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """(namespace, release) -> health of each JupyterHub Deployment, kept current by Kopf's watch."""
    return {(namespace, labels.get("release")): deployment_health(body)}


@kopf.index("v1", "secrets", labels={SHARED_CLUSTER_LABEL: kopf.PRESENT},
            when=lambda namespace, **_: namespace == SETTINGS.namespace)
def shared_clusters(labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """Shared cluster name -> its kubeconfig, from Secrets in the operator's namespace."""
    kubeconfig = decode_kubeconfig(dict(body))
    return {labels[SHARED_CLUSTER_LABEL]: kubeconfig} if kubeconfig else {}


@kopf.index("v1", "secrets", labels={KUBECONFIG_LABEL: "true"},
            when=lambda namespace, **_: namespace == SETTINGS.namespace)
def dedicated_kubeconfigs(name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """Kubeconfig Secret name -> the kubeconfig of a hub's dedicated cluster (written by the cluster step)."""
    kubeconfig = decode_kubeconfig(dict(body))
    return {name: kubeconfig} if kubeconfig else {}


def _context(body: kopf.Body, memo: kopf.Memo, hub_deployments: kopf.Index, shared_clusters: kopf.Index,
             dedicated_kubeconfigs: kopf.Index, **_: Any) -> HubContext:
    hub = models.CommunityHub.model_validate(dict(body))
    meta = body.metadata
    return HubContext(
        name=str(meta.name), namespace=str(meta.namespace), generation=meta.get("generation"),
        spec=hub.spec, status=dict(body.get("status") or {}), settings=memo.settings, helm=memo.helm,
        clusters=memo.clusters, deployments=hub_deployments, shared_clusters=shared_clusters,
        dedicated_kubeconfigs=dedicated_kubeconfigs, discovery=memo.discovery,
        annotations=dict(meta.annotations or {}), uid=str(meta.get("uid") or ""),
        log=logs.hub_logger(str(meta.namespace), str(meta.name)),
    )


async def _reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, trigger: str,
                     **indexes: Any) -> float | None:
    ctx = _context(body, memo, **indexes)
    key = (ctx.namespace, ctx.name)
    # Metering (usage and cost of Ready hubs) rides on the resync pass, every meter_seconds per hub.
    if key not in memo.metered:
        memo.metered[key] = meter.first_metering(ctx.namespace, ctx.name, memo.settings.meter_seconds,
                                                 time.monotonic())
    meter_due = trigger == "resync" and time.monotonic() >= memo.metered[key]
    failures, next_attempt = memo.backoff.get(key, (0, 0.0))
    if trigger == "resync":
        if time.monotonic() < next_attempt:
            return None  # a failing hub is retried on its backoff, not on every resync
        retry = failures
    lock = memo.locks.setdefault(key, asyncio.Lock())
    async with lock:  # the change handlers and the resync timer never work on one hub at once
        with metrics.RECONCILE_SECONDS.labels(trigger).time():
            outcome = await reconcile(ctx, retry=retry, email_failures=memo.email_failures.get(key, 0),
                                      meter=memo.meter if meter_due else None)
    if meter_due and outcome.summary.ok:
        memo.metered[key] = meter.next_metering(memo.settings.meter_seconds, time.monotonic())
    if outcome.verdicts[conditions.DELIVERED].reason in delivery.RETRYABLE:
        memo.email_failures[key] = memo.email_failures.get(key, 0) + 1
    else:
        memo.email_failures.pop(key, None)
    if outcome.retry_after is None:
        memo.backoff.pop(key, None)
    else:
        memo.backoff[key] = (retry + 1, time.monotonic() + outcome.retry_after)
    for field, value in outcome.status_patch.items():
        patch.status[field] = value
    for annotation, value in outcome.annotations.items():  # our prefix: Kopf's diffs leave these out
        patch.metadata.annotations[annotation] = value
    for kind, reason, message in outcome.events:
        kopf.event(body, type=kind, reason=reason, message=message)
    if outcome.status_patch:
        ctx.log.info("status changed", trigger=trigger, ready=outcome.summary.status,
                     reason=outcome.summary.reason, fields=sorted(outcome.status_patch))
    metrics.RECONCILES.labels(trigger, outcome.summary.status).inc()
    return outcome.retry_after


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
async def deliver(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, reason: str,
                  hub_deployments: kopf.Index, shared_clusters: kopf.Index, dedicated_kubeconfigs: kopf.Index,
                  **_: Any) -> None:
    """Walk the hub through the delivery flow; retried until every step is True."""
    delay = await _reconcile(body, patch, memo, retry, str(reason), hub_deployments=hub_deployments,
                             shared_clusters=shared_clusters, dedicated_kubeconfigs=dedicated_kubeconfigs)
    if delay is not None:
        raise kopf.TemporaryError(logs.WAITING, delay=delay)


@kopf.timer(*RESOURCE, interval=SETTINGS.resync_seconds, initial_delay=SETTINGS.resync_seconds,
            idle=SETTINGS.resync_seconds)
async def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, hub_deployments: kopf.Index,
                 shared_clusters: kopf.Index, dedicated_kubeconfigs: kopf.Index, **_: Any) -> None:
    """Drift check: the same pass, which writes nothing when nothing changed."""
    if body.metadata.get("deletionTimestamp"):
        return
    await _reconcile(body, patch, memo, 0, "resync", hub_deployments=hub_deployments,
                     shared_clusters=shared_clusters, dedicated_kubeconfigs=dedicated_kubeconfigs)


@kopf.on.delete(*RESOURCE)
async def remove(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int,
                 hub_deployments: kopf.Index, shared_clusters: kopf.Index, dedicated_kubeconfigs: kopf.Index,
                 **_: Any) -> None:
    """Tear down in reverse: the release and namespace, then a dedicated cluster; the finalizer goes last."""
    ctx = _context(body, memo, hub_deployments, shared_clusters, dedicated_kubeconfigs)
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
    for per_hub in (memo.locks, memo.metered, memo.backoff, memo.email_failures):
        per_hub.pop((ctx.namespace, ctx.name), None)


def run() -> None:
    """Console entry point: serve every namespace."""
    logs.configure()
    logging.getLogger("kopf.activities.probe").setLevel(logging.WARNING)
    liveness = f"http://0.0.0.0:{SETTINGS.health_port}/healthz" if SETTINGS.health_port else None
    kopf.run(clusterwide=True, standalone=True, liveness_endpoint=liveness)
