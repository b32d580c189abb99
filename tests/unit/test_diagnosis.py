"""Why a hub is not coming up: the cause from Pods and claims, and the deadline that turns it False."""

from __future__ import annotations

import datetime as dt
from typing import Any

from communityhub.delivery.diagnosis import rollout_cause
from communityhub.steps import hub

RELEASE = {"name": "lab", "revision": 1}
WAITING = [{"name": "hub", "ready": False}, {"name": "proxy", "ready": True}]


def pod(name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": status}


def unschedulable(name: str = "hub-7d9f") -> dict[str, Any]:
    return pod(name, conditions=[{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 1 Insufficient cpu, "
                   "2 node(s) didn't match Pod's node affinity/selector."}])


def waiting(reason: str, **extra: Any) -> dict[str, Any]:
    return pod("hub-1", containerStatuses=[{"name": "hub", "image": "quay.io/x/hub:9", "restartCount": 4,
                                           "state": {"waiting": {"reason": reason, "message": "back-off"}},
                                           **extra}])


def test_nothing_wrong_is_no_cause() -> None:
    running = pod("hub-1", conditions=[{"type": "PodScheduled", "status": "True"}],
                  containerStatuses=[{"name": "hub", "state": {"running": {}}}])
    assert rollout_cause([running], [{"metadata": {"name": "hub-db-dir"}, "status": {"phase": "Bound"}}]) is None


def test_unschedulable_pod_carries_the_schedulers_words() -> None:
    cause = rollout_cause([unschedulable()], [])
    assert cause is not None and cause.reason == "PodUnschedulable"
    assert "hub-7d9f" in cause.message and "Insufficient cpu" in cause.message


def test_image_pull_and_crash_loop() -> None:
    pull = rollout_cause([waiting("ImagePullBackOff")], [])
    assert pull is not None and pull.reason == "ImagePullFailed" and "quay.io/x/hub:9" in pull.message
    crash = rollout_cause([waiting("CrashLoopBackOff", lastState={"terminated": {"exitCode": 1}})], [])
    assert crash is not None and crash.reason == "ContainerCrashLooping"
    assert "4 restarts" in crash.message and "exit code 1" in crash.message


def test_an_unbound_claim_comes_first_with_its_latest_event() -> None:
    claim = {"metadata": {"name": "hub-db-dir"}, "status": {"phase": "Pending"}}
    events = [
        {"involvedObject": {"name": "hub-db-dir"}, "lastTimestamp": "2026-11-25T10:00:00Z", "message": "old"},
        {"involvedObject": {"name": "hub-db-dir"}, "lastTimestamp": "2026-11-25T10:01:00Z",
         "message": "no persistent volumes available for this claim and no storage class is set"},
        {"involvedObject": {"name": "other"}, "lastTimestamp": "2026-11-25T10:02:00Z", "message": "not this"},
    ]
    cause = rollout_cause([unschedulable()], [claim], events)
    assert cause is not None and cause.reason == "VolumeClaimPending"
    assert cause.message == ("PersistentVolumeClaim hub-db-dir is Pending: no persistent volumes available for "
                             "this claim and no storage class is set")


def test_a_terminating_old_replica_is_not_the_cause() -> None:
    old = {**unschedulable("hub-old"), "metadata": {"name": "hub-old", "deletionTimestamp": "2026-11-25T10:00:00Z"}}
    assert rollout_cause([old], []) is None


def test_waiting_verdict_says_the_cause_and_turns_false_after_the_deadline() -> None:
    cause = rollout_cause([unschedulable()], [])
    early = hub.health_verdict(RELEASE, WAITING, cause, waited=30, deadline=600)
    assert early.status == "Unknown" and early.reason == "RolloutInProgress"
    assert "waiting for Deployment(s) hub" in early.message and "Insufficient cpu" in early.message
    late = hub.health_verdict(RELEASE, WAITING, cause, waited=601, deadline=600)
    assert late.status == "False" and late.reason == "PodUnschedulable"
    assert "Insufficient cpu" in late.message and "deadline 600s" in late.message
    silent = hub.health_verdict(RELEASE, WAITING, None, waited=601, deadline=600)
    assert silent.status == "False" and silent.reason == "RolloutTimedOut"


def test_available_wins_over_any_wait() -> None:
    ready = [{"name": "hub", "ready": True}, {"name": "proxy", "ready": True}]
    assert hub.health_verdict(RELEASE, ready, None, waited=9999, deadline=600).ok


def test_deployments_gone_after_the_grace_are_drift() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    old = {"deployedAt": (now - dt.timedelta(seconds=31)).isoformat()}
    fresh = {"deployedAt": (now - dt.timedelta(seconds=2)).isoformat()}
    proxy_only = [{"name": "proxy", "ready": True}]
    assert hub.drifted(old, proxy_only, now) == ["hub"]
    assert hub.drifted(old, [], now) == ["hub", "proxy"]
    assert hub.drifted(fresh, proxy_only, now) == []  # helm just made it: the index may not have it yet
    assert hub.drifted(old, [*proxy_only, {"name": "hub", "ready": False}], now) == []


def test_hub_ready_follows_the_hubs_own_answer() -> None:
    available = hub.health_verdict(RELEASE, [{"name": "hub", "ready": True}, {"name": "proxy", "ready": True}])
    assert hub.health_url("http://hub.ns.svc:8081/hub/api") == "http://hub.ns.svc:8081/hub/health"
    answering = hub.answer_verdict(available, None, was_ready=False, waited=5, deadline=600)
    assert (answering.status, answering.reason) == ("True", "ReleaseDeployed")
    new = hub.answer_verdict(available, "GET x: connection refused", was_ready=False, waited=5, deadline=600)
    assert (new.status, new.reason) == ("Unknown", "WaitingForHub") and "connection refused" in new.message
    late = hub.answer_verdict(available, "GET x: connection refused", was_ready=False, waited=700, deadline=600)
    assert (late.status, late.reason) == ("False", "HubNotAnswering")
    stopped = hub.answer_verdict(available, "GET x: HTTP 503", was_ready=True, waited=5, deadline=600)
    assert (stopped.status, stopped.reason) == ("False", "HubNotAnswering")
