"""What ``hubctl import`` wrote for the real fleet (``examples/fleet/imported/``) applies and is delivered: a
sample of three imported hubs, each with its HubClass, reaches Ready on the local control plane with the real
JupyterHub chart, and the release carries what the import typed (issue 31).

The sample: 2i2c/mtu (CILogon, a shared home, branding at the wrapper's ``custom.homepage.templateVars``),
temple/research (GitHub teams, profiles for groups, a GPU pool, no memory limit where the tier allows it) and
reflective/staging (image choices and sizes inside one profile). What this test changes in the written
manifests is only what the import leaves for the provider to fill: the cluster (``local``), the shared
StorageClass (the plane's stand-in for Filestore/EFS), and the OAuth client's placeholder values; and for a hub
that builds images (temple/research), what its move steps name: the registry login's Secret and the hub's build
nodes (kwok nodes with the class's pool labels, the hub's name in them, and its taint).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from communityhub.migration import importer
from tests.conftest import OPERATOR_NAMESPACE, REPO, OperatorProcess
from tests.integration.test_fleet_examples import shared_volumes
from tests.support.hubs import onboard, released_values, wait_ready
from tests.support.kube import Cluster, build_node, wait_node_ready

pytestmark = pytest.mark.integration

IMPORTED = REPO / "examples" / "fleet" / "imported"
#: (file, the namespace the test gives it: the fleet's own namespaces repeat across clusters).
SAMPLE = {"2i2c-mtu": "imported-mtu", "temple-research": "imported-temple-research",
          "reflective-staging": "imported-reflective-staging"}


def _filled(name: str, namespace: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The hub's HubClass and its documents, with what the import leaves to the provider filled in."""
    docs = [d for d in yaml.safe_load_all((IMPORTED / f"{name}.yaml").read_text()) if d]
    hub = next(d for d in docs if d["kind"] == "CommunityHub")
    hub_class = yaml.safe_load((IMPORTED / f"class-{hub['spec']['hubClassName']}.yaml").read_text())
    hub_class["spec"]["sharedStorage"]["storageClassName"] = "standard-rwx"
    home_server = hub_class["spec"]["sharedStorage"].get("homeServer")
    out = []
    for doc in docs:
        if doc["kind"] == "Namespace":
            continue
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "Secret":
            doc["stringData"] = {"client_id": f"{name}-id", "client_secret": f"{name}-secret"}
        if doc["kind"] == "CommunityHub":
            doc["spec"]["placement"]["sharedCluster"] = "local"
            if home_server and doc["spec"]["placement"].get("homeDisk") == "FILL-ME":
                # The import could not keep the hub's disk (another hub's too): the provider gives it one.
                doc["spec"]["placement"]["homeDisk"] = f"vol-{namespace}"
        out.append(doc)
    return hub_class, out


@pytest.fixture(scope="module")
def imported(management: Cluster, operator: OperatorProcess) -> Iterator[dict[str, dict[str, Any]]]:
    if not IMPORTED.is_dir():
        pytest.fail("examples/fleet/imported is missing: run `make fleet-import`", pytrace=False)
    management.apply(shared_volumes(2))
    ready: dict[str, dict[str, Any]] = {}
    classes, nodes = [], []
    for name, namespace in SAMPLE.items():
        hub_class, docs = _filled(name, namespace)
        classes.append(hub_class["metadata"]["name"])
        onboard(management, namespace)
        builds = hub_class["spec"].get("binder")
        hub_doc = next(d for d in docs if d["kind"] == "CommunityHub")
        if builds and "binder" in hub_doc["spec"]:
            nodes.append(_build_nodes(management, builds, hub_doc["metadata"]["name"]))
        management.apply([hub_class, *docs])
    for name, namespace in SAMPLE.items():
        hub_name = next(d for d in _filled(name, namespace)[1] if d["kind"] == "CommunityHub")["metadata"]["name"]
        ready[name] = wait_ready(management, hub_name, namespace, timeout=300)
    yield ready
    for namespace in SAMPLE.values():
        management.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    for name in classes:
        management.kubectl("delete", "hubclass", name, "--wait=false", check=False)
    management.kubectl("delete", "node", *nodes, "--ignore-not-found", check=False)
    management.kubectl("-n", OPERATOR_NAMESPACE, "delete", "secret", importer.BINDER_LOGIN, "--ignore-not-found")


