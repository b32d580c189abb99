"""Per-user home quotas on the local control plane (issue 32): a sharedNFS hub on a class with a home server gets a
release of the real jupyterhub-home-nfs chart in its namespace, configured with the spec's quotas, and its home
claim bound to that server's export; the same hub on a class without one is told quotas are not available there;
deleting the hub removes the server and its volume."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import OperatorProcess
from tests.support.hubs import create_hub, hub_manifest, ns, released_values, wait_condition, wait_ready
from tests.support.kube import Cluster

pytestmark = pytest.mark.integration

CLASS = "homes-quota"
PLAIN_CLASS = "homes-filestore"
USERS = ["ada@uni.edu", "bob"]


def _class(name: str, home_server: dict[str, Any] | None) -> dict[str, Any]:
    shared: dict[str, Any] = {"storageClassName": "standard", "size": "50Gi"}
    if home_server is not None:
        shared["homeServer"] = home_server
    return {"apiVersion": "hubs.2i2c.org/v1alpha1", "kind": "HubClass", "metadata": {"name": name},
            "spec": {"sharedStorage": shared}}


def _storage(quota: dict[str, Any]) -> dict[str, Any]:
    return {"type": "sharedNFS", "homeDirectory": "escapedUsername", "quota": quota}


QUOTA = {"perUser": "5Gi", "exceptions": [{"users": ["ada@uni.edu"], "size": "20Gi"},
                                          {"users": ["bob"], "unlimited": True}]}


@pytest.fixture(scope="module")
def quota_hub(management: Cluster, operator: OperatorProcess) -> Iterator[dict[str, Any]]:
    management.apply([
        _class(CLASS, {"shareDirectory": "{hub.name}", "maxQuota": "50Gi", "unlimited": True,
                       "values": {"nfsServer": {"resources": {"requests": {"cpu": "20m"}}}}}),
        _class(PLAIN_CLASS, None)])
    environment = {"image": "quay.io/jupyter/base-notebook:2024-01-15", "storage": _storage(QUOTA)}
    create_hub(management, "quota", ns("team-quota"), hubClassName=CLASS, environment=environment)
    yield wait_ready(management, "quota", ns("team-quota"), timeout=240)


def _helm(helm_bin: Path, management: Cluster, *args: str) -> Any:
    out = subprocess.run([str(helm_bin), "--kubeconfig", str(management.kubeconfig), *args, "-o", "json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_the_home_server_runs_the_specs_quotas(management: Cluster, helm_bin: Path,
                                               quota_hub: dict[str, Any]) -> None:
    namespace = quota_hub["status"]["names"]["namespace"]
    homes = quota_hub["status"]["homes"]
    releases = {r["name"]: r for r in _helm(helm_bin, management, "list", "-n", namespace)}
    assert releases[homes["release"]]["status"] == "deployed"
    assert releases[homes["release"]]["chart"].startswith("jupyterhub-home-nfs-")
    # The quota enforcer's config, as the chart hands it to the enforcer (its Secret), not as the operator wrote it.
    secret = management.get("secret", "home-quota-home-nfs", namespace)
    config = yaml.safe_load(base64.b64decode(secret["data"]["chart-config.yaml"]))["config"]["QuotaManager"]
    share = f"/export/{quota_hub['metadata']['name']}"
    assert config["paths"] == [share] and config["projid_file"] == f"{share}/.projid"
    assert config["hard_quota"] == 5
    # Keyed by the home directory's name: KubeSpawner's escaped username, as the hub's homes are named.
    assert config["quota_overrides"] == {"ada-40uni-2eedu": 20}
    assert config["exclude"] == ["bob"]
    # The server's own disk: a claim of the class's size and StorageClass.
    disk = management.get("pvc", "home-quota-home-nfs", namespace)
    assert disk["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert disk["spec"]["storageClassName"] == "standard"


def test_the_hubs_home_claim_is_the_servers_export(management: Cluster, quota_hub: dict[str, Any]) -> None:
    namespace = quota_hub["status"]["names"]["namespace"]
    service = management.get("service", "home-quota-home-nfs", namespace)
    claim = management.get("pvc", "home-nfs", namespace)
    volume = management.get("pv", claim["spec"]["volumeName"], None)
    assert volume["spec"]["nfs"] == {"server": service["spec"]["clusterIP"],
                                     "path": f"/{quota_hub['metadata']['name']}"}
    assert volume["spec"]["claimRef"]["namespace"] == namespace and volume["spec"]["claimRef"]["name"] == "home-nfs"
    assert volume["metadata"]["annotations"]["hubs.2i2c.org/owner"] == f"{ns('team-quota')}/quota"
    assert claim["status"]["phase"] == "Bound"
    # The JupyterHub chart mounts that claim, at the escaped name the quotas are keyed by.
    storage = released_values(management, namespace)["singleuser"]["storage"]
    assert storage["static"] == {"pvcName": "home-nfs", "subPath": "{escaped_username}"}


def test_hubctl_homes_shows_the_hubs_home_server(management: Cluster, quota_hub: dict[str, Any]) -> None:
    """What the provider reads: the hub with its home server; kwok's server has no exporter answering, so its
    HomeStorage says the disk has not been measured (never a guess)."""
    done = subprocess.run([sys.executable, "-m", "communityhub.cli.hubctl", "homes", "--all", "-n", ns("team-quota"),
                           "-o", "json"], capture_output=True, text=True, timeout=60,
                          env={"KUBECONFIG": str(management.kubeconfig), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    (row,) = [r for r in json.loads(done.stdout) if r["hub"] == f"{ns('team-quota')}/quota"]
    assert row["storage"] == "Unknown DiskUnmeasured" and row["homes"] is None


def test_a_class_without_a_home_server_says_quotas_are_not_available(
        management: Cluster, quota_hub: dict[str, Any]) -> None:
    environment = {"image": "quay.io/jupyter/base-notebook:2024-01-15", "storage": _storage({"perUser": "5Gi"})}
    create_hub(management, "filestore", ns("team-quota"), hubClassName=PLAIN_CLASS, environment=environment)
    condition = wait_condition(management, "filestore", ns("team-quota"), "EnvironmentReady", "False",
                               timeout=120)
    assert condition["reason"] == "HomeQuotaUnavailable"
    assert "no per-user quotas" in condition["message"]


def test_a_quota_needs_a_shared_home(management: Cluster, operator: OperatorProcess) -> None:
    """Refused at kubectl apply (CEL), where the tenant sees it."""
    hub = hub_manifest("quota-volume", ns("team-quota"), environment={
        "image": "quay.io/jupyter/base-notebook:2024-01-15",
        "storage": {"type": "perUserVolume", "quota": {"perUser": "5Gi"}}})
    result = management.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(hub), check=False)
    assert result.returncode != 0 and "a home quota needs type sharedNFS" in result.stderr, result.stderr


def test_deleting_the_hub_removes_its_server_and_volume(management: Cluster, quota_hub: dict[str, Any]) -> None:
    namespace = quota_hub["status"]["names"]["namespace"]
    volume = quota_hub["status"]["homes"]["volume"]
    management.kubectl("-n", ns("team-quota"), "delete", "communityhub", "quota", "--timeout=180s")
    assert management.kubectl("get", "pv", volume, check=False).returncode != 0
    assert management.kubectl("get", "namespace", namespace, check=False).returncode != 0 or \
        management.get("namespace", namespace, None)["status"]["phase"] == "Terminating"


def test_a_pre_made_disk_is_one_hubs_homes(management: Cluster, operator: OperatorProcess) -> None:
    """The chart's volume of the hub's disk is made (by helm, as the operator: its admission policy allows that
    volume), and a second hub naming the same disk is refused: one server would export the other's homes."""
    management.apply(_class("homes-disk", {"values": {"gke": {"enabled": True}}}))
    disk = f"projects/p/zones/z/disks/homes-{ns('x')}"
    environment = {"image": "quay.io/jupyter/base-notebook:2024-01-15", "storage": _storage({"perUser": "5Gi"})}
    placement = {**hub_manifest("x", "y")["spec"]["placement"], "homeDisk": disk}
    create_hub(management, "disk-a", ns("team-disk"), hubClassName="homes-disk", environment=environment,
               placement=placement)
    first = wait_ready(management, "disk-a", ns("team-disk"), timeout=240)
    release = first["status"]["homes"]["release"]
    volume = management.get("pv", f"{release}-home-quota-home-nfs", None)
    assert volume["spec"]["csi"] == {"driver": "pd.csi.storage.gke.io", "fsType": "xfs", "volumeHandle": disk}
    create_hub(management, "disk-b", ns("team-disk"), hubClassName="homes-disk", environment=environment,
               placement=placement)
    refused = wait_condition(management, "disk-b", ns("team-disk"), "HubReady", "False", reason="HomeDiskTaken",
                             timeout=120)
    assert disk in refused["message"] and ns("team-disk") in refused["message"]
