"""The pure parts of a reconcile pass: the status patch, retries, placement decisions."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import structlog

from communityhub import reconcile
from communityhub.adapters.helm import Helm, _summarize
from communityhub.adapters.kube import Clusters, deployment_health
from communityhub.api import conditions
from communityhub.api.conditions import Verdict
from communityhub.delivery import names
from communityhub.runtime.settings import Settings
from communityhub.steps import cluster, hub
from communityhub.steps.context import HubContext
from tests.unit.test_render import base_spec

T0, T1 = "2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z"
ALL_TRUE = {t: Verdict.true("Ok", "fine") for t in conditions.STEP_CONDITIONS}


def patch_of(old: dict, verdicts: dict, now: str = T0, generation: int = 1) -> tuple[dict, list]:
    return reconcile.status_patch(old, verdicts, generation=generation, url="https://x", extra={}, now=now)


def test_a_pass_that_decides_nothing_new_patches_nothing() -> None:
    first, events = patch_of({}, ALL_TRUE)
    assert set(first) == {"observedGeneration", "phase", "conditions", "url"}
    assert {e[1] for e in events} == {"Ok", "HubAvailable"}
    second, events_again = patch_of(first, ALL_TRUE, now=T1)
    assert second == {} and events_again == []


def test_kstatus_reconciling_and_stalled_follow_ready_without_events_of_their_own() -> None:
    """What Flux and kstatus read: Reconciling while a step is on its way, Stalled while one failed."""
    def kstatus(patch: dict) -> tuple[str, str]:
        by_type = {c["type"]: c["status"] for c in patch["conditions"]}
        return by_type["Reconciling"], by_type["Stalled"]
    waiting, events = patch_of({}, {**ALL_TRUE, "HubReady": Verdict.unknown("RolloutInProgress", "rolling")})
    assert kstatus(waiting) == ("True", "False")
    assert not {"Reconciling", "Stalled"} & {e[2].split("=")[0] for e in events}
    failed, _ = patch_of(waiting, {**ALL_TRUE, "HubReady": Verdict.false("HelmFailed", "boom")}, now=T1)
    assert kstatus(failed) == ("False", "True")
    stalled = next(c for c in failed["conditions"] if c["type"] == "Stalled")
    assert (stalled["reason"], stalled["observedGeneration"]) == ("HelmFailed", 1)
    ready, _ = patch_of(failed, ALL_TRUE, now=T1)
    assert kstatus(ready) == ("False", "False")


def test_only_changed_fields_and_changed_conditions_are_reported() -> None:
    first, _ = patch_of({}, ALL_TRUE)
    broken = {**ALL_TRUE, "HubReady": Verdict.false("HelmFailed", "boom")}
    patch, events = patch_of(first, broken, now=T1)
    assert set(patch) == {"phase", "conditions"}
    assert patch["phase"] == "Degraded"
    assert [(e[0], e[1]) for e in events] == [("Warning", "HelmFailed"), ("Warning", "HelmFailed")]
    hub_ready = conditions.find(patch["conditions"], "HubReady")
    assert hub_ready["lastTransitionTime"] == T1
    assert conditions.find(patch["conditions"], "ClusterReady")["lastTransitionTime"] == T0


def test_new_generation_is_observed() -> None:
    first, _ = patch_of({}, ALL_TRUE)
    patch, events = patch_of(first, ALL_TRUE, now=T1, generation=2)
    assert patch["observedGeneration"] == 2 and events == []
    assert all(c["observedGeneration"] == 2 for c in patch["conditions"])


def test_retry_delay() -> None:
    assert reconcile.retry_delay(ALL_TRUE, retry=0) is None
    waiting = {**ALL_TRUE, "HubReady": Verdict.unknown("RolloutInProgress")}
    assert reconcile.retry_delay(waiting, retry=7) == reconcile.ROLLOUT_POLL_SECONDS
    failing = {**ALL_TRUE, "HubReady": Verdict.false("HelmFailed")}
    delays = [reconcile.retry_delay(failing, retry=r) for r in range(10)]
    assert delays[0] == 5 and delays == sorted(delays) and delays[-1] == 300
    # A Secret the user has yet to create or fix is one read: polled at a short interval however long it lasts,
    # unless something costlier fails too.
    missing = {**ALL_TRUE, "ClusterReady": Verdict.false("CredentialsSecretNotFound")}
    assert reconcile.retry_delay(missing, retry=0) == 5
    assert reconcile.retry_delay(missing, retry=9) == reconcile.USER_INPUT_POLL_SECONDS < 300
    assert reconcile.retry_delay({**missing, "HubReady": Verdict.false("HelmFailed")}, retry=9) == 300
    assert reconcile.failures(missing) == {"CredentialsSecretNotFound"}
    raced = {**ALL_TRUE, "Delivered": Verdict.unknown("Sending")}  # the email's intent lost a race: soon again
    assert reconcile.retry_delay(raced, retry=0) == reconcile.ROLLOUT_POLL_SECONDS


def context(placement: dict, shared: dict | None = None) -> HubContext:
    return HubContext(name="lab", namespace="hubs", generation=1, spec=base_spec(placement=placement), status={},
                      settings=Settings(), helm=Helm(), clusters=Clusters(), deployments={},
                      shared_clusters=shared or {}, log=structlog.get_logger(), names=names.derive("hubs", "lab"))


def test_placement_on_local_and_known_and_unknown_shared_clusters() -> None:
    target, verdict = cluster.resolve(context({"type": "shared", "sharedCluster": "local"}))
    assert verdict.ok and target is not None and target.kubeconfig is None
    assert target.namespace == names.derive("hubs", "lab").namespace
    eu = {"eu": [cluster.SharedCluster("kubeconfig-text")]}
    target, verdict = cluster.resolve(context({"type": "shared", "sharedCluster": "eu"}, eu))
    assert verdict.ok and target is not None and target.kubeconfig == "kubeconfig-text"
    target, verdict = cluster.resolve(context({"type": "shared", "sharedCluster": "us"}, eu))
    assert target is None and verdict.reason == "SharedClusterNotFound"
    assert "known: eu, local" in verdict.message and "hubs.2i2c.org/shared-cluster=us" in verdict.message


def test_hub_health_verdict() -> None:
    release = {"name": "lab", "revision": 3}
    ok = hub.health_verdict(release, [{"name": "hub", "ready": True}, {"name": "proxy", "ready": True}])
    assert ok.ok and "revision 3" in ok.message
    waiting = hub.health_verdict(release, [{"name": "hub", "ready": False}])
    assert waiting.status == "Unknown" and "proxy" in waiting.message and "hub" in waiting.message


def test_deployment_health_needs_a_finished_rollout() -> None:
    dep = {"metadata": {"name": "hub", "generation": 2}, "spec": {"replicas": 1},
           "status": {"observedGeneration": 2, "updatedReplicas": 1, "availableReplicas": 1,
                      "conditions": [{"type": "Available", "status": "True"}]}}
    assert deployment_health(dep) == {"name": "hub", "ready": True, "replicas": 1, "generation": 2}
    stale = {**dep, "status": {**dep["status"], "observedGeneration": 1}}
    assert deployment_health(stale)["ready"] is False


def test_helm_error_summary_keeps_the_detail_lines() -> None:
    stderr = ("WARNING: kubeconfig is group-readable\n"
              "Error: UPGRADE FAILED: values don't meet the specifications of the schema(s):\n"
              "jupyterhub:\n- (root): Additional property notAChartKey is not allowed\n")
    summary = _summarize(stderr)
    assert summary.startswith("UPGRADE FAILED") and "notAChartKey" in summary and "WARNING" not in summary
    assert len(_summarize("Error: " + "x" * 2000)) == 500


def test_our_annotations_are_invisible_to_kopfs_diffs() -> None:
    """With our prefix as Kopf's storage, hubs.2i2c.org/ annotations do not count as changes."""
    storage = kopf.AnnotationsDiffBaseStorage(prefix="hubs.2i2c.org", key="last-handled-configuration")
    base = {"metadata": {"name": "lab", "annotations": {"hubs.2i2c.org/kopf-managed": "yes"}},
            "spec": {"a": 1}}
    with_usage = {"metadata": {"name": "lab", "annotations": {
        "hubs.2i2c.org/kopf-managed": "yes", "hubs.2i2c.org/usage-weekly-active-users": "12",
        "hubs.2i2c.org/cost-cloud-usd-month-to-date": "3.50"}}, "spec": {"a": 1}}
    assert storage.build(body=kopf.Body(base)) == storage.build(body=kopf.Body(with_usage))
    foreign = {"metadata": {"name": "lab", "annotations": {"hubs.2i2c.org/kopf-managed": "yes", "team": "x"}},
               "spec": {"a": 1}}
    assert storage.build(body=kopf.Body(base)) != storage.build(body=kopf.Body(foreign))
    logging.getLogger().debug("ok")


