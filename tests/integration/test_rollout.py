"""A hub that does not come up says why: the cluster's cause while it waits, False after the deadline."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROLLOUT_DEADLINE_SECONDS, OperatorProcess
from tests.support.hubs import create_hub, hub, ns, wait_condition, wait_ready
from tests.support.kube import Cluster, condition, wait_for

pytestmark = pytest.mark.integration


def test_a_hub_asking_for_more_cpu_than_any_node_has_says_why_and_recovers(
        management: Cluster, operator: OperatorProcess) -> None:
    namespace = ns("team-huge")
    # Every kwok node has 3920m allocatable: a hub pod asking for 4 CPU (a research hub's most) cannot be placed.
    create_hub(management, "huge", namespace,
               hub={"domain": "huge.hubs.example.org", "adminUsers": ["alice"], "resources": {"cpu": 4}})

    def waiting_with_cause() -> dict | None:
        hub_ready = condition(hub(management, "huge", namespace), "HubReady")
        if hub_ready and hub_ready["reason"] == "RolloutInProgress" and "Insufficient cpu" in hub_ready["message"]:
            return hub_ready
        return None
    waiting = wait_for(waiting_with_cause, timeout=90, what="HubReady to name the scheduler's reason")
    assert waiting["status"] == "Unknown"
    assert "waiting for Deployment(s) hub" in waiting["message"] and "cannot be scheduled" in waiting["message"]

    failed = wait_condition(management, "huge", namespace, "HubReady", "False", "PodUnschedulable",
                            timeout=ROLLOUT_DEADLINE_SECONDS + 60)
    assert "Insufficient cpu" in failed["message"] and f"deadline {ROLLOUT_DEADLINE_SECONDS}s" in failed["message"]
    ready = condition(hub(management, "huge", namespace), "Ready")
    assert ready is not None and ready["status"] == "False" and ready["reason"] == "PodUnschedulable"

    # A spec that fits is rolled out and the hub comes up.
    management.kubectl("-n", namespace, "patch", "communityhub", "huge", "--type=merge",
                       "-p", json.dumps({"spec": {"hub": {"resources": {"cpu": 0.5}}}}))
    obj = wait_ready(management, "huge", namespace, timeout=120)
    assert condition(obj, "HubReady")["reason"] == "ReleaseDeployed"  # type: ignore[index]


def leave_release_pending(cluster: Cluster, hub_namespace: str, release: str) -> str:
    """What a helm killed mid-upgrade leaves: a newer revision record whose status is pending-upgrade."""
    records = cluster.get("secret", namespace=hub_namespace, selector=f"owner=helm,name={release}")["items"]
    last = max(records, key=lambda r: int(r["metadata"]["labels"]["version"]))
    body = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(last["data"]["release"]))))
    revision = body["version"] + 1
    body["version"], body["info"]["status"] = revision, "pending-upgrade"
    encoded = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(body).encode()))).decode()
    name = f"sh.helm.release.v1.{release}.v{revision}"
    labels = {**last["metadata"]["labels"], "version": str(revision), "status": "pending-upgrade"}
    record = {"apiVersion": "v1", "kind": "Secret", "type": last["type"],
              "metadata": {"name": name, "namespace": hub_namespace, "labels": labels}, "data": {"release": encoded}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(record))  # apply would keep a copy too large to store
    return name


def test_a_release_left_pending_by_a_killed_helm_is_recovered(
        management: Cluster, helm_bin: Path, operator: OperatorProcess) -> None:
    namespace = ns("team-pend")
    create_hub(management, "pend", namespace)
    before = wait_ready(management, "pend", namespace)
    hub_namespace, release = before["status"]["names"]["namespace"], before["status"]["names"]["release"]
    leave_release_pending(management, hub_namespace, release)
    stuck = subprocess.run([str(helm_bin), "--kubeconfig", str(management.kubeconfig), "status", release,
                            "-n", hub_namespace], capture_output=True, text=True)
    assert "STATUS: pending-upgrade" in stuck.stdout  # what every later upgrade used to fail on, forever

    management.kubectl("-n", namespace, "patch", "communityhub", "pend", "--type=merge",
                       "-p", json.dumps({"spec": {"hub": {"adminUsers": ["alice", "dora"]}}}))

    def upgraded() -> dict | None:
        obj = hub(management, "pend", namespace)
        ready = condition(obj, "Ready")
        return obj if obj and obj["status"].get("observedGeneration") == 2 and ready and \
            ready["status"] == "True" else None
    after = wait_for(upgraded, timeout=120, what="generation 2 Ready after the pending release")
    assert "left pending by an interrupted run" in operator.log()
    status = subprocess.run([str(helm_bin), "--kubeconfig", str(management.kubeconfig), "status", release,
                             "-n", hub_namespace], capture_output=True, text=True, check=True).stdout
    assert "STATUS: deployed" in status
    assert after["status"]["release"]["revision"] > before["status"]["release"]["revision"]
