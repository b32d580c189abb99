"""Cost per user and per group (issue 32, part 3): each hub's share of a node is split again between its users'
servers (KubeSpawner's username annotation) and the hub's overhead; home claims go to their users; the split by
group comes from the hub's API. A hand-computed month for three users, two groups and the overhead, and the sums
that must hold."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from communityhub.cli import hubctl
from communityhub.money import billing, cost, usage

GIB = 2**30
#: One $1/hour machine (4 cores, 20 GiB) and claims at $0.10 per GiB-month.
PRICES = {"gcp": {"r": {"m": 1.0, "storage/*": 0.1}}}
NODE = cost.Node("n1", "gcp", "r", "m", cpu=4, memory=20 * GIB)


def pod(owner: str | None, cpu: float, memory_gib: int, user: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": {"t/a": "hub-a", "t/b": "hub-b"}.get(owner or "", "kube-system")}
    if user:
        meta["annotations"] = {cost.USERNAME_ANNOTATION: user}
    return {"metadata": meta, "spec": {"nodeName": "n1", "containers": [
        {"resources": {"requests": {"cpu": str(cpu), "memory": f"{memory_gib}Gi"}}}]},
        "status": {"phase": "Running"}}


OWNERS = {"hub-a": "t/a", "hub-b": "t/b"}
PODS = [cost.pod_from(p, OWNERS) for p in (
    pod("t/a", 0.4, 2),  # hub A's hub and proxy: 10% of the node, its overhead
    pod("t/a", 1, 5, "ada@uni.edu"),  # 25%
    pod("t/a", 0.4, 2, "bob"),  # 10%
    pod("t/a", 0.2, 1, "cy"),  # 5%
    pod("t/b", 0.8, 4, "dee"),  # hub B: 20%
    pod(None, 0.4, 2),  # a system pod: the provider's overhead, with the idle 30%
)]
HOME = cost.volume_from({"metadata": {"namespace": "hub-a", "annotations": {cost.USERNAME_ANNOTATION: "ada@uni.edu"}},
                         "spec": {"storageClassName": "standard"},
                         "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}}}, OWNERS)
GROUPS = {"t/a": {"ada@uni.edu": ["chem", "physics"], "bob": ["physics"], "cy": []}}


def month() -> dict[str, Any]:
    """100 hours of November at the rates above."""
    users: dict[str, dict[str, float]] = {}
    parts, unpriced = cost.part_rates([NODE], [p for p in PODS if p], PRICES, volumes=[HOME] if HOME else [],
                                      users=users)
    assert unpriced == []
    start = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    ledger = cost.accrue(None, cost.totals(parts), start, parts, users, GROUPS)
    return cost.accrue(ledger, cost.totals(parts), start + dt.timedelta(hours=100), parts, users)


def test_three_users_and_the_overhead_by_hand() -> None:
    found = billing.user_costs(month(), "t/a", "2026-11")
    # ada: 25% of $1 for 100 h, and her 10 GiB home at $0.10 a GiB-month for 100 of 730 h.
    assert found["rows"] == [{"user": "ada@uni.edu", "usd": 25.14}, {"user": "bob", "usd": 10.0},
                             {"user": "cy", "usd": 5.0}]
    assert (found["overheadUSD"], found["hubUSD"]) == (10.0, 50.14)


def test_two_groups_by_hand() -> None:
    found = billing.user_costs(month(), "t/a", "2026-11", by="group")
    # ada is in both groups (half each), bob in physics, cy in none.
    assert found["rows"] == [{"group": billing.NO_GROUP, "usd": 5.0}, {"group": "chem", "usd": 12.57},
                             {"group": "physics", "usd": 22.57}]
    assert (found["overheadUSD"], found["hubUSD"]) == (10.0, 50.14)


@pytest.mark.parametrize("by", ["user", "group"])
def test_users_and_overhead_add_up_to_the_hub_and_hubs_and_idle_to_the_node_bill(by: str) -> None:
    ledger = month()
    for owner in ("t/a", "t/b"):
        found = billing.user_costs(ledger, owner, "2026-11", by=by)
        cents = sum(round(r["usd"] * 100) for r in found["rows"]) + round(found["overheadUSD"] * 100)
        assert cents == round(found["hubUSD"] * 100), (owner, found)
    hubs = sum(v for k, v in ledger["owners"].items() if k != cost.OVERHEAD)
    assert round(hubs + ledger["owners"][cost.OVERHEAD], 6) == round(ledger["total"], 6) == round(100 + 100 / 730, 6)
    assert round(ledger["owners"][cost.OVERHEAD], 6) == 30.0  # idle 30% (the system pod's 10% among it)


def test_a_users_share_never_exceeds_their_hubs_on_a_full_node() -> None:
    """Over-committed (requests beyond the node): hubs split the whole node, and users within their hub's part."""
    greedy = [cost.Pod("n1", "t/a", 4, 16 * GIB, user="ada"), cost.Pod("n1", "t/b", 4, 16 * GIB, user="dee")]
    users: dict[str, dict[str, float]] = {}
    parts, _ = cost.part_rates([NODE], greedy, PRICES, users=users)
    assert users == {"t/a": {"ada": 0.5}, "t/b": {"dee": 0.5}}
    assert cost.totals(parts)["t/a"] == 0.5


