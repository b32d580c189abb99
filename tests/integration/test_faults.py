"""Faults that used to skip the conditions: each becomes a condition with a reason, or just works."""

from __future__ import annotations

import base64

import pytest
import yaml

from tests.conftest import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.hubs import create_hub, ns, released_values, wait_condition, wait_ready
from tests.support.kube import Cluster

pytestmark = pytest.mark.integration


def test_an_unreachable_shared_cluster_is_a_condition_not_a_crash(
        management: Cluster, operator: OperatorProcess) -> None:
    """lightkube raises httpx2 errors, which are not OSError: they escaped the step and skipped the conditions."""
    config = yaml.safe_load(management.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens there
    management.apply({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "cluster-gone", "namespace": OPERATOR_NAMESPACE,
                     "labels": {"hubs.2i2c.org/shared-cluster": "gone"}},
        "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(config).encode()).decode()}})
    create_hub(management, "far", ns("team-far"), placement={"type": "shared", "sharedCluster": "gone"})
    cond = wait_condition(management, "far", ns("team-far"), "HubReady", "False", "ClusterUnreachable", timeout=90)
    assert "cluster gone cannot be reached" in cond["message"]
    # Its cluster is gone for good: abandon what is left there, as docs/operations.md says.
    management.kubectl("-n", ns("team-far"), "delete", "communityhub", "far", "--wait=false")
    management.kubectl("-n", ns("team-far"), "patch", "communityhub", "far", "--type=merge",
                       "-p", '{"metadata": {"finalizers": []}}')
    management.kubectl("-n", OPERATOR_NAMESPACE, "delete", "secret", "cluster-gone")


def test_emoji_and_astral_characters_reach_the_hub(management: Cluster, operator: OperatorProcess) -> None:
    environment = {"image": "quay.io/example/nb:1", "profiles": [
        {"name": "ocean", "displayName": "🌊 Ocean 👩‍🔬 𠀋", "cpu": 1, "memory": "2Gi", "default": True}]}
    create_hub(management, "emoji", ns("team-emoji"), environment=environment)
    obj = wait_ready(management, "emoji", ns("team-emoji"), timeout=120)
    (profile,) = released_values(management, obj["status"]["names"]["namespace"])["singleuser"]["profileList"]
    assert profile["display_name"] == "🌊 Ocean 👩‍🔬 𠀋"