def _build_nodes(management: Cluster, builds: dict[str, Any], hub_name: str) -> str:
    """What the move steps ask of the provider for a hub that builds: the registry login, and the hub's build
    node (the class's pool labels with the hub's name, its taint)."""
    management.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                      "metadata": {"name": builds["registry"]["credentialsSecret"], "namespace": OPERATOR_NAMESPACE},
                      "stringData": {"username": "robot", "password": "imported-registry-password"}})
    node = build_node(f"kwok-imported-build-{hub_name}")
    node["metadata"]["labels"].update({k: v.replace("{hub.name}", hub_name)
                                       for k, v in builds["buildPool"]["nodeSelector"].items()})
    key, _, value = builds["buildPool"]["taint"].partition("=")
    node["spec"]["taints"] = [{"key": key, "value": value, "effect": "NoSchedule"}]
    management.apply(node)
    wait_node_ready(management, node["metadata"]["name"])
    return str(node["metadata"]["name"])


def _values(management: Cluster, ready: dict[str, dict[str, Any]], name: str) -> Any:
    return released_values(management, ready[name]["status"]["names"]["namespace"])


def test_each_imported_hub_is_delivered_on_its_own_class(imported: dict[str, dict[str, Any]]) -> None:
    for name, obj in imported.items():
        assert obj["status"]["hubClass"]["name"] == obj["spec"]["hubClassName"], name
        assert obj["status"]["release"]["chart"] == "jupyterhub-4.4.0"


def test_the_release_carries_what_the_import_typed(management: Cluster, imported: dict[str, dict[str, Any]]) -> None:
    mtu = _values(management, imported, "2i2c-mtu")
    assert mtu["singleuser"]["storage"]["static"] == {"pvcName": "home-nfs", "subPath": "{escaped_username}"}
    assert mtu["custom"]["homepage"]["templateVars"]["org"]["name"] == "Michigan Technological University"
    idps = mtu["hub"]["config"]["CILogonOAuthenticator"]["allowed_idps"]
    assert idps["https://sso.mtu.edu/idp/shibboleth"]["default"] is True
    # The class's keyed mounts stay beside the operator's: /dev/shm and the rstudio home.
    assert {"/dev/shm", "/home/rstudio"} <= {m["mountPath"] for m in
                                             mtu["singleuser"]["storage"]["extraVolumeMounts"].values()}
    research = _values(management, imported, "temple-research")
    # Its builder, as the import typed it: BinderReady on its own build node, the spawn form's build choice.
    research_hub = imported["temple-research"]
    cond = next(c for c in research_hub["status"]["conditions"] if c["type"] == "BinderReady")
    assert cond["status"] == "True", cond
    assert research_hub["status"]["binder"]["imagePrefix"] == "quay.io/imagebuilding-non-gcp-hubs/temple-research-"
    assert any((p.get("profile_options") or {}).get("image", {}).get("dynamic_image_building") == {"enabled": True}
               for p in research["singleuser"]["profileList"])
    gpu = next(p for p in research["singleuser"]["profileList"] if "extra_resource_limits" in p["kubespawner_override"])
    assert gpu["kubespawner_override"]["mem_limit"] is None  # no limit, as the fleet's GPU profile has none
    assert gpu["communityhub_allowed_groups"]
    reflective = _values(management, imported, "reflective-staging")
    options = reflective["singleuser"]["profileList"][0]["profile_options"]
    assert options["resources"]["display_name"] == "Resource Allocation" and len(options["resources"]["choices"]) >= 4
    assert options["image"]["display_name"] == "Environment"
    assert reflective["singleuser"]["extraEnv"]["SCRATCH_BUCKET"].startswith("s3://reflective-scratch-staging/")


def test_the_users_cloud_identity_is_the_service_account_the_class_names(
        management: Cluster, imported: dict[str, dict[str, Any]]) -> None:
    """The class's identity rule, with mtu's name filled in, on the ServiceAccount the operator made in the hub's
    namespace, which the users' servers run as."""
    hub_namespace = imported["2i2c-mtu"]["status"]["names"]["namespace"]
    account = management.get("serviceaccount", "user", hub_namespace)
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == \
        "2i2c-mtu@two-eye-two-see.iam.gserviceaccount.com"
    assert _values(management, imported, "2i2c-mtu")["singleuser"]["serviceAccountName"] == "user"

