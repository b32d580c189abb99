"""Shards: which shard serves a hub, who places unlabelled hubs, and when a shard may take a hub over."""

from __future__ import annotations

import collections

import pytest
from lightkube.core.selector import build_selector

from communityhub.runtime import sharding
from communityhub.runtime.settings import Settings
from communityhub.runtime.sharding import LABEL, Sharding


def test_one_shard_changes_nothing() -> None:
    one = Sharding()
    assert not one.enabled
    assert one.lease("communityhub-operator") == "communityhub-operator"
    assert one.finalizer("hubs.2i2c.org") == "hubs.2i2c.org/finalizer"
    assert sharding.takeover("3", one, previous_alive=True).go  # a status left from a sharded past


def test_each_shard_has_its_own_selector_lease_and_finalizer_and_shard_0_keeps_the_unsharded_ones() -> None:
    zero, one = Sharding(0, 2), Sharding(1, 2)
    assert (zero.selector(), one.selector()) == (f"{LABEL}=0", f"{LABEL}=1")
    assert build_selector(zero.unplaced_selector()) == f"{LABEL} notin (0,1)"
    assert (zero.served_by, Sharding().served_by) == ("0", None)
    assert (zero.lease("op"), one.lease("op")) == ("op-shard-0", "op-shard-1")
    assert (zero.replaces("op"), one.replaces("op"), Sharding().replaces("op")) == (("op",), ("op",), ())
    assert zero.finalizer("hubs.2i2c.org") == "hubs.2i2c.org/finalizer"
    assert one.finalizer("hubs.2i2c.org") == "hubs.2i2c.org/finalizer-shard-1"
    assert zero.runs_rollouts() and not one.runs_rollouts()


@pytest.mark.parametrize(("shard", "shards"), [(2, 2), (-1, 2), (0, 0)])
def test_a_shard_outside_the_count_is_refused(shard: int, shards: int) -> None:
    with pytest.raises(ValueError, match="shard"):
        Sharding(shard, shards)


def test_settings_refuse_a_shard_outside_the_count() -> None:
    with pytest.raises(ValueError, match="CHUB_SHARD=2 with CHUB_SHARDS=2"):
        Settings.from_env({"CHUB_SHARDS": "2", "CHUB_SHARD": "2"})
    assert Settings.from_env({"CHUB_SHARDS": "4", "CHUB_SHARD": "3"}).shard == 3


def test_the_hash_is_stable_and_spreads_a_fleet_evenly() -> None:
    # Fixed values: a change of the hash would move every unlabelled hub of a running fleet.
    assert [sharding.hashed("team-a", f"hub{i}", 4) for i in range(6)] == \
        [sharding.hashed("team-a", f"hub{i}", 4) for i in range(6)]
    assert sharding.hashed("climate", "climate-lab", 2) == sharding.hashed("climate", "climate-lab", 2)
    counts = collections.Counter(sharding.hashed(f"ns{i % 37}", f"hub{i}", 4) for i in range(4000))
    assert set(counts) == {"0", "1", "2", "3"}
    assert max(counts.values()) < 1.1 * min(counts.values())


def test_only_the_hashed_shard_places_an_unlabelled_hub_and_with_its_hash() -> None:
    shards = [Sharding(i, 3) for i in range(3)]
    decisions = [sharding.place("team", "hub", {}, s) for s in shards]
    placed = [d for d in decisions if d is not None]
    assert len(placed) == 1 and placed[0].label == sharding.hashed("team", "hub", 3) and placed[0].problem is None


def test_a_label_that_names_no_shard_is_reported_not_relabelled() -> None:
    owner = next(s for s in (Sharding(i, 2) for i in range(2)) if sharding.hashed("team", "hub", 2) == s.me)
    decision = sharding.place("team", "hub", {LABEL: "7"}, owner)
    assert decision is not None and decision.label is None
    assert decision.problem is not None and "'7' names no shard" in decision.problem and "0, 1" in decision.problem
    # Labelled meanwhile with a real shard: that shard's watch has it, nothing to do.
    assert sharding.place("team", "hub", {LABEL: "1"}, owner) == sharding.Placement(label=None)


def test_a_shard_waits_for_a_living_previous_shard_to_hand_a_hub_over() -> None:
    one = Sharding(1, 2)
    waiting = sharding.takeover("0", one, previous_alive=True)
    assert not waiting.go and "waiting for shard 0" in waiting.message
    assert sharding.takeover("0", one, previous_alive=False).go  # shard 0 is gone: nobody will hand it over
    assert sharding.takeover("1", one, previous_alive=True).go  # handed over (or its own all along)
    assert sharding.takeover(None, one, previous_alive=False).go  # never served by a shard


def test_a_shard_removes_the_other_shards_finalizers_and_no_one_elses() -> None:
    finalizers = ["hubs.2i2c.org/finalizer", "hubs.2i2c.org/finalizer-shard-1", "hubs.2i2c.org/finalizer-shard-2",
                  "kubernetes.io/pvc-protection", "other.example.org/finalizer"]
    assert Sharding(1, 3).foreign_finalizers("hubs.2i2c.org", finalizers) == [
        "hubs.2i2c.org/finalizer", "hubs.2i2c.org/finalizer-shard-2"]
    assert Sharding(0, 3).foreign_finalizers("hubs.2i2c.org", finalizers) == [
        "hubs.2i2c.org/finalizer-shard-1", "hubs.2i2c.org/finalizer-shard-2"]
    assert Sharding().foreign_finalizers("hubs.2i2c.org", ["hubs.2i2c.org/finalizer"]) == []
