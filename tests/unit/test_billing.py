"""Prices and invoices, from both ends of the annotation contract."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from communityhub.api import annotations as ann
from communityhub.money import billing
from tests.unit.test_render import base_spec

PLACEMENTS = {
    ("shared", None): {"type": "shared", "sharedCluster": "local"},
    ("dedicated", "provider"): {"type": "dedicated", "dedicated": {"cloud": "gcp", "account": "provider",
                                                                   "region": "us-central1"}},
    ("dedicated", "customer"): {"type": "dedicated", "dedicated": {"cloud": "gcp", "account": "customer",
                                                                   "region": "us-central1",
                                                                   "credentialsSecretRef": {"name": "c"}}},
}
#: The domain's price table, written out again on purpose: the test must not read the code's table.
TABLE = {("education", "shared"): 1000, ("education", "dedicated"): 1500,
         ("research", "shared"): 1500, ("research", "dedicated"): 2250}


def spec(archetype: str, placement: tuple[str, str | None], fee: float | None = None, setup: float = 0) -> Any:
    community = {"displayName": "C", "contactEmail": "c@example.org", "archetype": archetype}
    bill: dict[str, Any] = {"setupFeeUSD": setup}
    if fee is not None:
        bill["monthlyFeeUSD"] = fee
    return base_spec(community=community, placement=PLACEMENTS[placement], billing=bill)


@pytest.mark.parametrize(("archetype", "placement"),
                         list(itertools.product(["education", "research", "partnership"], sorted(PLACEMENTS,
                                                                                                 key=str))))
def test_every_archetype_placement_and_account_is_priced_as_the_table_says(
        archetype: str, placement: tuple[str, str | None]) -> None:
    custom = 3100.0 if archetype == "partnership" else None
    written = billing.billing_annotations(spec(archetype, placement, fee=custom, setup=500))
    expected_fee = custom if archetype == "partnership" else TABLE[(archetype, placement[0])]
    assert written[ann.BILLING_MONTHLY_FEE] == f"{expected_fee:.2f}"
    assert written[ann.BILLING_PLAN] == ("partnership-custom" if archetype == "partnership"
                                         else f"{archetype}-{placement[0]}")
    assert written[ann.BILLING_SETUP_FEE] == "500.00"
    # The provider passes its cloud bill on: shared, and dedicated on its own account; never the customer's.
    assert written[ann.BILLING_PASSTHROUGH] == ("false" if placement[1] == "customer" else "true")


def test_a_custom_fee_overrides_the_table() -> None:
    written = billing.billing_annotations(spec("education", ("shared", None), fee=800))
    assert written[ann.BILLING_MONTHLY_FEE] == "800.00"


def hub_obj(name: str, **annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "hubs", "annotations": annotations},
            "spec": {"community": {"displayName": f"Community {name}"}, "billing": {"costCenter": "GRANT-1"}}}


def delivered_hub(name: str, delivered: str, fee: str = "1500.00", passthrough: str = "true", **extra: str) -> Any:
    return hub_obj(name, **{ann.DELIVERED_AT: delivered, ann.BILLING_MONTHLY_FEE: fee, ann.BILLING_SETUP_FEE: "250.00",
                            ann.BILLING_PASSTHROUGH: passthrough, ann.BILLING_PLAN: "research-shared",
                            ann.COST_MONTH: "2026-11", ann.COST_MONTH_TO_DATE: "120.50",
                            ann.COST_PREVIOUS_MONTH: "300.25", **extra})


def lines_of(result: billing.Invoices, hub: str) -> dict[str, billing.Line]:
    return {line.item: line for line in result.lines if line.hub == f"hubs/{hub}"}


def test_delivery_month_gets_a_setup_line_and_a_prorated_fee_that_says_so() -> None:
    result = billing.invoices([delivered_hub("new", "2026-11-21T10:00:00Z")], "2026-11")
    lines = lines_of(result, "new")
    assert lines["setup-fee"].amount_usd == 250.0 and lines["setup-fee"].invoice == "setup"
    # Delivered on the 21st of a 30-day month: 10 days billed, the delivery day included.
    assert lines["monthly-fee"].amount_usd == round(1500 * 10 / 30, 2)
    assert "prorated: 10 of 30 days" in lines["monthly-fee"].note
    assert lines["cloud-cost"].amount_usd == 120.50


def test_a_full_month_is_not_prorated_and_a_closed_month_takes_the_closed_cost() -> None:
    result = billing.invoices([delivered_hub("old", "2026-09-03T00:00:00Z")], "2026-10")
    lines = lines_of(result, "old")
    assert "setup-fee" not in lines
    assert lines["monthly-fee"].amount_usd == 1500.0 and "prorated" not in lines["monthly-fee"].note
    assert lines["cloud-cost"].amount_usd == 300.25
    assert result.total("monthly") == 1800.25 and result.total("setup") == 0


def test_no_cloud_cost_without_passthrough() -> None:
    result = billing.invoices([delivered_hub("own", "2026-01-01T00:00:00Z", passthrough="false")], "2026-11")
    assert set(lines_of(result, "own")) == {"monthly-fee"}


def test_partnership_custom_fee_is_billed_as_written() -> None:
    result = billing.invoices([delivered_hub("p", "2026-01-01T00:00:00Z", fee="4321.00")], "2026-11")
    assert lines_of(result, "p")["monthly-fee"].amount_usd == 4321.0


@pytest.mark.parametrize(("broken", "error"), [
    ({ann.BILLING_MONTHLY_FEE: "lots"}, "billing-monthly-fee-usd='lots' is not an amount"),
    ({ann.BILLING_MONTHLY_FEE: "-5"}, "not a non-negative amount"),
    ({ann.DELIVERED_AT: "yesterday"}, "not an RFC 3339 time"),
    ({ann.BILLING_PASSTHROUGH: "yes"}, "not true or false"),
])
def test_malformed_annotations_are_listed_and_the_rest_still_billed(broken: dict[str, str], error: str) -> None:
    bad = delivered_hub("bad", "2026-01-01T00:00:00Z", **broken)
    result = billing.invoices([bad, delivered_hub("good", "2026-01-01T00:00:00Z")], "2026-11")
    assert [e["hub"] for e in result.errors] == ["hubs/bad"]
    assert error in result.errors[0]["error"]
    assert not lines_of(result, "bad")
    assert lines_of(result, "good")["monthly-fee"].amount_usd == 1500.0


@pytest.mark.parametrize(("cost", "reason"), [
    ({ann.COST_MONTH: "2026-13"}, "not a month"),
    ({ann.COST_MONTH: "2026-08"}, "no cloud cost recorded for 2026-11"),
    ({ann.COST_MONTH_TO_DATE: ""}, "cost-cloud-usd-month-to-date is missing"),
    ({ann.COST_MONTH: "", ann.COST_MONTH_TO_DATE: "", ann.COST_PREVIOUS_MONTH: ""}, "cost-cloud-month is missing"),
])
def test_a_hub_not_metered_yet_is_billed_its_fees_with_the_cloud_cost_pending(
        cost: dict[str, str], reason: str) -> None:
    """Right after delivery no hub is metered: that blocks nobody's invoice, not even its own fees."""
    result = billing.invoices([delivered_hub("new", "2026-11-01T00:00:00Z", **cost),
                               delivered_hub("old", "2026-01-01T00:00:00Z")], "2026-11")
    assert result.errors == []
    new = lines_of(result, "new")
    assert new["setup-fee"].amount_usd == 250.0 and new["monthly-fee"].amount_usd == 1500.0
    assert new["cloud-cost"].pending and new["cloud-cost"].amount_usd == 0.0
    assert reason in new["cloud-cost"].note and new["cloud-cost"].note.startswith("pending: ")
    assert not lines_of(result, "old")["cloud-cost"].pending
    assert result.to_json()["pending"] == [{"hub": "hubs/new", "item": "cloud-cost", "reason": new["cloud-cost"].note}]
    assert result.total("monthly") == 1500.0 + 1500.0 + 120.5


