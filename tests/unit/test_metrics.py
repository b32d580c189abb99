"""The operator's metrics, and the Grafana dashboard built on them."""

from __future__ import annotations

import datetime as dt
import json
import re

from prometheus_client import REGISTRY

from communityhub.runtime import metrics
from tests.conftest import REPO

DASHBOARD = REPO / "helm" / "communityhub-operator" / "dashboards" / "fleet.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> set[str]:
    """Every series name the operator's registry serves (labelled families included before their first use)."""
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("communityhub_"):
            names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def test_every_dashboard_query_names_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    used = {name for expr in exprs for name in re.findall(r"communityhub_[a-z_]+", expr)}
    assert used and used <= exported(), used - exported()
    # What the fleet view needs is on it: states, delivery time, helm and terraform, errors, queue depth.
    for metric in ("communityhub_hubs", "communityhub_delivery_seconds_bucket", "communityhub_helm_seconds_bucket",
                   "communityhub_terraform_commands_total", "communityhub_reconcile_errors_total",
                   "communityhub_waiting_for_slot"):
        assert metric in used, metric


def test_hubs_are_counted_by_condition_status_and_reason() -> None:
    hubs = metrics.HubConditions()
    ready = {"type": "Ready", "status": "True", "reason": "HubAvailable"}
    failing = {"type": "Ready", "status": "False", "reason": "HelmFailed"}
    hubs.update(("a", "one"), [ready])
    hubs.update(("a", "two"), [ready])
    hubs.update(("b", "three"), [failing])
    hubs.update(("b", "three"), [ready])  # a pass later it recovered: counted once, as it is now
    assert hubs.counts() == {("Ready", "True", "HubAvailable"): 3}
    hubs.forget(("a", "one"))
    family, per_hub = hubs.collect()
    assert [(s.labels, s.value) for s in family.samples] == [
        ({"condition": "Ready", "status": "True", "reason": "HubAvailable"}, 2)]
    # Per hub, for the alert rules that name it: the forgotten hub is gone from both.
    assert sorted((s.labels["namespace"], s.labels["name"]) for s in per_hub.samples) == [("a", "two"), ("b", "three")]


def test_delivery_phases_count_once_per_hub() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, 40, tzinfo=dt.UTC)
    created = "2026-11-25T12:00:00Z"
    old = [{"type": "ClusterReady", "status": "True"}, {"type": "HubReady", "status": "Unknown"}]
    new = [{"type": "ClusterReady", "status": "True"}, {"type": "HubReady", "status": "True"},
           {"type": "Ready", "status": "True"}, {"type": "SSOReady", "status": "True"}]
    assert metrics.first_delivery(old, new, created, False, now) == {"HubReady": 40.0, "Ready": 40.0}
    assert metrics.first_delivery(old, new, created, True, now) == {}  # delivered before: a recovery
    assert metrics.first_delivery(new, new, created, False, now) == {}  # nothing turned True