def test_an_edit_outside_the_operator_is_drift() -> None:
    recorded = {"name": "lab", "valuesHash": "h", "generations": {"hub": 4, "proxy": 2}}
    assert hub.edited(recorded, [{"name": "hub", "generation": 4}, {"name": "proxy", "generation": 2}]) == []
    assert hub.edited(recorded, [{"name": "hub", "generation": 5}, {"name": "proxy", "generation": 2}]) == ["hub"]
    assert hub.edited({"name": "lab"}, [{"name": "hub", "generation": 9}]) == []  # nothing recorded: no baseline


def test_the_resync_daemon_wakes_when_a_change_handler_asks() -> None:
    """main.deliver hands what is left of its pass to the hub's resync daemon (Kopf's retries wrote their progress
    annotations on every attempt): the daemon's rest ends at the time asked for, sooner than its interval, or at
    once when that time is past; and it says when the daemon is stopped."""
    import asyncio
    import time
    import types

    from kopf._cogs.aiokits.aioenums import FlagSetter

    from communityhub import main

    async def run() -> list[tuple[bool, float]]:
        setter: FlagSetter[object] = FlagSetter()
        stopped = setter.async_waiter  # what Kopf hands an async daemon
        memo = types.SimpleNamespace(look_again={}, nudges={})
        key = ("team", "lab")
        seen = []

        async def timed(coro: object) -> None:
            began = time.monotonic()
            seen.append((await coro, time.monotonic() - began))  # type: ignore[misc]

        rest = asyncio.ensure_future(timed(main._rest(stopped, memo, key, 30.0)))  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        memo.look_again[key] = time.monotonic() + 0.2  # what deliver does
        memo.nudges[key].set()
        await rest
        memo.look_again[key] = time.monotonic() - 1  # asked for a time already past
        await timed(main._rest(stopped, memo, key, 30.0))  # type: ignore[arg-type]
        asyncio.get_running_loop().call_later(0.1, setter.set)
        await timed(main._rest(stopped, memo, key, 30.0))  # type: ignore[arg-type]
        return seen

    (woken, early), (past, at_once), (ended, stop) = asyncio.run(asyncio.wait_for(run(), 10))
    assert woken is False and 0.25 <= early < 1.0
    assert past is False and at_once < 0.1
    assert ended is True and stop < 1.0


