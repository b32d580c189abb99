"""Faults that used to skip the conditions: each becomes a condition with a reason, or just works."""

from __future__ import annotations

import base64

import pytest
import yaml

from tests.conftest import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.hubs import create_hub, hub, ns, released_values, wait_condition, wait_ready
from tests.support.kube import Cluster

pytestmark = pytest.mark.integration


def register_shared_cluster(cluster: Cluster, name: str, kubeconfig: dict) -> None:
    cluster.apply({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": f"cluster-{name}", "namespace": OPERATOR_NAMESPACE,
                     "labels": {"hubs.2i2c.org/shared-cluster": name}},
        "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()}})


def abandon(cluster: Cluster, name: str, namespace: str, shared_cluster: str) -> None:
    """Its cluster is no use: delete the hub without teardown, as docs/operations.md says, and the cluster's Secret."""
    cluster.kubectl("-n", namespace, "delete", "communityhub", name, "--wait=false")
    cluster.kubectl("-n", namespace, "patch", "communityhub", name, "--type=merge",
                    "-p", '{"metadata": {"finalizers": []}}')
    cluster.kubectl("-n", OPERATOR_NAMESPACE, "delete", "secret", f"cluster-{shared_cluster}")


def test_an_unreachable_shared_cluster_is_a_condition_not_a_crash(
        management: Cluster, operator: OperatorProcess) -> None:
    """lightkube raises httpx2 errors, which are not OSError: they escaped the step and skipped the conditions."""
    config = yaml.safe_load(management.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens there
    register_shared_cluster(management, "gone", config)
    create_hub(management, "far", ns("team-far"), placement={"type": "shared", "sharedCluster": "gone"})
    cond = wait_condition(management, "far", ns("team-far"), "HubReady", "False", "ClusterUnreachable", timeout=90)
    assert "cluster gone cannot be reached" in cond["message"]
    abandon(management, "far", ns("team-far"), "gone")  # its cluster is gone for good


def test_an_operator_bug_says_so_in_ready_rather_than_nothing(
        management: Cluster, operator: OperatorProcess) -> None:
    """A failure no step knows (here: a shared-cluster Secret whose kubeconfig names no cluster, which the
    client library refuses with its own error) turns Ready False with the exception's type, not its text."""
    register_shared_cluster(management, "broken",
                            {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []})
    create_hub(management, "bug", ns("team-bug"), placement={"type": "shared", "sharedCluster": "broken"})
    cond = wait_condition(management, "bug", ns("team-bug"), "Ready", "False", "OperatorError", timeout=90)
    assert "the operator failed on this hub (" in cond["message"] and "its log has the details" in cond["message"]
    events = management.get("events", namespace=ns("team-bug"))["items"]
    assert any(e["reason"] == "OperatorError" and e["type"] == "Warning" for e in events)
    assert operator.alive()
    abandon(management, "bug", ns("team-bug"), "broken")


def test_a_hub_never_placed_is_deleted_without_help(management: Cluster, operator: OperatorProcess) -> None:
    """Found by the fuzz tests: a typo in sharedCluster kept the finalizer for good, though nothing was deployed."""
    create_hub(management, "typo", ns("team-typo"), placement={"type": "shared", "sharedCluster": "locall"})
    wait_condition(management, "typo", ns("team-typo"), "ClusterReady", "False", timeout=60)
    management.kubectl("-n", ns("team-typo"), "delete", "communityhub", "typo", "--timeout=60s")
    assert hub(management, "typo", ns("team-typo")) is None


def test_emoji_and_astral_characters_reach_the_hub(management: Cluster, operator: OperatorProcess) -> None:
    environment = {"image": "quay.io/example/nb:1", "profiles": [
        {"name": "ocean", "displayName": "🌊 Ocean 👩‍🔬 𠀋", "cpu": 1, "memory": "2Gi", "default": True}]}
    create_hub(management, "emoji", ns("team-emoji"), environment=environment)
    obj = wait_ready(management, "emoji", ns("team-emoji"), timeout=120)
    (profile,) = released_values(management, obj["status"]["names"]["namespace"])["singleuser"]["profileList"]
    assert profile["display_name"] == "🌊 Ocean 👩‍🔬 𠀋"
