"""The local control plane is a real Kubernetes: scheduling, controllers, CRDs, GC, RBAC, helm."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from communityhub.adapters.helm import SKIP_INERT_VALIDATION
from localcluster import charts
from localcluster.controlplane import ControlPlane, _pid_alive
from tests.conftest import REPO
from tests.support.kube import Cluster, wait_for

pytestmark = pytest.mark.integration


def test_deployment_becomes_available_on_kwok_nodes(management: Cluster) -> None:
    management.kubectl("create", "namespace", "cp-deploy", check=False)
    management.kubectl("-n", "cp-deploy", "create", "deployment", "web", "--image=registry.example/web:1",
                       "--replicas=3")
    management.kubectl("-n", "cp-deploy", "rollout", "status", "deployment/web", "--timeout=90s")
    deploy = management.get("deployment", "web", "cp-deploy")
    assert deploy["status"]["availableReplicas"] == 3
    pods = management.get("pods", namespace="cp-deploy", selector="app=web")["items"]
    assert len(pods) == 3
    nodes = {n["metadata"]["name"]: n for n in management.get("nodes")["items"]}
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert nodes[pod["spec"]["nodeName"]]["metadata"]["labels"]["type"] == "kwok"


def test_fake_nodes_look_like_a_cloud_pool(management: Cluster) -> None:
    nodes = management.get("nodes", selector="type=kwok")["items"]
    pools = {n["metadata"]["labels"]["hubs.2i2c.org/node-pool"] for n in nodes}
    assert pools == {"core", "user"}
    for node in nodes:
        labels = node["metadata"]["labels"]
        assert labels["node.kubernetes.io/instance-type"].startswith("n2-")
        assert labels["topology.kubernetes.io/zone"].startswith(labels["topology.kubernetes.io/region"])
        assert node["status"]["allocatable"]["cpu"] == "3920m"
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.example"},
    "spec": {
        "group": "test.example", "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "versions": [{
            "name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                "status": {"type": "object", "properties": {"state": {"type": "string"}}}}}},
        }],
    },
}


def test_custom_resource_create_list_and_status_patch(management: Cluster) -> None:
    management.apply(CRD)
    management.kubectl("wait", "--for=condition=Established", "crd/widgets.test.example", "--timeout=60s")
    management.kubectl("create", "namespace", "cp-crd", check=False)
    management.apply({"apiVersion": "test.example/v1", "kind": "Widget",
                      "metadata": {"name": "w1", "namespace": "cp-crd"}, "spec": {"size": 3}})
    listed = management.get("widgets", namespace="cp-crd")["items"]
    assert [w["metadata"]["name"] for w in listed] == ["w1"]
    # Through the /status subresource: spec untouched, status set.
    management.kubectl("-n", "cp-crd", "patch", "widget", "w1", "--subresource=status", "--type=merge",
                       "-p", json.dumps({"status": {"state": "ok"}, "spec": {"size": 99}}))
    widget = management.get("widget", "w1", "cp-crd")
    assert widget["status"] == {"state": "ok"}
    assert widget["spec"] == {"size": 3}


def test_namespace_deletion_completes_and_owned_objects_are_collected(management: Cluster) -> None:
    management.kubectl("create", "namespace", "cp-gc")
    management.kubectl("-n", "cp-gc", "create", "configmap", "owner")
    owner_uid = management.get("configmap", "owner", "cp-gc")["metadata"]["uid"]
    management.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "owned", "namespace": "cp-gc",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}]}})
    management.kubectl("-n", "cp-gc", "delete", "configmap", "owner")
    wait_for(lambda: management.get("configmap", "owned", "cp-gc") is None, what="garbage collection of 'owned'")
    management.kubectl("delete", "namespace", "cp-gc", "--wait=false")
    wait_for(lambda: management.get("namespace", "cp-gc") is None, what="namespace cp-gc to be deleted")


def test_helm_upgrade_install_reaches_deployed(management: Cluster, helm_bin: Path) -> None:
    chart = REPO / "tests" / "charts" / "smoke"
    cmd = [str(helm_bin), "--kubeconfig", str(management.kubeconfig), "upgrade", "--install", "smoke", str(chart),
           "--namespace", "cp-helm", "--create-namespace", "--set", "greeting=hi", "--wait", "--timeout", "90s",
           "--output", "json"]
    release = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert release["info"]["status"] == "deployed"
    assert management.get("configmap", "smoke-greeting", "cp-helm")["data"] == {"greeting": "hi"}
    assert management.get("deployment", "smoke-web", "cp-helm")["status"]["availableReplicas"] == 1


def test_the_real_jupyterhub_chart_with_its_defaults_comes_up(
        management: Cluster, helm_bin: Path, hub_chart: charts.HubChart) -> None:
    """The upstream chart as users install it: its hub-db-dir claim is bound by the default StorageClass, its
    image-awaiter hook Job completes, and hub, proxy and user-scheduler become Available on kwok nodes. One
    value differs from the defaults: no load balancer exists here, and helm --wait waits for one."""
    cmd = [str(helm_bin), "--kubeconfig", str(management.kubeconfig), "upgrade", "--install", "plain",
           str(hub_chart.archive), "--namespace", "cp-jupyterhub", "--create-namespace", "--wait", "--timeout", "180s",
           "--set", "proxy.service.type=ClusterIP", "--output", "json"]
    release = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert release["info"]["status"] == "deployed" and release["chart"]["metadata"]["version"] == charts.VERSION
    assert management.get("pvc", "hub-db-dir", "cp-jupyterhub")["status"]["phase"] == "Bound"
    for deployment in ("hub", "proxy", "user-scheduler"):
        status = management.get("deployment", deployment, "cp-jupyterhub")["status"]
        assert status.get("availableReplicas", 0) >= 1, deployment
    subprocess.run([str(helm_bin), "--kubeconfig", str(management.kubeconfig), "uninstall", "plain", "--namespace",
                    "cp-jupyterhub", "--wait"], capture_output=True, check=True)
    management.kubectl("delete", "namespace", "cp-jupyterhub", "--wait=false")


def test_helms_openapi_validation_checks_nothing_the_operator_skips(
        management: Cluster, helm_bin: Path, hub_chart: charts.HubChart) -> None:
    """Why the operator passes SKIP_INERT_VALIDATION: with helm's OpenAPI validation on, a manifest field the server
    does not know is not refused by helm (the server supports field validation, so helm skips its own check) but
    only warned about by the server, exactly as with it off; and the chart's values schema still refuses a wrong
    value with the flag. If a helm upgrade makes its validation refuse the first release, this test fails."""
    def install(release: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Each release in a namespace of its own: the chart's object names are fixed."""
        return subprocess.run([str(helm_bin), "--kubeconfig", str(management.kubeconfig), "upgrade", "--install",
                               release, str(hub_chart.archive), "--namespace", f"cp-{release}", "--create-namespace",
                               "--output", "json", "--set", "proxy.service.type=ClusterIP", *args],
                              capture_output=True, text=True)

    unknown = "hub.extraPodSpec.bogusField=1"  # the chart passes extraPodSpec into the hub's pod spec as it is
    validated, skipped = install("checked", "--set", unknown), install("unchecked", "--set", unknown,
                                                                        SKIP_INERT_VALIDATION)
    for result in (validated, skipped):
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["info"]["status"] == "deployed"
        assert 'unknown field \\"spec.template.spec.bogusField\\"' in result.stderr  # the server's warning
    refused = install("refused", "--set-string", "hub.networkPolicy.enabled=maybe", SKIP_INERT_VALIDATION)
    assert refused.returncode != 0
    assert "at '/hub/networkPolicy/enabled': got string, want boolean" in refused.stderr
    for release in ("checked", "unchecked"):
        subprocess.run([str(helm_bin), "--kubeconfig", str(management.kubeconfig), "uninstall", release,
                        "--namespace", f"cp-{release}"], capture_output=True, check=True)
        management.kubectl("delete", "namespace", f"cp-{release}", "--wait=false")


