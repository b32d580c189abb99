"""Four hubs of examples/fleet/ (modeled on real hubs) delivered with the real JupyterHub chart on the local
control plane, with their HubClass: a shared home on NFS with an admins-only directory (temple), image
choices with an unlisted image and image building on the class's build pool (imagebuilding-demo), catalog
node pools with bursting memory and named servers (jackeddy), egress a class opens to its tenants (ohw, as
the chart's NetworkPolicy), and a public Binder hub whose landing page is BinderHub's (pythia-binder).

The local plane's shared storage stands for Filestore: a StorageClass without a provisioner and hostPath
volumes that many pods may mount (kwok's pods mount nothing; the claim binding is what is shown)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from communityhub.delivery import binder
from tests.conftest import REPO, OperatorProcess
from tests.support.hubs import hub, onboard, released_values, wait_ready
from tests.support.kube import Cluster, build_node, condition, wait_for, wait_node_ready

pytestmark = pytest.mark.integration

FLEET = REPO / "examples" / "fleet"
DELIVERED = ("temple", "imagebuilding-demo", "jackeddy", "ohw", "pythia-binder")
CLASSES = {"pythia-binder": "eks-binder"}
NAMESPACES = {"ohw": "oceanhackweek"}
BUILD_NODE = "kwok-fleet-build-1"


def namespace(name: str) -> str:
    return NAMESPACES.get(name, name)


def shared_volumes(count: int, prefix: str = "fleet-share") -> list[dict[str, Any]]:
    """The class's `standard-rwx` StorageClass and ``count`` volumes of it, each a folder /tmp/<prefix>-<i>."""
    storage_class = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "standard-rwx"},
                     "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate"}
    volumes = [{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"{prefix}-{i}"},
                "spec": {"capacity": {"storage": "100Gi"}, "accessModes": ["ReadWriteMany"],
                         "storageClassName": "standard-rwx", "persistentVolumeReclaimPolicy": "Delete",
                         "hostPath": {"path": f"/tmp/{prefix}-{i}"}}} for i in range(count)]
    return [storage_class, *volumes]


@pytest.fixture(scope="module")
def fleet(management: Cluster, operator: OperatorProcess) -> Iterator[dict[str, dict[str, Any]]]:
    management.apply([*shared_volumes(len(DELIVERED)), build_node(BUILD_NODE)])
    wait_node_ready(management, BUILD_NODE)
    management.kubectl("apply", "-f", str(FLEET / "classes.yaml"))
    for name in DELIVERED:
        onboard(management, namespace(name))  # the operator may read the hub's OAuth client Secret there
        management.kubectl("apply", "-f", str(FLEET / f"{name}.yaml"))
    ready = {name: wait_ready(management, name, namespace(name), timeout=300) for name in DELIVERED}
    yield ready
    for name in DELIVERED:
        management.kubectl("delete", "namespace", namespace(name), "--wait=false", check=False)
    management.kubectl("delete", "-f", str(FLEET / "classes.yaml"), "--wait=false", check=False)
    management.kubectl("delete", "node", BUILD_NODE, "--ignore-not-found")
    management.kubectl("-n", "communityhub-system", "delete", "secret", "binder-registry-login", "--ignore-not-found")


def values_of(management: Cluster, ready: dict[str, dict[str, Any]], name: str) -> Any:
    return released_values(management, ready[name]["status"]["names"]["namespace"])


def test_each_runs_on_its_class(fleet: dict[str, dict[str, Any]]) -> None:
    for name, obj in fleet.items():
        assert obj["status"]["hubClass"]["name"] == CLASSES.get(name, "gke-shared"), name
        assert obj["status"]["release"]["chart"] == "jupyterhub-4.4.0"


def test_a_shared_home_is_one_claim_with_a_directory_per_user(management: Cluster,
                                                               fleet: dict[str, dict[str, Any]]) -> None:
    hub_namespace = fleet["temple"]["status"]["names"]["namespace"]
    claim = wait_for(lambda: (c := management.get("pvc", "home-nfs", hub_namespace))
                     and c["status"].get("phase") == "Bound" and c, timeout=60, what="home-nfs Bound")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"] and claim["spec"]["storageClassName"] == "standard-rwx"
    values = values_of(management, fleet, "temple")
    assert values["singleuser"]["storage"]["static"] == {"pvcName": "home-nfs", "subPath": "{escaped_username}"}
    assert values["singleuser"]["memory"] == {"guarantee": "512M", "limit": "2G"}
    assert "communityhub-shared-directories" in values["hub"]["extraConfig"]  # the admins' read-write directory
    assert values["hub"]["config"]["JupyterHub"]["template_vars"]["org"]["name"] == "Temple University JupyterHub"


