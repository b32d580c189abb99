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


# --- Every derived name is valid for every consumer (issue 22, item 0) ------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
#: What Terraform's kubernetes backend refuses as secret_suffix.
BACKEND_REFUSES = re.compile(r"-[0-9]+$")
#: GKE cluster names: a letter first, lower-case letters, digits and hyphens, a letter or digit last, <= 40.
GKE_CLUSTER_RE = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
#: metadata.name of a CommunityHub (the schema's DNS label, at most 53, no dots); namespaces are DNS labels.
HUB_NAME = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?\Z")
NAMESPACE = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")


def consumers_refuse(hub: names.HubNames) -> list[str]:
    """Which consumer would refuse which of the hub's names (empty: every one is valid everywhere)."""
    refused = []
    if not (DNS_LABEL_RE.match(hub.namespace) and len(hub.namespace) <= 63):
        refused.append(f"namespace {hub.namespace}")
    if not (DNS_SUBDOMAIN_RE.match(hub.release) and len(hub.release) <= 53):
        refused.append(f"helm release {hub.release}")
    if BACKEND_REFUSES.search(hub.state_suffix):
        refused.append(f"backend secret_suffix {hub.state_suffix}")
    if not (LABEL_VALUE_RE.match(hub.state_suffix) and len(hub.state_suffix) <= 63):
        refused.append(f"label value {hub.state_suffix}")
    for name in (hub.state_secret, hub.lock_lease, hub.kubeconfig_secret, hub.credentials_secret):
        if not (DNS_SUBDOMAIN_RE.match(name) and len(name) <= 253):
            refused.append(f"object name {name}")
    if not GKE_CLUSTER_RE.match(f"hub-{hub.cluster_stem}"[:40]):  # the cloud modules' cluster name
        refused.append(f"cluster name hub-{hub.cluster_stem}")
    if not (LABEL_VALUE_RE.match(hub.cluster_stem) and hub.cluster_stem == hub.cluster_stem.lower()):
        refused.append(f"cloud label value {hub.cluster_stem}")  # GCP labels and AWS tags carry it
    return refused


def test_the_pair_whose_digest_is_all_digits_gets_a_suffix_the_backend_takes() -> None:
    """hubs/glacier-lab: its digest 265212477569 made `terraform init` fail with "secret_suffix must not end
    with '-<number>'". Its other names stay as derived; the suffix's number starts with a letter."""
    hub = names.derive("hubs", "glacier-lab")
    assert names.digest("hubs", "glacier-lab") == "265212477569"
    assert hub.namespace == "hub-hubs-glacier-lab-265212477569"
    assert hub.state_suffix == "hubs-glacier-lab-i65212477569"
    assert hub.state_secret == "tfstate-default-hubs-glacier-lab-i65212477569"
    assert consumers_refuse(hub) == []


def test_a_suffix_the_backend_takes_is_never_changed() -> None:
    """Recorded names keep their state: only a suffix that could never have held any is rewritten."""
    for slug in ("team-lab-fe1e4a98ecc8", "team-lab-abc123456789", "lab", "workshop-2024a"):
        assert names.valid_state_suffix(slug) == slug
    assert names.valid_state_suffix("workshop-2024") == "workshop-i024"  # a legacy name ending in a number
    recorded = names.resolve("t", "x", {"names": {"namespace": "hub-t-workshop-2024", "release": "r",
                                                  "clusterStem": "x"}})
    assert recorded.namespace == "hub-t-workshop-2024" and recorded.state_suffix == "t-workshop-i024"


@settings(max_examples=2000, deadline=None)
@given(namespace=NAMESPACE, name=HUB_NAME)
def test_every_derived_name_is_valid_for_every_consumer(namespace: str, name: str) -> None:
    assert consumers_refuse(names.derive(namespace, name)) == []


def test_the_consumer_check_can_fail() -> None:
    """Without the rewrite, the all-digit digest's suffix is refused by the backend rule above."""
    hub = names.derive("hubs", "glacier-lab")
    assert BACKEND_REFUSES.search(hub.slug) and not BACKEND_REFUSES.search(hub.state_suffix)
    broken = names.HubNames("hub-Bad_Name", "r" * 60, "9stem")
    assert len(consumers_refuse(broken)) >= 2