def test_rbac_refuses_a_service_account_without_rights(management: Cluster) -> None:
    management.kubectl("create", "namespace", "cp-rbac", check=False)
    management.kubectl("-n", "cp-rbac", "create", "serviceaccount", "nobody", check=False)
    who = "system:serviceaccount:cp-rbac:nobody"
    result = management.kubectl("auth", "can-i", "list", "secrets", "-n", "cp-rbac", as_user=who, check=False)
    assert result.stdout.strip() == "no" and result.returncode == 1
    # ... and an actual request is refused with 403, not merely predicted to be.
    denied = management.kubectl("-n", "cp-rbac", "get", "secrets", as_user=who, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    # Granting the right flips the answer: RBAC is really being evaluated.
    management.kubectl("-n", "cp-rbac", "create", "rolebinding", "nobody-view", "--clusterrole=view",
                       "--serviceaccount=cp-rbac:nobody", check=False)
    allowed = management.kubectl("auth", "can-i", "list", "pods", "-n", "cp-rbac", as_user=who, check=False)
    assert allowed.stdout.strip() == "yes"


def test_two_control_planes_are_independent(management: Cluster, workload: Cluster) -> None:
    server = lambda c: json.loads(c.kubectl("config", "view", "--raw", "-o", "json").stdout)["clusters"][0][  # noqa: E731
        "cluster"]["server"]
    assert server(management) != server(workload)
    workload.kubectl("create", "namespace", "only-on-workload", check=False)
    assert workload.get("namespace", "only-on-workload") is not None
    assert management.get("namespace", "only-on-workload") is None
    zones = {n["metadata"]["labels"]["topology.kubernetes.io/region"] for n in workload.get("nodes")["items"]}
    assert zones == {"europe-west1"}


def test_cli_up_is_idempotent_and_down_stops_exactly_its_processes(management: Cluster) -> None:
    """`up` twice reuses the running plane and ends with the export line; after a component dies, `up` resumes it
    on its own data (seen failing when `up` wiped a stale plane); `down` kills only its own PIDs."""
    name = "test-lifecycle"
    env_cmd = [sys.executable, "-m", "localcluster"]
    first = subprocess.run([*env_cmd, "up", "--name", name], capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    plane = ControlPlane(name)
    assert first.stdout.strip().splitlines()[-1] == f"export KUBECONFIG={plane.kubeconfig}"
    state = json.loads(plane.state_file.read_text())
    pids = [(p["pid"], p["binary"]) for p in state["processes"]]
    assert len(pids) == 5 and all(_pid_alive(pid, binary) for pid, binary in pids)

    started = time.monotonic()
    second = subprocess.run([*env_cmd, "up", "--name", name], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert time.monotonic() - started < 15  # found running, not restarted
    assert json.loads(plane.state_file.read_text())["processes"] == state["processes"]

    # A component dies (a reboot, a kill): `up` resumes the plane on its own data instead of wiping it.
    scratch = Cluster(name, plane.kubeconfig, management.kubectl_bin, None)
    scratch.kubectl("create", "configmap", "kept", "--from-literal=answer=42")
    apiserver = next(p for p in state["processes"] if p["name"] == "kube-apiserver")
    os.kill(apiserver["pid"], signal.SIGKILL)
    wait_for(lambda: not _pid_alive(apiserver["pid"], apiserver["binary"]), what="kube-apiserver to die")
    assert not plane.running()
    third = subprocess.run([*env_cmd, "up", "--name", name], capture_output=True, text=True, timeout=180)
    assert third.returncode == 0, third.stderr
    resumed = json.loads(plane.state_file.read_text())["processes"]
    assert {p["pid"] for p in resumed}.isdisjoint(pid for pid, _ in pids)  # every component started again
    assert scratch.get("configmap", "kept", "default")["data"] == {"answer": "42"}
    pids = [(p["pid"], p["binary"]) for p in resumed]

    down = subprocess.run([*env_cmd, "down", "--name", name], capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert not any(_pid_alive(pid, binary) for pid, binary in pids)
    assert not plane.dir.exists()
    # The other control planes were not touched.
    assert management.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
