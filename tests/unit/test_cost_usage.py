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
    assert ledger["previous"] == {"month": "2026-11", "owners": {"hubs/x": 2.0}, "parts": {}, "total": 2.0,
                                  "users": {}, "userGroups": {}}
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


# ------------------------------------------------------------------ issue 29, finding 7: what a hub uses, it pays
GPU_PRICES = {"gcp": {"us-central1": {"n1-standard-8": 0.38, "nvidia-tesla-t4": 0.35, "storage/*": 0.10,
                                      "storage/premium-rwo": 0.17, "objectstorage": 0.02}},
              "aws": {"us-west-2": {"g4dn.12xlarge": 3.912}}}


def test_a_pod_holding_a_nodes_gpus_pays_for_them_whatever_cpu_it_asks() -> None:
    """Four T4s held with 100m CPU paid $0.01/h of the node's $1.78/h: the split was by CPU and memory alone."""
    node = cost.Node("g", "gcp", "us-central1", "n1-standard-8", 8.0, 30 * 2**30, gpus=4,
                     accelerator="nvidia-tesla-t4")
    greedy = cost.Pod("g", "hubs/gpu-hog", 0.1, 2**28, gpus=4)
    parts, unpriced = cost.part_rates([node], [greedy], GPU_PRICES)
    assert unpriced == []
    assert parts["hubs/gpu-hog"]["gpu"] == pytest.approx(4 * 0.35)  # every GPU of the node
    rates, _ = cost.rates([node], [greedy], GPU_PRICES)
    assert rates["hubs/gpu-hog"] > 1.4 and sum(rates.values()) == pytest.approx(0.38 + 4 * 0.35)


def test_on_aws_a_gpu_machines_gpus_are_its_price_and_go_to_who_holds_them() -> None:
    node = cost.Node("g", "aws", "us-west-2", "g4dn.12xlarge", 48.0, 192 * 2**30, gpus=4)
    pods = [cost.Pod("g", "hubs/a", 1.0, 2**30, gpus=3), cost.Pod("g", "hubs/b", 24.0, 96 * 2**30)]
    parts, _ = cost.part_rates([node], pods, GPU_PRICES)
    gpu_hourly = 3.912 * cost.GPU_SHARE_OF_GPU_MACHINE
    assert parts["hubs/a"]["gpu"] == pytest.approx(gpu_hourly * 3 / 4)
    assert "gpu" not in parts["hubs/b"] and parts[cost.OVERHEAD]["gpu"] == pytest.approx(gpu_hourly / 4)
    assert sum(sum(p.values()) for p in parts.values()) == pytest.approx(3.912)  # conserved


def test_a_gpu_request_is_read_from_the_pods_limits_as_kubernetes_does() -> None:
    pod = cost.pod_from({"metadata": {"namespace": "hub-x"}, "spec": {"nodeName": "g", "containers": [
        {"resources": {"limits": {"nvidia.com/gpu": "2"}, "requests": {"cpu": "100m"}}}]}, "status": {}},
        {"hub-x": "hubs/x"})
    assert pod is not None and pod.gpus == 2
    node = cost.node_from({"metadata": {"name": "g", "labels": {cost.INSTANCE_TYPE_LABEL: "n1-standard-8",
                                                               cost.REGION_LABEL: "us-central1",
                                                               cost.ACCELERATOR_LABEL: "nvidia-tesla-t4"}},
                           "spec": {"providerID": "gce://p/z/g"},
                           "status": {"allocatable": {"cpu": "8", "memory": "30Gi", "nvidia.com/gpu": "4"}}}, "gcp")
    assert (node.gpus, node.accelerator) == (4, "nvidia-tesla-t4")
    assert cost.price(GPU_PRICES, node) == pytest.approx(0.38 + 4 * 0.35)  # the accelerators were not priced


def test_volumes_and_measured_buckets_are_priced_and_named() -> None:
    node = cost.Node("n", "gcp", "us-central1", "n1-standard-8", 8.0, 30 * 2**30)
    volumes = [cost.Volume("hubs/x", 100 * 2**30, "premium-rwo"), cost.Volume("hubs/x", 10 * 2**30, "standard-rwo"),
               cost.Volume(None, 2**30, "standard-rwo")]
    parts, unpriced = cost.part_rates([node], [], GPU_PRICES, volumes=volumes, buckets={"hubs/x": 50 * 2**30})
    assert unpriced == []
    assert parts["hubs/x"]["volumes"] * cost.HOURS_PER_MONTH == pytest.approx(100 * 0.17 + 10 * 0.10)
    assert parts["hubs/x"]["buckets"] * cost.HOURS_PER_MONTH == pytest.approx(50 * 0.02)
    assert parts[cost.OVERHEAD]["volumes"] * cost.HOURS_PER_MONTH == pytest.approx(0.10)
    requested = {"storageClassName": "premium-rwo", "resources": {"requests": {"storage": "5Gi"}}}
    claim = cost.volume_from({"metadata": {"namespace": "hub-x"}, "spec": requested,
                              "status": {"phase": "Bound", "capacity": {"storage": "8Gi"}}}, {"hub-x": "hubs/x"})
    assert claim == cost.Volume("hubs/x", 8 * 2**30, "premium-rwo")
    _, missing = cost.part_rates([cost.Node("n", "aws", "us-west-2", "g4dn.12xlarge", 48, 2**30)], [], GPU_PRICES,
                                 volumes=volumes[:1])
    assert missing == ["claims of storage class premium-rwo (aws/us-west-2)"]


def test_the_ledger_keeps_each_owners_parts_and_they_add_up_to_its_total() -> None:
    parts = {"hubs/x": {"compute": 1.0, "gpu": 2.0, "volumes": 0.5}}
    ledger = cost.accrue(None, {"hubs/x": 3.5}, at("2026-11-10T00:00:00Z"), parts)
    ledger = cost.accrue(ledger, {"hubs/x": 3.5}, at("2026-11-10T02:00:00Z"), parts)
    assert ledger["parts"]["hubs/x"] == pytest.approx({"compute": 2.0, "gpu": 4.0, "volumes": 1.0})
    assert sum(ledger["parts"]["hubs/x"].values()) == pytest.approx(ledger["owners"]["hubs/x"])
