"""Per-hub names: distinct hubs never share one; recorded names are kept; ownership is checked."""

from __future__ import annotations

import itertools
import re

import pytest

from communityhub.delivery import names

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def every_name(n: names.HubNames) -> dict[str, str]:
    return {"namespace": n.namespace, "release": n.release, "cluster_stem": n.cluster_stem,
            "state_secret": n.state_secret, "lock_lease": n.lock_lease, "kubeconfig_secret": n.kubeconfig_secret,
            "state_suffix": n.state_suffix}


def test_the_ambiguous_pair_gets_distinct_names_everywhere() -> None:
    """(team-x, lab) and (team, x-lab) used to share hub-team-x-lab, its state Secret and its Lease."""
    a, b = names.derive("team-x", "lab"), names.derive("team", "x-lab")
    for field, value in every_name(a).items():
        assert value != every_name(b)[field], field


def test_long_names_never_collide_and_fit_their_limits() -> None:
    """40 long names that share a long prefix (the old truncation put them in 11 groups)."""
    hubs = [("community-" + "x" * 45 + f"-{i}", "hub-" + "y" * 45 + f"{i}") for i in range(40)]
    hubs += [(f"ns{i}", "lab") for i in range(40)] + [("hubs", f"lab{i}") for i in range(40)]
    derived = [names.derive(ns, name) for ns, name in hubs]
    for field in every_name(derived[0]):
        values = [every_name(d)[field] for d in derived]
        assert len(set(values)) == len(values), f"{field} collides"
    for d in derived:
        assert DNS_LABEL.match(d.namespace) and len(d.namespace) <= 63
        assert DNS_LABEL.match(d.release) and len(d.release) <= names.RELEASE_MAX
        assert DNS_LABEL.match(d.cluster_stem) and len(d.cluster_stem) <= names.CLUSTER_STEM_MAX
        assert len(d.state_suffix) <= names.SLUG_MAX and len(d.lock_lease) <= 253
        # Readable: the hub's own name starts its release.
    assert names.derive("hubs", "climate-lab").release.startswith("climate-lab-")


def test_pairwise_over_a_small_alphabet() -> None:
    """Every (namespace, name) split of the same joined text is told apart."""
    parts = ["a", "a-b", "b", "a-b-c", "b-c", "c"]
    derived = {(ns, name): names.derive(ns, name).namespace for ns, name in itertools.product(parts, parts)}
    assert len(set(derived.values())) == len(derived)


def test_recorded_names_are_kept_and_legacy_hubs_keep_theirs() -> None:
    recorded = {"names": {"namespace": "hub-x", "release": "r", "clusterStem": "c"}}
    assert names.resolve("hubs", "lab", recorded) == names.HubNames("hub-x", "r", "c")
    # A hub of the earlier operator: its release was the hub's name, its namespace is in status.cluster.
    legacy = {"release": {"name": "lab"}, "cluster": {"namespace": "hub-hubs-lab"}}
    assert names.resolve("hubs", "lab", legacy) == names.HubNames("hub-hubs-lab", "lab", "lab")
    assert names.resolve("hubs", "lab", {}) == names.derive("hubs", "lab")


def test_ownership() -> None:
    mine = {"name": "hub-x", "annotations": {names.OWNER: "team-x/lab"}}
    assert names.ownership(mine, "team-x", "lab") is None
    problem = names.ownership(mine, "team", "x-lab")
    assert problem is not None and "belongs to CommunityHub team-x/lab" in problem
    legacy = {"name": "hub-team-x-lab", "labels": {names.LEGACY_HUB_LABEL: "lab",
                                                   names.LEGACY_HUB_NAMESPACE_LABEL: "team-x"}}
    assert names.ownership(legacy, "team-x", "lab") is None
    assert names.ownership(legacy, "team", "x-lab") is not None
    stranger = names.ownership({"name": "hub-team-x-lab", "labels": {"app": "db"}}, "team-x", "lab")
    assert stranger is not None and "was not made for CommunityHub team-x/lab" in stranger


@pytest.mark.parametrize("name", ["a" * 53, "climate-lab"])
def test_names_the_schema_admits_give_a_valid_release(name: str) -> None:
    assert len(names.derive("hubs", name).release) <= names.RELEASE_MAX
