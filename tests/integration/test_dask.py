"""Daskhubs on the local control plane with the real charts: the provider installs the Dask Gateway CRDs and
controller once; each daskhub gets its own gateway (api and Traefik) in its namespace, reaches DaskReady, gives
its users the gateway's address, cannot see another daskhub's DaskClusters, and leaves nothing when deleted."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from communityhub.delivery import dask, names
from localcluster import charts
from tests.conftest import OperatorProcess
from tests.support.hubs import create_hub, hub_ns, ns, released_values, wait_ready
from tests.support.kube import Cluster, condition, wait_for

pytestmark = pytest.mark.integration

DASK = {"worker": {"cores": 1, "memory": "4Gi"}, "maxCoresPerCluster": 8, "maxMemoryPerCluster": "32Gi"}


@pytest.fixture(scope="module")
def controller(management: Cluster, helm_bin: Path) -> Iterator[None]:
    """What the provider installs once per cluster (docs/operations.md): the chart's CRDs and its controller."""
    subprocess.run([str(helm_bin), "--kubeconfig", str(management.kubeconfig),
                    *charts.dask_controller_args(charts.dask_gateway_chart())],
                   check=True, capture_output=True, text=True, timeout=400)
    yield
    subprocess.run([str(helm_bin), "--kubeconfig", str(management.kubeconfig), "uninstall", "dask-gateway",
                    "--namespace", "dask-gateway-system"], capture_output=True, text=True, timeout=300)


def can(management: Cluster, account: str, *args: str) -> bool:
    done = management.kubectl("auth", "can-i", *args, f"--as={account}", check=False)
    return done.stdout.strip() == "yes"


def test_two_daskhubs_each_get_their_own_gateway_and_cannot_see_each_others_clusters(
        management: Cluster, operator: OperatorProcess, controller: None) -> None:
    hubs = {"pangeo": ns("team-dask-a"), "cryo": ns("team-dask-b")}
    for name, namespace in hubs.items():
        create_hub(management, name, namespace, dask=DASK)
    ready = {name: wait_ready(management, name, namespace, timeout=300) for name, namespace in hubs.items()}
    derived = {name: names.derive(namespace, name) for name, namespace in hubs.items()}
    for name, obj in ready.items():
        cond = condition(obj, "DaskReady")
        assert cond is not None and cond["status"] == "True" and cond["reason"] == "DaskGatewayAvailable", cond
        hub_namespace = derived[name].namespace
        for deployment in dask.deployments(derived[name].dask_release):  # the gateway's api and Traefik
            found = management.get("deployment", deployment, hub_namespace)
            assert found is not None and found["status"].get("availableReplicas") == 1, deployment
        env = released_values(management, hub_namespace)["singleuser"]["extraEnv"]
        assert env["DASK_GATEWAY__ADDRESS"] == "http://proxy-public/services/dask-gateway"
        assert env["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
        assert obj["status"]["dask"]["release"] == derived[name].dask_release
    # One set of CRDs and one controller for both, the provider's.
    crd = management.get("crd", "daskclusters.gateway.dask.org")
    assert crd is not None  # from the provider's install (helm's crds/: no release owns it, no hub's release made it)
    assert "meta.helm.sh/release-name" not in (crd["metadata"].get("annotations") or {})
    controllers = management.get("deployments", namespace="dask-gateway-system")["items"]
    assert [d["metadata"]["name"] for d in controllers if d["metadata"]["name"].startswith("controller-")] == [
        "controller-dask-gateway"]
    # Each gateway's account reaches its own namespace's DaskClusters, never the other's, never cluster-wide.
    a, b = derived["pangeo"].namespace, derived["cryo"].namespace
    gateway_a = f"system:serviceaccount:{a}:{dask.GATEWAY_ACCOUNT}"
    traefik_a = f"system:serviceaccount:{a}:{dask.TRAEFIK_ACCOUNT}"
    assert can(management, gateway_a, "create", "daskclusters.gateway.dask.org", "-n", a)
    assert not can(management, gateway_a, "list", "daskclusters.gateway.dask.org", "-n", b)
    assert not can(management, gateway_a, "list", "daskclusters.gateway.dask.org", "--all-namespaces")
    assert not can(management, gateway_a, "get", "secrets", "-n", b)
    assert can(management, traefik_a, "list", "ingressroutes.traefik.io", "-n", a)
    assert not can(management, traefik_a, "list", "secrets", "-n", b)
    assert not can(management, f"system:serviceaccount:{b}:{dask.GATEWAY_ACCOUNT}", "delete",
                   "daskclusters.gateway.dask.org", "-n", a)
    # Nothing cluster-wide carries a hub's name.
    for kind in ("clusterroles", "clusterrolebindings"):
        found = [o["metadata"]["name"] for o in management.get(kind)["items"]]
        assert not [n for n in found if derived["pangeo"].dask_release in n or derived["cryo"].dask_release in n]

    # Turning Dask off removes the gateway and its Roles; DaskReady leaves the status.
    management.kubectl("patch", "communityhub", "cryo", "-n", hubs["cryo"], "--type=merge",
                       "-p", '{"spec": {"dask": {"enabled": false}}}')
    wait_for(lambda: management.get("deployment", dask.deployments(derived["cryo"].dask_release)[0], b) is None,
             timeout=120, what="the gateway to be uninstalled")
    obj = wait_ready(management, "cryo", hubs["cryo"])
    assert condition(obj, "DaskReady") is None and "dask" not in obj["status"]
    assert management.get("role", dask.GATEWAY_ACCOUNT, b) is None
    assert "DASK_GATEWAY__ADDRESS" not in (released_values(management, b)["singleuser"].get("extraEnv") or {})

    for name, namespace in hubs.items():
        management.kubectl("-n", namespace, "delete", "communityhub", name, "--timeout=180s")
        assert management.get("namespace", derived[name].namespace) is None
    assert management.get("crd", "daskclusters.gateway.dask.org") is not None, "the provider's CRDs stay"


def test_a_daskhub_on_a_cluster_without_the_controller_says_what_the_provider_installs(
        management: Cluster, workload: Cluster, operator: OperatorProcess) -> None:
    """The workload control plane (a shared cluster here) has no controller: DaskReady says so, the hub runs."""
    namespace = ns("team-dask-noctl")
    management.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                      "metadata": {"name": "shared-dask", "namespace": "communityhub-system",
                                   "labels": {"hubs.2i2c.org/shared-cluster": "dask-less"}},
                      "stringData": {"kubeconfig": workload.kubeconfig.read_text()}})
    try:
        create_hub(management, "noctl", namespace, placement={"type": "shared", "sharedCluster": "dask-less"},
                   dask=DASK)
        cond = wait_for(lambda: (c := condition(management.get("communityhub", "noctl", namespace), "DaskReady"))
                        and c["reason"] == "DaskControllerMissing" and c, timeout=240, what="DaskControllerMissing")
        assert "installs it once per cluster" in cond["message"]
        obj = management.get("communityhub", "noctl", namespace)
        assert condition(obj, "HubReady")["status"] == "True"  # type: ignore[index]
        assert condition(obj, "Ready")["reason"] == "DaskControllerMissing"  # type: ignore[index]
        management.kubectl("-n", namespace, "delete", "communityhub", "noctl", "--timeout=180s")
        assert workload.get("namespace", hub_ns("team-dask-noctl", "noctl")) is None
    finally:
        management.kubectl("-n", "communityhub-system", "delete", "secret", "shared-dask", "--ignore-not-found")
