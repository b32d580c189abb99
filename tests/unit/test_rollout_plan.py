"""Staged rollouts, decided: waves in order, gated on health, capped per cluster, halted on a failure."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from communityhub.api.models import FleetRolloutSpec
from communityhub.fleet import rollout_plan
from communityhub.fleet.rollout_plan import ROLLOUT_LABEL, HubView, hub_view, newest, plan
from communityhub.steps import rollout

SPEC = FleetRolloutSpec.model_validate({
    "target": {"values": {"cull": {"timeout": 7200}}},
    "waves": [{"name": "staging", "matchLabels": {"channel": "staging"}},
              {"name": "production", "matchLabels": {"channel": "production"}}],
    "maxPerCluster": 1,
})


def hub(name: str, channel: str, cluster: str = "local", **kw: object) -> HubView:
    defaults = {"ready": True, "failed": False, "reason": "HubAvailable", "release_rollout": None}
    return HubView(f"hubs/{name}", {"channel": channel, **kw.pop("labels", {})}, cluster,  # type: ignore[arg-type]
                   **{**defaults, **kw})  # type: ignore[arg-type]


def on(view: HubView, rollout: str = "r1", deployed: bool = False, **kw: object) -> HubView:
    """The hub carrying the rollout's label; ``deployed``: helm deployed its target."""
    return dataclasses.replace(view, labels={**view.labels, ROLLOUT_LABEL: rollout},
                               release_rollout=rollout if deployed else view.release_rollout, **kw)  # type: ignore[arg-type]


FLEET = [hub("s1", "staging"), hub("s2", "staging"), hub("s3", "staging", cluster="eu"),
         hub("p1", "production"), hub("p2", "production"), hub("other", "dev")]


def test_the_first_wave_starts_capped_per_cluster() -> None:
    first = plan("r1", SPEC, FLEET)
    assert first.phase == "Progressing" and first.wave == "staging"
    assert first.admit == ["hubs/s1", "hubs/s3"]  # one per cluster: local and eu
    assert first.progress == "0/5"  # `other` is in no wave: never touched
    assert [w["total"] for w in first.waves] == [3, 2]


def test_a_wave_waits_for_every_hub_of_the_one_before_to_be_ready_on_the_target() -> None:
    fleet = [on(FLEET[0], deployed=True), on(FLEET[1], ready=False, reason="RolloutInProgress"),
             on(FLEET[2], deployed=True), *FLEET[3:]]
    waiting = plan("r1", SPEC, fleet)
    assert waiting.admit == [] and waiting.wave == "staging"  # s2 in flight on local: the cap is reached
    assert waiting.waves[0] | {"failed": []} == {"name": "staging", "total": 3, "done": 2, "inFlight": 1, "failed": []}
    fleet[1] = on(FLEET[1], deployed=True)
    next_wave = plan("r1", SPEC, fleet)
    assert next_wave.wave == "production" and next_wave.admit == ["hubs/p1"]
    # Ready but on the old release (helm has not run yet) is not done.
    assert plan("r1", SPEC, [on(FLEET[0]), *FLEET[1:]]).waves[0]["done"] == 0


def test_a_failure_halts_and_names_the_hubs_leaving_later_waves_untouched() -> None:
    fleet = [on(FLEET[0], ready=False, failed=True, reason="HelmFailed"), *FLEET[1:]]
    halted = plan("r1", SPEC, fleet)
    assert halted.phase == "Halted" and halted.admit == [] and halted.wave == "staging"
    assert halted.verdict.status == "False" and "hubs/s1 (HelmFailed)" in halted.verdict.message
    assert "kubectl delete fleetrollout r1" in halted.verdict.message
    assert halted.waves[0]["failed"] == ["hubs/s1"]
    # A hub that fails without carrying the rollout is not the rollout's failure.
    assert plan("r1", SPEC, [dataclasses.replace(FLEET[0], failed=True, ready=False), *FLEET[1:]]).phase \
        == "Progressing"


def test_paused_complete_superseded_and_parked() -> None:
    assert plan("r1", SPEC.model_copy(update={"paused": True}), FLEET).admit == []
    assert plan("r1", SPEC.model_copy(update={"paused": True}), FLEET).phase == "Paused"
    done = [on(h, deployed=True) for h in FLEET[:5]] + FLEET[5:]
    complete = plan("r1", SPEC, done)
    assert complete.phase == "Complete" and complete.verdict.ok and complete.progress == "5/5"
    assert plan("r1", SPEC, FLEET, superseded_by="r2").phase == "Superseded"
    parked = [on(FLEET[0], ready=False, failed=True, reason="ScaledDown"), *done[1:]]
    assert plan("r1", SPEC, parked).phase == "Complete"  # a scaled-down hub gets the target when it returns