def test_on_a_dedicated_cluster_the_idle_node_is_the_hubs_overhead() -> None:
    users: dict[str, dict[str, float]] = {}
    parts, _ = cost.part_rates([NODE], [p for p in PODS if p], PRICES, dedicated_to="t/a", users=users)
    assert cost.totals(parts) == {"t/a": 1.0}
    assert users["t/a"] == {"ada@uni.edu": 0.25, "bob": 0.1, "cy": 0.05, "dee": 0.2}


def test_the_month_before_is_kept_and_others_are_refused() -> None:
    ledger = cost.accrue(month(), {}, dt.datetime(2026, 12, 1, 1, tzinfo=dt.UTC))
    november = billing.user_costs(ledger, "t/a", "2026-11")  # charged on to midnight at the rates of Nov 6
    assert november["month"] == "2026-11" and november["hubUSD"] > 50.14
    assert billing.user_costs(ledger, "t/a", "2026-12")["hubUSD"] == 0.5  # its first hour, at 50% of $1
    with pytest.raises(ValueError, match="keeps 2026-12, 2026-11, not 2026-10"):
        billing.user_costs(ledger, "t/a", "2026-10")


def test_groups_come_from_the_hubs_api() -> None:
    users = [{"kind": "user", "name": "ada", "groups": ["physics", "chem"]}, {"kind": "service", "name": "x"},
             {"kind": "user", "name": "bob", "groups": []}]
    assert usage.groups_of(users) == {"ada": ["chem", "physics"], "bob": []}


def test_hubctl_billing_users(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hubctl, "read_ledger", lambda hub, operator_namespace: (month(), hub))
    assert hubctl.main(["billing", "users", "--hub", "t/a", "--month", "2026-11", "--by", "group", "-o", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [r["group"] for r in found["rows"]] == [billing.NO_GROUP, "chem", "physics"]
    assert hubctl.main(["billing", "users", "--hub", "t/a", "--month", "2026-11", "-o", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["user,usd", "ada@uni.edu,25.14", "bob,10.00", "cy,5.00",
                                                    "(overhead),10.00", "(hub),50.14"]
    assert hubctl.main(["billing", "users", "--hub", "t/a", "--month", "2026-09"]) == 2


def test_a_ledger_too_large_for_its_configmap_gives_up_users_not_hubs() -> None:
    ledger = cost.accrue(month(), {}, dt.datetime(2026, 12, 1, 1, tzinfo=dt.UTC))
    size = len(json.dumps(ledger, sort_keys=True))
    kept, text = cost.trimmed(json.loads(json.dumps(ledger)), limit=size - 1)
    assert len(text) <= size - 1 and kept["owners"] == ledger["owners"]
    assert kept["usersDropped"][0] == "previous.userGroups"
    kept, text = cost.trimmed(json.loads(json.dumps(ledger)), limit=len(json.dumps({**ledger, "users": {},
                                                                                     "userRates": {}})) // 2)
    assert kept["previous"]["owners"] == ledger["previous"]["owners"] and kept["users"] == {}
    with pytest.raises(ValueError, match="gave up its per-user detail"):
        billing.user_costs(kept, "t/a", "2026-11")
    assert cost.trimmed(json.loads(json.dumps(ledger)))[0] == ledger  # within the limit: as it was
