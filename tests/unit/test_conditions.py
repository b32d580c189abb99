from __future__ import annotations

from communityhub.api import conditions
from communityhub.api.conditions import Verdict

T0, T1 = "2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z"
ALL_TRUE = {t: Verdict.true("Ok", "fine") for t in conditions.STEP_CONDITIONS}


def test_transition_time_moves_only_when_status_changes() -> None:
    first = conditions.apply([], {"HubReady": Verdict.unknown("RolloutInProgress", "rolling")}, generation=1, now=T0)
    same_status = conditions.apply(first, {"HubReady": Verdict.unknown("Other", "still rolling")}, generation=2,
                                   now=T1)
    assert same_status[0]["lastTransitionTime"] == T0
    assert same_status[0]["reason"] == "Other" and same_status[0]["observedGeneration"] == 2
    flipped = conditions.apply(same_status, {"HubReady": Verdict.true("ReleaseDeployed")}, generation=2, now=T1)
    assert flipped[0]["lastTransitionTime"] == T1


def test_reapplying_the_same_verdicts_changes_nothing() -> None:
    once = conditions.apply([], ALL_TRUE, generation=3, now=T0)
    twice = conditions.apply(once, ALL_TRUE, generation=3, now=T1)
    assert not conditions.changed(once, twice)


def test_conditions_keep_the_delivery_order_and_unrelated_types() -> None:
    existing = [{"type": "Delivered", "status": "True", "reason": "EmailSent", "message": "",
                 "lastTransitionTime": T0}]
    result = conditions.apply(existing, {**ALL_TRUE, "Ready": Verdict.true("HubAvailable")}, generation=1, now=T1)
    assert [c["type"] for c in result] == [*conditions.STEP_CONDITIONS, "Ready", "Delivered"]
    assert result[-1]["lastTransitionTime"] == T0


def test_summary_names_the_first_step_not_done() -> None:
    verdicts = {**ALL_TRUE, "ClusterReady": Verdict.false("SharedClusterNotFound", "no such cluster"),
                "HubReady": Verdict.unknown("WaitingForCluster")}
    summary = conditions.summarize(verdicts)
    assert (summary.status, summary.reason) == ("False", "SharedClusterNotFound")
    assert summary.message.startswith("ClusterReady:")
    waiting = conditions.summarize({**ALL_TRUE, "HubReady": Verdict.unknown("RolloutInProgress", "x")})
    assert (waiting.status, waiting.reason) == ("Unknown", "RolloutInProgress")
    assert conditions.summarize(ALL_TRUE).ok


def test_phase_follows_the_flow_and_degrades_after_ready() -> None:
    assert conditions.phase({**ALL_TRUE, "HubReady": Verdict.unknown("x")}, was_ready=False) == "DeployingHub"
    assert conditions.phase({**ALL_TRUE, "ClusterReady": Verdict.false("x")}, was_ready=False) == \
        "ProvisioningCluster"
    assert conditions.phase(ALL_TRUE, was_ready=False) == "Available"
    assert conditions.phase({**ALL_TRUE, "HubReady": Verdict.false("x")}, was_ready=True) == "Degraded"


def test_ready_is_false_with_the_failed_step_even_when_an_earlier_step_waits_on_it() -> None:
    verdicts = {
        conditions.CLUSTER_READY: Verdict.true("SharedClusterAssigned"),
        conditions.HUB_READY: Verdict.unknown("WaitingForConfiguration", "waits"),
        conditions.SSO_READY: Verdict.unknown("ClientSecretFound"),
        conditions.ENVIRONMENT_READY: Verdict.false("ProfileExceedsLimits", "too big"),
    }
    ready = conditions.summarize(verdicts)
    assert (ready.status, ready.reason) == ("False", "ProfileExceedsLimits")
    assert ready.message == "EnvironmentReady: too big"
    verdicts[conditions.ENVIRONMENT_READY] = Verdict.unknown("EnvironmentRendered")
    assert conditions.summarize(verdicts).status == "Unknown"
    assert conditions.summarize(verdicts).reason == "WaitingForConfiguration"
