"""A dedicated hub's cost estimate before provisioning, and the id a person approves."""

from __future__ import annotations

import re

import pytest

from communityhub.money import cost, estimate
from tests.conftest import REPO
from tests.unit.test_render import base_spec

CATALOG = {"gcp": {"us-central1": {"e2-standard-2": 0.07, "n2-highmem-4": 0.26}},
           "aws": {"us-west-2": {"t3.large": 0.08}}}


def dedicated(cloud: str = "gcp", region: str = "us-central1", pools: list | None = None, account: str = "provider"):
    placement = {"type": "dedicated", "dedicated": {
        "cloud": cloud, "region": region, "account": account,
        "nodePools": pools or [{"name": "user", "machineType": "n2-highmem-4", "min": 0, "max": 5}],
        **({"credentialsSecretRef": {"name": "c"}} if account == "customer" else {})}}
    return base_spec(placement=placement)


def test_pools_are_priced_at_their_minimum_and_maximum_in_one_zone() -> None:
    figures = estimate.estimate(dedicated(), CATALOG)
    assert figures is not None
    # GKE's nodes are in one zone (the module's node_locations), so min and max are the spec's counts:
    # core e2-standard-2 1..2, user n2-highmem-4 0..5; 730 hours.
    assert figures.cloud_usd("min") == round(730 * 0.07, 2)
    assert figures.cloud_usd("max") == round(730 * (2 * 0.07 + 5 * 0.26), 2)
    assert figures.fee_usd == 2250.0 and figures.passthrough  # research, dedicated, provider's account
    assert not figures.unpriced
    status = figures.to_status()
    assert status["monthlyCloudUSDMax"] == figures.cloud_usd("max")
    assert status["nodePools"][1] == {"name": "user", "machineType": "n2-highmem-4", "min": 0, "max": 5,
                                      "usdPerHour": 0.26}


def test_a_gpu_pool_is_priced_with_its_accelerators_or_named_unpriced() -> None:
    gpu = {"name": "gpu", "machineType": "n2-highmem-4", "min": 0, "max": 2, "gpu": {"type": "nvidia-tesla-t4",
                                                                                     "count": 2}}
    catalog = {"gcp": {"us-central1": {**CATALOG["gcp"]["us-central1"], "nvidia-tesla-t4": 0.35}}}
    figures = estimate.estimate(dedicated(pools=[gpu]), catalog)
    assert figures is not None and figures.pools[1].usd_per_hour == round(0.26 + 2 * 0.35, 4)
    unpriced = estimate.estimate(dedicated(pools=[gpu]), CATALOG)
    assert unpriced is not None and unpriced.unpriced == ["gpu (n2-highmem-4 + 2x nvidia-tesla-t4)"]


def test_an_unpriced_machine_type_is_named_not_free() -> None:
    figures = estimate.estimate(dedicated(pools=[{"name": "gpu", "machineType": "a2-highgpu-1g", "min": 0,
                                                  "max": 2}]), CATALOG)
    assert figures is not None and figures.unpriced == ["gpu (a2-highgpu-1g)"]
    assert "not counted: gpu (a2-highgpu-1g)" in figures.describe()
    assert "usdPerHour" not in figures.to_status()["nodePools"][1]


def test_shared_hubs_have_no_estimate_and_a_customer_account_pays_its_own() -> None:
    assert estimate.estimate(base_spec(), CATALOG) is None
    figures = estimate.estimate(dedicated(cloud="aws", region="us-west-2", account="customer"), CATALOG)
    assert figures is not None and not figures.passthrough
    assert "paid by the customer's own account" in figures.describe()


def test_the_approval_id_changes_with_inputs_estimate_and_plan() -> None:
    figures = estimate.estimate(dedicated(), CATALOG)
    other = estimate.estimate(dedicated(pools=[{"name": "user", "machineType": "n2-highmem-4", "min": 0,
                                                "max": 9}]), CATALOG)
    assert figures is not None and other is not None
    base = figures.approval_id("inputs", "2 to add, 0 to change, 0 to destroy")
    assert base == figures.approval_id("inputs", "2 to add, 0 to change, 0 to destroy")
    assert len({base, figures.approval_id("other inputs", "2 to add, 0 to change, 0 to destroy"),
                figures.approval_id("inputs", "3 to add, 0 to change, 0 to destroy"),
                other.approval_id("inputs", "2 to add, 0 to change, 0 to destroy")}) == 4
    message = estimate.awaiting(figures, base, "2 to add", "team", "lab")
    assert f"kubectl annotate communityhub -n team lab {estimate.APPROVED}={base}" in message


def test_the_local_module_is_priced_as_gcp_with_the_shipped_catalog() -> None:
    figures = estimate.estimate(dedicated(cloud="local", region="local-1"), cost.catalog())
    assert figures is not None and not figures.unpriced and figures.cloud_usd("max") > 0


@pytest.mark.parametrize("cloud", sorted(estimate.CORE_POOLS))
def test_core_pools_are_those_the_modules_create(cloud: str) -> None:
    machine, low, high = estimate.CORE_POOLS[cloud]
    text = (REPO / "terraform" / "modules" / {"gcp": "gke", "aws": "eks", "azure": "aks", "local": "local"}[cloud]
            / "main.tf").read_text()
    assert machine in text
    if cloud == "local":
        assert re.search(rf'core_pool\s*=\s*{{.*machine_type = "{machine}", min = {low}, max = {high}', text)
    else:  # the core pool's block names the machine type and its bounds
        block = text[text.index('"core"'):][:700]
        assert machine in block
        assert re.search(rf"(min_node_count|min_count|min_size|min)\s*=\s*{low}\b", block), block
        assert re.search(rf"(max_node_count|max_count|max_size|max)\s*=\s*{high}\b", block), block
    shipped = cost.catalog()
    cloud_, region = estimate.PRICED_AS.get(cloud, (cloud, next(iter(shipped.get(cloud, {"": {}})))))
    assert machine in shipped[cloud_][region], f"the shipped catalog prices {cloud}'s core pool"
