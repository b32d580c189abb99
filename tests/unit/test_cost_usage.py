"""Cost apportionment and the ledger, and active users, on plain data."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from communityhub.api import annotations as ann
from communityhub.money import cost, usage
from communityhub.steps.meter import first_metering, next_metering, usage_annotations

PRICES = {"gcp": {"us-central1": {"n2-highmem-4": 2.0, "n2-standard-4": 1.0}}}
NODES = [cost.Node("a", "gcp", "us-central1", "n2-highmem-4", 4.0, 32 * 2**30),
         cost.Node("b", "gcp", "us-central1", "n2-standard-4", 4.0, 16 * 2**30)]


def test_shares_by_requests_and_the_rest_is_overhead() -> None:
    pods = [cost.Pod("a", "hubs/x", 1.0, 8 * 2**30),   # a quarter of node a
            cost.Pod("a", "hubs/y", 2.0, 0),            # half its CPU, no memory: a quarter
            cost.Pod("a", None, 1.0, 2**30),            # system pod: overhead
            cost.Pod("b", "hubs/x", 4.0, 16 * 2**30)]   # all of node b
    rates, unpriced = cost.rates(NODES, pods, PRICES)
    assert unpriced == []
    assert rates["hubs/x"] == pytest.approx(2.0 * 0.25 + 1.0)
    assert rates["hubs/y"] == pytest.approx(2.0 * 0.25)
    assert rates[cost.OVERHEAD] == pytest.approx(2.0 * 0.5)
    assert sum(rates.values()) == pytest.approx(3.0)  # conserved: the cluster's price per hour


def test_overcommitted_node_is_split_among_hubs_without_going_over() -> None:
    pods = [cost.Pod("b", "hubs/x", 4.0, 16 * 2**30), cost.Pod("b", "hubs/y", 4.0, 16 * 2**30)]
    rates, _ = cost.rates(NODES[1:], pods, PRICES)
    assert rates == pytest.approx({"hubs/x": 0.5, "hubs/y": 0.5, cost.OVERHEAD: 0.0})


def test_dedicated_cluster_is_all_the_hubs_and_unknown_machines_are_named() -> None:
    odd = cost.Node("c", "gcp", "us-central1", "a3-megagpu-8g", 8, 2**30)
    rates, unpriced = cost.rates([*NODES, odd], [], PRICES, dedicated_to="hubs/d")
    assert rates == {"hubs/d": 3.0}
    assert unpriced == ["c (gcp/us-central1/a3-megagpu-8g)"]


def test_nodes_and_pods_from_api_objects() -> None:
    node = cost.node_from({"metadata": {"name": "n", "labels": {cost.REGION_LABEL: "us-west-2",
                                                               cost.INSTANCE_TYPE_LABEL: "r6i.xlarge"}},
                           "spec": {"providerID": "aws:///us-west-2a/i-1"},
                           "status": {"allocatable": {"cpu": "3920m", "memory": "29000Mi"}}}, "gcp")
    assert (node.cloud, node.cpu, node.memory) == ("aws", 3.92, 29000 * 2**20)
    assert cost.price(cost.catalog(), node) == 0.2520
    pod = cost.pod_from({"metadata": {"namespace": "hub-hubs-x"}, "spec": {"nodeName": "n", "containers": [
        {"resources": {"requests": {"cpu": "100m", "memory": "512Mi"}}}, {}]}, "status": {"phase": "Running"}},
        {"hub-hubs-x": "hubs/x"})
    assert pod == cost.Pod("n", "hubs/x", 0.1, 512 * 2**20)
    assert cost.pod_from({"spec": {"containers": []}}, {}) is None  # not scheduled
    done = {"metadata": {}, "spec": {"nodeName": "n"}, "status": {"phase": "Succeeded"}}
    assert cost.pod_from(done, {}) is None


def test_catalog_override_merges_over_the_shipped_prices(tmp_path: Path) -> None:
    override = tmp_path / "prices.yaml"
    override.write_text("gcp:\n  us-central1:\n    n2-highmem-4: 9.5\nlocal:\n  here:\n    tiny: 0.01\n")
    prices = cost.catalog(str(override))
    assert prices["gcp"]["us-central1"]["n2-highmem-4"] == 9.5
    shipped = cost.shipped_catalog()["gcp"]["us-central1"]
    assert prices["gcp"]["us-central1"]["n2-standard-4"] == shipped["n2-standard-4"]
    assert prices["local"]["here"]["tiny"] == 0.01


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_ledger_charges_each_interval_at_the_rates_seen_at_its_start() -> None:
    ledger = cost.accrue(None, {"hubs/x": 1.0, cost.OVERHEAD: 2.0}, at("2026-11-10T00:00:00Z"))
    assert ledger["total"] == 0 and ledger["since"] == "2026-11-10T00:00:00Z"
    ledger = cost.accrue(ledger, {"hubs/x": 4.0}, at("2026-11-10T02:00:00Z"))
    assert ledger["owners"] == {"hubs/x": 2.0, cost.OVERHEAD: 4.0} and ledger["total"] == 6.0
    ledger = cost.accrue(ledger, {}, at("2026-11-10T02:30:00Z"))
    assert ledger["owners"]["hubs/x"] == 4.0 and ledger["total"] == 8.0


def test_ledger_closes_the_month_at_midnight() -> None:
    ledger = cost.accrue(None, {"hubs/x": 1.0}, at("2026-11-30T22:00:00Z"))
    ledger = cost.accrue(ledger, {"hubs/x": 1.0}, at("2026-12-01T03:00:00Z"))
    assert ledger["month"] == "2026-12" and ledger["owners"] == {"hubs/x": 3.0}
    assert ledger["previous"] == {"month": "2026-11", "owners": {"hubs/x": 2.0}, "total": 2.0}
    assert ledger["since"] == "2026-12-01T00:00:00Z"


NOW = at("2026-11-23T12:00:00Z")


def user(name: str, *servers: dict[str, str | None]) -> dict[str, object]:
    return {"kind": "user", "name": name, "last_activity": "2026-11-23T11:00:00Z",
            "servers": {str(i): s for i, s in enumerate(servers)}}


def test_active_users_count_server_starts_and_activity_only() -> None:
    users = [
        user("ada", {"started": None, "last_activity": "2026-11-21T00:00:00Z"}),         # this week
        user("bob", {"started": "2026-11-01T00:00:00Z", "last_activity": None}),         # this month
        user("cy", {"started": None, "last_activity": "2026-09-01T00:00:00Z"}),          # neither
        user("dee"),                                                                      # logged in, no server
        user("eve", {"started": None, "last_activity": "2026-10-01T00:00:00Z"},
             {"started": "2026-11-20T00:00:00Z", "last_activity": "2026-11-20T01:00:00Z"}),  # named server: week
        {"kind": "service", "name": "svc", "servers": {}},
    ]
    figures = usage.active_users(users, NOW)
    assert (figures.weekly_active, figures.monthly_active, figures.users) == (2, 3, 5)


def test_usage_annotations_are_written_only_on_change_or_when_stale() -> None:
    figures = usage.Usage(2, 3, 5, NOW)
    first = usage_annotations({}, figures, refresh_seconds=3600)
    assert first == {ann.USAGE_WAU: "2", ann.USAGE_MAU: "3", ann.USAGE_OBSERVED_AT: "2026-11-23T12:00:00Z"}
    later = usage.Usage(2, 3, 5, NOW + dt.timedelta(minutes=10))
    assert usage_annotations(first, later, refresh_seconds=3600) == {}
    stale = usage.Usage(2, 3, 5, NOW + dt.timedelta(hours=2))
    assert usage_annotations(first, stale, refresh_seconds=3600) == {ann.USAGE_OBSERVED_AT: "2026-11-23T14:00:00Z"}
    moved = usage.Usage(1, 3, 5, NOW + dt.timedelta(minutes=10))
    assert set(usage_annotations(first, moved, refresh_seconds=3600)) == {ann.USAGE_WAU, ann.USAGE_OBSERVED_AT}


def test_first_meterings_are_spread_and_zero_turns_metering_off() -> None:
    firsts = [first_metering("team", f"hub-{i}", 900, 1000.0) for i in range(200)]
    assert all(1000.0 <= t < 1900.0 for t in firsts)
    assert max(firsts) - min(firsts) > 600  # spread over the interval, not bunched at start-up
    assert first_metering("team", "hub-1", 900, 5.0) == first_metering("team", "hub-1", 900, 5.0)
    assert next_metering(900, 1000.0) == 1900.0
    assert first_metering("team", "hub-1", 0, 1000.0) == math.inf
    assert next_metering(0, 1000.0) == math.inf