def test_image_choices_reach_the_spawner(management: Cluster, fleet: dict[str, dict[str, Any]]) -> None:
    option = values_of(management, fleet, "imagebuilding-demo")["singleuser"]["profileList"][0]["profile_options"]
    assert sorted(option["image"]["choices"]) == ["pangeo-2023-09", "rocker-geospatial", "scipy-2023"]
    assert option["image"]["choices"]["rocker-geospatial"]["default"] is True
    assert option["image"]["unlisted_choice"]["enabled"] is True
    assert option["image"]["dynamic_image_building"] == {"enabled": True}


def test_image_building_runs_on_the_class_build_pool(management: Cluster, fleet: dict[str, dict[str, Any]]) -> None:
    obj = fleet["imagebuilding-demo"]
    cond = condition(obj, "BinderReady")
    assert cond is not None and cond["status"] == "True" and "hubs.2i2c.org/node-pool=build" in cond["message"], cond
    hub_namespace = obj["status"]["names"]["namespace"]
    assert obj["status"]["binder"]["imagePrefix"] == "quay.io/imagebuilding-gcp-hubs/imagebuilding-demo-" \
                                                     "imagebuilding-demo-"
    pods = management.get("pods", namespace=hub_namespace, selector="app.kubernetes.io/component=docker-api")
    assert [p["spec"]["nodeName"] for p in pods["items"]] == [BUILD_NODE]


def test_a_public_binder_hub_lands_on_binderhub_with_no_login(management: Cluster,
                                                               fleet: dict[str, dict[str, Any]]) -> None:
    """pythia-binder: Ready with its builder, nobody logs in, the hub's landing page is BinderHub's, whose page is on
    (not the API alone) and needs no login; the caps and culler are the hub's, within its class's bounds."""
    obj = fleet["pythia-binder"]
    assert condition(obj, "BinderReady")["status"] == "True"  # type: ignore[index]
    sso = condition(obj, "SSOReady")
    assert sso is not None and sso["status"] == "True" and "NullAuthenticator lets in nobody by login" in sso["message"]
    hub_namespace = obj["status"]["names"]["namespace"]
    values = released_values(management, hub_namespace)
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] == "null"
    assert values["hub"]["config"]["JupyterHub"]["default_url"] == "/services/binder/"
    assert values["hub"]["config"]["JupyterHub"]["active_server_limit"] == 100
    assert (values["cull"]["users"], values["cull"]["timeout"], values["cull"]["maxAge"]) == (True, 600, 21600)
    assert "communityhub-binder-spawner" in values["hub"]["extraConfig"]
    secret = management.get("secret", binder.builder(obj["status"]["binder"]["release"]), hub_namespace)
    builder = yaml.safe_load(base64.b64decode(secret["data"]["chart-config.yaml"]))["config"]["BinderHub"]
    assert (builder["enable_api_only_mode"], builder["auth_enabled"]) == (False, False)
    assert builder["image_prefix"] == "quay.io/imagebuilding-non-gcp-hubs/pythia-binder-pythia-binder-"


def test_catalog_pools_burst_and_named_servers(management: Cluster, fleet: dict[str, dict[str, Any]]) -> None:
    values = values_of(management, fleet, "jackeddy")
    assert values["hub"]["config"]["JupyterHub"]["allow_named_servers"] is True
    small = values["singleuser"]["profileList"][0]["kubespawner_override"]
    assert small["node_selector"] == {"node.kubernetes.io/instance-type": "n1-standard-2"}
    assert (small["mem_guarantee"], small["mem_limit"]) == ("4.5G", "7G")


def test_egress_the_class_opens_reaches_the_charts_network_policy(management: Cluster,
                                                                   fleet: dict[str, dict[str, Any]]) -> None:
    hub_namespace = fleet["ohw"]["status"]["names"]["namespace"]
    policy = management.get("networkpolicy", "singleuser", hub_namespace)
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports") or []}
    assert {8080, 22} <= ports
    assert hub(management, "ohw", "oceanhackweek")["status"]["hubClass"]["name"] == "gke-shared"
    assert yaml.safe_dump(values_of(management, fleet, "ohw")["singleuser"]["extraEnv"]).count("GH_SCOPED") == 2