def test_undelivered_and_later_hubs_are_listed_as_not_billed() -> None:
    result = billing.invoices([hub_obj("pending"), delivered_hub("late", "2026-12-02T00:00:00Z")], "2026-11")
    assert {e["hub"] for e in result.not_billed} == {"hubs/pending", "hubs/late"}
    assert result.lines == [] and result.errors == []


def test_invoice_json_has_totals() -> None:
    doc = billing.invoices([delivered_hub("a", "2026-11-01T00:00:00Z")], "2026-11").to_json()
    assert doc["totals"] == {"setup": 250.0, "monthly": 1620.5, "all": 1870.5}
    with pytest.raises(ValueError, match="not a month"):
        billing.invoices([], "2026-1")


def test_kpis_count_communities_marginalized_and_active_users() -> None:
    a = hub_obj("a", **{ann.USAGE_WAU: "5", ann.USAGE_MAU: "20", ann.USAGE_OBSERVED_AT: "2026-11-23T00:00:00Z"})
    b = hub_obj("b", **{ann.USAGE_WAU: "1", ann.USAGE_MAU: "2", ann.USAGE_OBSERVED_AT: "2026-11-23T00:00:00Z"})
    b["spec"]["community"]["historicallyMarginalized"] = True
    c = hub_obj("c", **{ann.USAGE_WAU: "x"})
    figures = billing.kpis([a, b, c])
    assert figures["communities"] == 3 and figures["historicallyMarginalizedCommunities"] == 1
    assert (figures["weeklyActiveUsers"], figures["monthlyActiveUsers"]) == (6, 22)
    assert [e["hub"] for e in figures["errors"]] == ["hubs/c"]


def test_the_cloud_cost_line_says_what_each_part_is() -> None:
    hub = delivered_hub("gpu", "2026-09-01T00:00:00Z", **{
        ann.COST_MONTH: "2026-11", ann.COST_MONTH_TO_DATE: "420.50",
        ann.COST_PARTS_MONTH_TO_DATE: ann.write_parts({"compute": 100.0, "gpu": 300.0, "volumes": 20.0,
                                                       "buckets": 0.5})})
    line = lines_of(billing.invoices([hub], "2026-11"), "gpu")["cloud-cost"]
    assert line.amount_usd == 420.50
    assert line.note.endswith(": compute (CPU and memory) $100.00, GPUs $300.00, volumes (homes, databases, "
                                     "shares) $20.00, buckets $0.50")
