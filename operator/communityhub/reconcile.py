"""One reconcile pass of one hub: the delivery steps in flow order, then the status they imply.

Create, resume, update and the periodic resync all run :func:`reconcile`; it works from the
current state, so running it twice in a row does nothing the second time. :func:`status_patch` is
pure: it returns only the status fields that differ, so a pass that decides nothing new writes
nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from communityhub.api import conditions
from communityhub.api.conditions import (
    CLUSTER_READY,
    DELIVERED,
    ENVIRONMENT_READY,
    HUB_READY,
    READY,
    SSO_READY,
    Verdict,
)
from communityhub.delivery import render
from communityhub.fleet import lifecycle
from communityhub.money import billing
from communityhub.runtime import clock
from communityhub.steps import binder, buckets, cluster, dask, delivered, environment, hub, notify, serving, sso
from communityhub.steps.context import HubContext
from communityhub.steps.meter import Meter, changed
from communityhub.steps.meter import run as run_meter

#: Seconds between passes while a rollout is in progress (nothing is wrong, just not done).
ROLLOUT_POLL_SECONDS = 3.0
#: Reasons of a hub that waits for a person (an approval) or a date (a window, a renewal), not for the cluster:
#: not polled, and not failures (the resync pass picks up what changed).
WAITING_FOR_PEOPLE = frozenset({"AwaitingApproval", conditions.SCALED_DOWN, conditions.WAITING_FOR_WINDOW})
#: Failures that wait for an object the user creates or fixes (a Secret, a shared cluster), found by one
#: read: polled at most this often however long they last, so a fix is seen within seconds, not at the end
#: of a five-minute backoff.
USER_INPUT_POLL_SECONDS = 30.0
WAITING_FOR_INPUT = frozenset({
    "CredentialsSecretNotFound", "CredentialsSecretInvalid", "ClientSecretNotFound", "ClientSecretKeyMissing",
    "SecretForbidden", "SharedClusterNotFound",
})


@dataclasses.dataclass(frozen=True)
class Outcome:
    verdicts: dict[str, Verdict]
    status_patch: dict[str, Any]
    events: list[tuple[str, str, str]]  # (type, reason, message)
    #: None when the hub is Ready; else how long to wait before the next pass.
    retry_after: float | None
    summary: Verdict
    #: Annotations whose value changes (billing, usage, cost): patched with the status.
    annotations: dict[str, str | None] = dataclasses.field(default_factory=dict)


async def run_steps(ctx: HubContext) -> dict[str, Verdict]:
    """The delivery flow. SSO and the environment are checked before the hub is deployed (the hub
    waits for them), and turn True once the release that carries them is Available."""
    if ctx.guards is not None and ctx.guards.hold is not None:
        return dict.fromkeys(conditions.STEP_CONDITIONS, ctx.guards.hold)  # nothing is made before its window
    verdicts: dict[str, Verdict] = {CLUSTER_READY: await cluster.place(ctx)}
    sso_prepared = await sso.prepare(ctx)
    env_prepared = environment.prepare(ctx)
    # The users' buckets are part of their environment: the hub is deployed once their URLs are known.
    stored = await buckets.ensure(ctx) if verdicts[CLUSTER_READY].ok and env_prepared.status != "False" else None
    if stored is not None and stored.ok:
        stored = None
    if not verdicts[CLUSTER_READY].ok:
        verdicts[HUB_READY] = Verdict.unknown("WaitingForCluster", "the hub is deployed once ClusterReady is True")
    elif sso_prepared.status == "False" or env_prepared.status == "False" or stored is not None:
        blocking = "SSOReady" if sso_prepared.status == "False" else "EnvironmentReady"
        verdicts[HUB_READY] = Verdict.unknown(
            "WaitingForConfiguration", f"the hub is deployed once {blocking} is no longer False")
    elif ctx.guards is not None and ctx.guards.scale_down is not None:
        verdicts[HUB_READY] = await hub.scale_down(ctx, ctx.guards.scale_down)
    else:
        verdicts[HUB_READY] = await hub.deploy(ctx)
    verdicts[SSO_READY] = sso.verdict(ctx, sso_prepared, verdicts[HUB_READY])
    verdicts[ENVIRONMENT_READY] = stored or environment.verdict(ctx, env_prepared, verdicts[HUB_READY])
    gateway = await dask.deploy(ctx, verdicts[HUB_READY])
    if gateway is not None:
        verdicts[conditions.DASK_READY] = gateway
    builder = await binder.deploy(ctx, verdicts[HUB_READY])
    if builder is not None:
        verdicts[conditions.BINDER_READY] = builder
    if ctx.quota is not None:
        verdicts[conditions.WITHIN_QUOTA] = ctx.quota
    if ctx.home_storage is not None:
        verdicts[conditions.HOME_STORAGE] = ctx.home_storage
    # Last: a user's server is started only on a hub whose every other step is done.
    checked = await serving.check(ctx, all(verdicts[t].ok for t in conditions.steps_of(verdicts)))
    if checked is not None:
        verdicts[conditions.SERVING_USERS] = checked
    return verdicts


def status_patch(
    old: Mapping[str, Any],
    verdicts: Mapping[str, Verdict],
    *,
    generation: int | None,
    url: str,
    extra: Mapping[str, Any],
    now: str,
    remove: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """The status fields that change, and an event for every condition that changes; conditions of ``remove``
    (guards the spec no longer sets) leave the status, and so does a field ``extra`` sets to None."""
    old_conditions = [c for c in old.get("conditions") or [] if c.get("type") not in remove]
    summary = conditions.summarize(verdicts)
    all_verdicts = {**verdicts, READY: summary}
    # kstatus's two are derived from Ready: written, but no Events of their own (Ready's says it all).
    new_conditions = conditions.apply(old_conditions, {**all_verdicts, **conditions.kstatus(summary)},
                                      generation=generation, now=now)
    was_ready = bool((c := conditions.find(old_conditions, READY)) and c.get("status") == "True") or bool(
        old.get("phase") in ("Available", "Degraded"))
    desired: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": conditions.phase(verdicts, was_ready),
        "conditions": new_conditions,
        "url": url,
        **{k: v for k, v in extra.items() if v is not None},
    }
    patch = {k: v for k, v in desired.items() if old.get(k) != v}
    patch.update({k: None for k, v in extra.items() if v is None and old.get(k) is not None})
    events = []
    for type_, verdict in all_verdicts.items():
        before = conditions.find(old_conditions, type_)
        if before is None or (before.get("status"), before.get("reason")) != (verdict.status, verdict.reason):
            kind = "Warning" if verdict.status == "False" else "Normal"
            events.append((kind, verdict.reason, f"{type_}={verdict.status}: {verdict.message}"))
    return patch, events


def backoff(retry: int) -> float:
    return float(min(5 * 2 ** min(retry, 10), 300))


#: Conditions that inform and are never a failure of the delivery.
INFORMATIONAL = (conditions.WITHIN_QUOTA, conditions.HOME_STORAGE)


def failures(verdicts: Mapping[str, Verdict]) -> frozenset[str]:
    """The reasons of the delivery's False conditions (a guard's is news, not a failure to retry): a pass that
    fails for other reasons than the one before made progress, and its backoff starts again."""
    return frozenset(v.reason for t, v in verdicts.items() if v.status == "False"
                     and t not in lifecycle.GUARD_CONDITIONS and t not in INFORMATIONAL
                     and v.reason not in WAITING_FOR_PEOPLE)


def retry_delay(verdicts: Mapping[str, Verdict], retry: int, email_failures: int = 0) -> float | None:
    """None when every step is True (and the DELIVERED email needs no retry); a short poll while only
    waiting; a growing backoff on errors. The email keeps a backoff of its own (``email_failures``
    before this pass), so the polls of a rollout do not stretch its first retry."""
    if all(verdicts[t].ok for t in conditions.STEP_CONDITIONS):
        email = verdicts.get(DELIVERED)
        if email is not None and email.reason in delivered.RETRYABLE:
            return backoff(email_failures)
        return ROLLOUT_POLL_SECONDS if email is not None and email.reason in delivered.RETRY_SOON else None
    failing = failures(verdicts)
    if failing:
        delay = backoff(retry)
        return min(delay, USER_INPUT_POLL_SECONDS) if failing <= WAITING_FOR_INPUT else delay
    if any(v.reason in WAITING_FOR_PEOPLE for v in verdicts.values()):
        return None  # nothing to poll: the resync pass picks up what the person did
    return ROLLOUT_POLL_SECONDS


async def reconcile(ctx: HubContext, retry: int = 0, email_failures: int = 0,
                    meter: Meter | None = None) -> Outcome:
    """One pass; with ``meter`` (metering is due) a Ready hub's usage and cost are read too."""
    now = clock.now(ctx.settings.clock_file)
    ctx.guards = lifecycle.evaluate(ctx.spec, ctx.annotations, now)
    verdicts = await run_steps(ctx)
    summary = conditions.summarize(verdicts)  # of the delivery steps: what follows does not change it
    ready = summary.ok
    verdicts[DELIVERED] = await delivered.deliver(ctx, ready)
    annotations = changed(ctx.annotations, billing.billing_annotations(ctx.spec))
    if meter is not None and ready:
        meter_verdicts, meter_annotations = await run_meter(ctx, meter)
        verdicts.update(meter_verdicts)
        annotations.update(meter_annotations)
    # Decided again on what metering just wrote: a budget crossed in this pass is reported in this pass.
    guards = ctx.guards if not annotations else lifecycle.evaluate(
        ctx.spec, {k: v for k, v in {**ctx.annotations, **annotations}.items() if v is not None}, now)
    verdicts.update(guards.verdicts)
    await notify.send(ctx, guards.notices, lifecycle.month_of(now))
    target = ctx.target
    hub_class = ctx.hub_class.to_status()
    if hub_class is not None and ctx.held_class_generation is not None:
        hub_class["generation"] = ctx.held_class_generation  # what the release carries, not the class's newest
    extra: dict[str, Any] = {"names": ctx.names.to_status(), "hubClass": hub_class}
    if target is not None:
        extra["cluster"] = {k: v for k, v in {
            "name": target.cluster, "namespace": target.namespace, "endpoint": target.endpoint,
            "kubeconfigSecret": target.kubeconfig_secret, "inputsHash": ctx.inputs_hash}.items() if v is not None}
    if ctx.release:
        extra["release"] = ctx.release
    if ctx.estimate:
        extra["estimate"] = ctx.estimate
    if ctx.delivered_at:
        extra["deliveredAt"] = ctx.delivered_at
    if ctx.buckets is not None:
        extra["buckets"] = ctx.buckets or None  # {}: the buckets are gone, and the field with them
    if ctx.dask is not None:
        extra["dask"] = ctx.dask or None
    if ctx.homes is not None:
        extra["homes"] = ctx.homes or None
    if ctx.binder is not None:
        extra["binder"] = ctx.binder or None
    if ctx.serving is not None:
        extra["serving"] = ctx.serving or None
    patch, events = status_patch(ctx.status, verdicts, generation=ctx.generation, url=render.hub_url(ctx.spec),
                                 extra=extra, now=conditions.now_rfc3339(),
                                 remove=guards.removed | {t for t in conditions.OPTIONAL_STEPS if t not in verdicts})
    delay = retry_delay(verdicts, retry, email_failures)
    return Outcome(verdicts, patch, [*ctx.events, *events], delay, summary, annotations)
