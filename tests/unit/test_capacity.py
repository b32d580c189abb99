"""What one hub may take of a shared cluster (issue 29, finding 6), on plain data: the archetype's bounds on the
hub pod, homes and Dask, the namespace's ResourceQuota and LimitRange, named servers' limit, and WithinQuota."""

from __future__ import annotations

from typing import Any

import pytest

from communityhub.api.models import HubClassSpec
from communityhub.delivery import capacity, dask, names, policy, render
from tests.unit.test_render import base_spec


def community(archetype: str, membership: str) -> dict[str, Any]:
    return {**base_spec().community.model_dump(by_alias=True), "archetype": archetype, "membership": membership}


def spec(archetype: str = "education", membership: str = "general", **overrides: Any) -> Any:
    return base_spec(community=community(archetype, membership), **overrides)


def hub_part(**fields: Any) -> dict[str, Any]:
    return {**base_spec().hub.model_dump(by_alias=True, exclude_none=True), **fields}


def env_part(**fields: Any) -> dict[str, Any]:
    return {**base_spec().environment.model_dump(by_alias=True, exclude_none=True), **fields}


@pytest.mark.parametrize(("overrides", "reason", "says"), [
    ({"hub": hub_part(resources={"cpu": 8, "memory": "1Gi"})}, "HubExceedsLimits", "at most 1 CPU and 4Gi"),
    ({"hub": hub_part(resources={"cpu": 0.5, "memory": "2Ti"})}, "HubExceedsLimits", "at most 1 CPU"),
    ({"environment": env_part(homeStorage="64Ti")}, "HomeExceedsLimits", "largest home, 50Gi"),
])
def test_the_hub_pod_and_the_homes_are_bounded_by_the_archetype(overrides: dict, reason: str, says: str) -> None:
    refused = policy.environment(spec(**overrides))
    assert refused.status == "False" and refused.reason == reason and says in refused.message
    assert policy.environment(spec()).status == "Unknown"


def test_a_class_changes_the_bounds_field_by_field() -> None:
    roomy = HubClassSpec.model_validate({"archetypes": {"education": {"hubCpu": 8, "homeStorage": "100Ti",
                                                                      "quota": {"cpu": 4}}}})
    big = spec(hub=hub_part(resources={"cpu": 8, "memory": "1Gi"}), environment=env_part(homeStorage="64Ti"))
    assert policy.environment(big, roomy).status == "Unknown"
    bounds = capacity.bounds(big, roomy, policy.tier_rules(big, roomy))
    assert bounds.quota.cpu == 4 and bounds.quota.memory == "256Gi"  # the rest is the operator's
    assert bounds.server_cpu == 4.0  # the class left the server's limit alone


def test_a_namespace_quota_bounds_everything_the_hub_reserves_and_gpus_follow_the_tier() -> None:
    education = capacity.bounds(spec(), None, policy.tier_rules(spec()))
    quota = capacity.resource_quota("hub-x", education.quota, {"a": "b"})
    assert quota["metadata"] == {"name": names.QUOTA, "namespace": "hub-x", "labels": {"a": "b"}}
    assert quota["spec"]["hard"] == {"requests.cpu": "64", "requests.memory": "256Gi",
                                     "requests.nvidia.com/gpu": "4", "requests.storage": "2Ti",
                                     "persistentvolumeclaims": "500", "pods": "300"}
    research = spec("research")
    assert capacity.bounds(research, None, policy.tier_rules(research)).quota.gpus == 16
    essential = spec("research", "essential")
    assert capacity.bounds(essential, None, policy.tier_rules(essential)).quota.gpus == 0  # no GPUs in the tier
    # Requests for containers that set none (quota admission refuses pods without), and no limits added.
    limits = capacity.limit_range("hub-x", {})["spec"]["limits"]
    assert limits == [{"type": "Container", "defaultRequest": capacity.DEFAULT_REQUEST}]


def test_named_servers_always_have_a_limit() -> None:
    named = render.values("hubs", "lab", spec(environment=env_part(namedServers={})))
    assert named["hub"]["config"]["JupyterHub"]["named_server_limit_per_user"] == capacity.NAMED_SERVER_LIMIT
    three = render.values("hubs", "lab", spec(environment=env_part(namedServers={"limitPerUser": 3})))
    assert three["hub"]["config"]["JupyterHub"]["named_server_limit_per_user"] == 3


def test_a_users_dask_clusters_are_bounded_in_number_workers_and_cores() -> None:
    daskhub = spec("research", dask={"maxCoresPerCluster": 2048})
    refused = capacity.dask_refusal(daskhub, capacity.bounds(daskhub, None, policy.tier_rules(daskhub)))
    assert refused is not None and refused.reason == "DaskExceedsLimits" and "256 cores" in refused.message
    fine = spec("research", dask={"maxCoresPerCluster": 16, "worker": {"cores": 2, "memory": "4Gi"},
                                  "maxClustersPerUser": 1})
    limits = dask.gateway_values(fine, "hub-x", "lab-dask")["gateway"]["extraConfig"]["communityhub-limits"]
    assert "c.ClusterConfig.cluster_max_workers = 8" in limits and "c.UserLimits.max_clusters = 1" in limits
    assert "c.UserLimits.max_cores = 16.0" in limits


@pytest.mark.parametrize(("used", "status", "reason", "says"), [
    ({"requests.cpu": "1", "pods": "3"}, "True", "WithinQuota", "below 90%"),
    ({"requests.cpu": "3700m", "pods": "3"}, "False", "QuotaNearlyFull", "requests.cpu 3700m of 4"),
    ({"requests.cpu": "4", "pods": "3"}, "False", "QuotaExhausted", "exceeded quota"),
    ({"requests.memory": "16Gi"}, "False", "QuotaExhausted", "requests.memory 16Gi of 16Gi"),
])
def test_within_quota_says_what_is_full(used: dict, status: str, reason: str, says: str) -> None:
    hard = {"requests.cpu": "4", "requests.memory": "16Gi", "requests.nvidia.com/gpu": "0", "pods": "10"}
    verdict = capacity.quota_verdict({"hard": hard, "used": used})
    assert (verdict.status, verdict.reason) == (status, reason) and says in verdict.message
    assert capacity.quota_verdict({}).status == "Unknown"