def test_the_newest_rollout_acts() -> None:
    assert newest({"a": {"created": "2026-11-01T00:00:00Z"}, "b": {"created": "2026-11-02T00:00:00Z"}}) == "b"
    assert newest({"a": {"created": "2026-11-01T00:00:00Z"},
                   "b": {"created": "2026-11-02T00:00:00Z", "deleting": True}}) == "a"
    assert newest({}) is None


def test_a_hub_is_seen_from_its_object() -> None:
    body = {"metadata": {"namespace": "hubs", "name": "lab", "generation": 3, "labels": {ROLLOUT_LABEL: "r1"}},
            "status": {"observedGeneration": 3, "cluster": {"name": "eu"}, "release": {"rollout": "r1"},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "HubAvailable"}]}}
    view = hub_view(body)
    assert (view.key, view.rollout, view.release_rollout, view.cluster, view.ready) == ("hubs/lab", "r1", "r1",
                                                                                          "eu", True)
    stale = hub_view({**body, "metadata": {**body["metadata"], "generation": 4}})
    assert not stale.ready and not stale.failed  # not yet acted on the latest change


def test_the_rollout_spec_is_checked() -> None:
    with pytest.raises(ValidationError):
        FleetRolloutSpec.model_validate({"target": {}, "waves": []})
    with pytest.raises(ValidationError):
        FleetRolloutSpec.model_validate({"target": {"chartVersion": "latest"}, "waves": [
            {"name": "a", "matchLabels": {"x": "y"}}]})


CLASS_SPEC = FleetRolloutSpec.model_validate({
    "target": {"hubClass": "gke-shared"},
    "waves": [{"name": "staging", "matchLabels": {"channel": "staging"}},
              {"name": "production", "matchLabels": {"channel": "production"}}],
})


def test_a_class_rollout_reaches_only_the_hubs_of_its_class() -> None:
    fleet = [hub("s1", "staging", hub_class="gke-shared"), hub("s2", "staging", hub_class="other"),
             hub("p1", "production", hub_class="gke-shared"), hub("p2", "production")]
    decided = plan("r1", CLASS_SPEC, fleet)
    assert decided.admit == ["hubs/s1"]
    assert [(w["name"], w["total"]) for w in decided.waves] == [("staging", 1), ("production", 1)]


def test_a_class_change_is_held_by_the_newest_active_rollout_of_that_class() -> None:
    from communityhub.fleet.rollout_plan import holding_class
    rollouts = {
        "old": {"target": {"hubClass": "gke-shared"}, "created": "2026-11-01T00:00:00Z", "phase": "Progressing"},
        "new": {"target": {"hubClass": "gke-shared"}, "created": "2026-11-02T00:00:00Z"},  # not planned yet
        "done": {"target": {"hubClass": "gke-shared"}, "created": "2026-11-03T00:00:00Z", "phase": "Complete"},
        "going": {"target": {"hubClass": "gke-shared"}, "created": "2026-11-04T00:00:00Z", "deleting": True},
        "values": {"target": {"values": {"a": 1}}, "created": "2026-11-05T00:00:00Z"},
    }
    assert holding_class("gke-shared", rollouts) == "new"
    assert holding_class("other", rollouts) is None and holding_class(None, rollouts) is None
    assert holding_class("gke-shared", {k: v for k, v in rollouts.items() if k in ("done", "going")}) is None


def test_hub_view_reads_the_class_the_release_comes_from() -> None:
    body = {"metadata": {"namespace": "n", "name": "h", "generation": 1},
            "status": {"observedGeneration": 1, "hubClass": {"name": "gke-shared", "generation": 3}}}
    assert hub_view(body).hub_class == "gke-shared"


def test_a_hubs_rollout_label_counts_only_where_the_rollouts_waves_and_class_include_it() -> None:
    """A label alone made the hub load that rollout's values, whatever its waves or class (issue 29, finding 2)."""
    entry = {"target": {"values": {"hub": {"extraConfig": {"x": "import os"}}}},
             "waves": [{"channel": "staging"}, {"channel": "production"}]}
    assert rollout_plan.reaches(entry, {"channel": "staging", rollout_plan.ROLLOUT_LABEL: "r"}, None)
    assert not rollout_plan.reaches(entry, {rollout_plan.ROLLOUT_LABEL: "r"}, None)
    assert not rollout_plan.reaches(entry, {"channel": "canary", rollout_plan.ROLLOUT_LABEL: "r"}, None)
    classed = {**entry, "target": {"hubClass": "gold"}}
    assert rollout_plan.reaches(classed, {"channel": "staging"}, "gold")
    assert not rollout_plan.reaches(classed, {"channel": "staging"}, "basehub")
    assert rollout.rollout_entry({"spec": {"target": {"chartVersion": "4.4.0"}, "waves": [
        {"name": "s", "matchLabels": {"channel": "staging"}}]}})["waves"] == [{"channel": "staging"}]
