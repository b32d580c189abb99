"""Faults that used to skip the conditions: each becomes a condition with a reason, or just works."""

from __future__ import annotations

import base64

import pytest
import yaml

from tests.conftest import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.hubs import create_hub, hub, ns, released_values, wait_condition, wait_ready
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


def test_an_operator_bug_says_so_in_ready_rather_than_nothing(
        management: Cluster, operator: OperatorProcess) -> None:
    """A failure no step knows (here: a shared-cluster Secret whose kubeconfig names no cluster, which the
    client library refuses with its own error) turns Ready False with the exception's type, not its text."""
    broken = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    management.apply({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "cluster-broken", "namespace": OPERATOR_NAMESPACE,
                     "labels": {"hubs.2i2c.org/shared-cluster": "broken"}},
        "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(broken).encode()).decode()}})
    create_hub(management, "bug", ns("team-bug"), placement={"type": "shared", "sharedCluster": "broken"})
    cond = wait_condition(management, "bug", ns("team-bug"), "Ready", "False", "OperatorError", timeout=90)
    assert "the operator failed on this hub (" in cond["message"] and "its log has the details" in cond["message"]
    events = management.get("events", namespace=ns("team-bug"))["items"]
    assert any(e["reason"] == "OperatorError" and e["type"] == "Warning" for e in events)
    assert operator.alive()
    management.kubectl("-n", ns("team-bug"), "delete", "communityhub", "bug", "--wait=false")
    management.kubectl("-n", ns("team-bug"), "patch", "communityhub", "bug", "--type=merge",
                       "-p", '{"metadata": {"finalizers": []}}')
    management.kubectl("-n", OPERATOR_NAMESPACE, "delete", "secret", "cluster-broken")


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