def test_a_class_change_wakes_its_hubs_resting_daemons_and_no_others() -> None:
    """A HubClass edit reaches its hubs at once, not at their next resync (five minutes in production): the
    class's event handler ends the rest of the daemons of the hubs that name it, and of no other hub; the listing
    at start and an edit of the class's labels wake none; a listing after a lost watch that shows an edit does."""
    import asyncio
    import time
    import types

    from kopf._cogs.aiokits.aioenums import FlagSetter

    from communityhub import main

    def klass(generation: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
        return {"metadata": {"name": "lab", "generation": generation, "creationTimestamp": "2026-11-01T00:00:00Z",
                             "labels": labels or {}}, "spec": {"description": f"generation {generation}"}}

    async def run() -> dict[str, float]:
        stopped = FlagSetter[object]().async_waiter
        memo = types.SimpleNamespace(look_again={}, nudges={}, class_entries={}, resyncing={
            ("a", "on-lab"): {"spec": {"hubClassName": "lab"}}, ("b", "other"): {"spec": {"hubClassName": "base"}},
            ("c", "unnamed"): {"spec": {}}})
        began = time.monotonic()
        woke: dict[str, float] = {}

        async def rest(key: tuple[str, str]) -> None:
            await main._rest(stopped, memo, key, 2.0)  # type: ignore[arg-type]
            woke[key[1]] = time.monotonic() - began

        resting = [asyncio.ensure_future(rest(key)) for key in memo.resyncing]
        await asyncio.sleep(0.1)
        await main.class_changed(type=None, name="lab", body=klass(1), memo=memo)  # type: ignore[arg-type]
        await main.class_changed(type="MODIFIED", name="lab", body=klass(1, {"team": "x"}),  # type: ignore[arg-type]
                                 memo=memo)
        await asyncio.sleep(0.3)
        assert woke == {}
        # A listing after a lost watch (no type, as at start) that shows a change wakes them too.
        await main.class_changed(type=None, name="lab", body=klass(2), memo=memo)  # type: ignore[arg-type]
        await asyncio.gather(*resting)
        return woke

    woke = asyncio.run(asyncio.wait_for(run(), 10))
    assert woke["on-lab"] < 1.0  # woken by the edit
    assert woke["other"] >= 1.9 and woke["unnamed"] >= 1.9  # rested their whole interval


def test_the_hubs_a_class_event_concerns() -> None:
    from communityhub.delivery import classes

    def entry(spec: str, default: bool = False) -> dict[str, Any]:
        return {"spec": spec, "generation": 1, "default": default, "created": "2026-11-01T00:00:00Z"}

    hubs = {"named": "lab", "elsewhere": "base", "unnamed": None}
    assert classes.hubs_to_look_at("lab", entry("{}"), entry('{"a": 1}'), hubs) == ["named"]
    assert classes.hubs_to_look_at("lab", entry("{}"), entry("{}"), hubs) == []  # only labels or status moved
    assert classes.hubs_to_look_at("lab", None, entry("{}"), hubs) == ["named"]  # made: a hub waiting for it
    assert classes.hubs_to_look_at("lab", entry("{}"), None, hubs) == ["named"]  # deleted
    # Made the default, or no longer it: the hubs that name no class may get another.
    assert classes.hubs_to_look_at("lab", entry("{}"), entry("{}", default=True), hubs) == ["named", "unnamed"]
    assert classes.hubs_to_look_at("lab", entry("{}", default=True), entry("{}"), hubs) == ["named", "unnamed"]
