"""The operator's account holds the rights it uses and no others: `kubectl auth can-i` as its ServiceAccount,
and server-side dry runs against the admission policy that confines it to the hub namespaces it made."""

from __future__ import annotations

import json
import tarfile

import pytest

from localcluster import charts
from tests.conftest import OPERATOR_NAMESPACE, OPERATOR_USER, OperatorProcess
from tests.support import gateway_api
from tests.support.hubs import create_hub, ns, wait_ready
from tests.support.kube import Cluster

pytestmark = pytest.mark.integration


def can(cluster: Cluster, *args: str) -> bool:
    result = cluster.kubectl("auth", "can-i", *args, as_user=OPERATOR_USER, check=False)
    return result.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def hub_namespace(management: Cluster, operator: OperatorProcess) -> str:
    create_hub(management, "rbac", ns("team-rbac"))
    obj = wait_ready(management, "rbac", ns("team-rbac"), timeout=120)
    return str(obj["status"]["names"]["namespace"])


def test_the_operator_can_do_what_it_needs(management: Cluster, hub_namespace: str) -> None:
    # can-i answers no for a kind the API server does not serve: the kinds a cluster with a Gateway controller and
    # the provider's Dask Gateway install serve (Gateway API's HTTPRoute; the Dask chart's own CRDs, Traefik's).
    gateway_api.install(management)
    with tarfile.open(charts.dask_gateway_chart()) as chart:
        crds = [chart.extractfile(m).read().decode() for m in chart.getmembers()  # type: ignore[union-attr]
                if m.name.startswith("dask-gateway/crds/") and m.name.endswith(".yaml")]
    management.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input="\n---\n".join(crds))
    for crd in ("daskclusters.gateway.dask.org", "ingressroutes.traefik.io"):
        gateway_api.established(management, crd)
    tenant = ns("team-rbac")
    needed = [
        ("patch", "communityhubs.hubs.2i2c.org", "-n", tenant),
        ("patch", "communityhubs.hubs.2i2c.org", "--subresource=status", "-n", tenant),
        ("create", "events", "-n", tenant),
        ("get", "secrets", "-n", tenant),  # an onboarded tenant namespace
        ("create", "namespaces"),
        ("list", "deployments.apps", "--all-namespaces"),
        ("list", "pods", "--all-namespaces"),
        ("list", "nodes"),
        ("create", "rolebindings", "-n", "hub-anything"),
        ("bind", "clusterroles/communityhub-operator-hub"),
        ("create", "secrets", "-n", OPERATOR_NAMESPACE),
        ("watch", "secrets", "-n", OPERATOR_NAMESPACE),
        ("create", "leases.coordination.k8s.io", "-n", OPERATOR_NAMESPACE),
        # In a hub namespace, through the RoleBinding the operator made there: what the chart creates.
        *[(verb, kind, "-n", hub_namespace) for verb in ("create", "delete") for kind in (
            "deployments.apps", "secrets", "services", "networkpolicies.networking.k8s.io", "roles",
            "rolebindings", "persistentvolumeclaims", "poddisruptionbudgets.policy", "ingresses.networking.k8s.io",
            "httproutes.gateway.networking.k8s.io")],
        ("list", "events", "-n", hub_namespace),
        # A daskhub's gateway: its DaskClusters and Traefik routes, and what its ServiceAccounts' Roles grant.
        *[(verb, kind, "-n", hub_namespace) for verb in ("create", "delete", "watch") for kind in (
            "daskclusters.gateway.dask.org", "ingressroutes.traefik.io", "middlewares.traefik.io")],
        ("list", "endpointslices.discovery.k8s.io", "-n", hub_namespace),
        ("patch", "persistentvolumes"),  # decommissioning retains a hub's volumes
        # A home server's volume of the hub's homes (the admission policy allows no other kind).
        ("create", "persistentvolumes"), ("delete", "persistentvolumes"),
        ("get", "services/proxy", "-n", hub_namespace),  # a home server's exporters
        ("get", "pods", "--subresource=log", "-n", hub_namespace),  # what a builder's Role grants
        ("create", "daemonsets.apps", "-n", hub_namespace),  # a builder's docker API
        ("list", "persistentvolumeclaims", "--all-namespaces"),  # metering prices the hubs' claims
        # A shared hub's namespace quota and default requests, the operator's to set.
        *[(verb, kind, "-n", hub_namespace) for verb in ("create", "patch") for kind in ("resourcequotas",
                                                                                         "limitranges")],
        ("create", "configmaps", "-n", OPERATOR_NAMESPACE),  # the hubs' claims on their domains
        # A short-lived token of Terraform's state account for each run (never its own for Terraform).
        ("create", "serviceaccounts/communityhub-terraform-state", "--subresource=token", "-n", OPERATOR_NAMESPACE),
        ("watch", "hubclasses.hubs.2i2c.org"),  # the provider's platform layer, read only
    ]
    missing = [" ".join(args) for args in needed if not can(management, *args)]
    assert missing == []


def test_the_operator_cannot_do_what_it_does_not_need(management: Cluster, hub_namespace: str) -> None:
    forbidden = [
        ("get", "secrets", "-n", "kube-system"),
        ("patch", "hubclasses.hubs.2i2c.org"),  # never writes the provider's classes
        ("create", "communityhubs.hubs.2i2c.org", "-n", "default"),
        ("get", "secrets", "-n", "default"),  # not a tenant namespace
        ("list", "secrets", "--all-namespaces"),
        ("bind", "clusterroles/cluster-admin"),
        ("escalate", "clusterroles"),
        ("create", "clusterrolebindings"),
        ("create", "clusterroles"),
        ("delete", "nodes"),
        ("create", "pods", "-n", "kube-system"),
        ("create", "deployments.apps", "-n", "default"),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
        ("update", "communityhubs.hubs.2i2c.org", "-n", "default"),
        ("create", "secrets", "-n", ns("team-rbac")),  # tenant namespaces: read only
        ("impersonate", "users"),
        ("get", "services/proxy", "-n", "kube-system"),
        # Dask Gateway: one hub's, never another namespace's; its CRDs and controller are the provider's.
        ("create", "daskclusters.gateway.dask.org", "-n", "default"),
        ("list", "daskclusters.gateway.dask.org", "--all-namespaces"),
        ("create", "ingressroutes.traefik.io", "-n", "default"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "resourcequotas", "-n", "default"),  # quotas in the hub namespaces it made only
        ("delete", "resourcequotas", "-n", hub_namespace),
        ("create", "serviceaccounts/default", "--subresource=token", "-n", OPERATOR_NAMESPACE),
    ]
    granted = [" ".join(args) for args in forbidden if can(management, *args)]
    assert granted == []


def test_a_hub_cannot_lift_its_own_quota(management: Cluster, hub_namespace: str) -> None:
    """The hub pod's ServiceAccount (KubeSpawner's) makes pods and claims in its namespace, and cannot change the
    quota that bounds them (issue 29, finding 6)."""
    hub = f"system:serviceaccount:{hub_namespace}:hub"
    def hub_can(*args: str) -> bool:
        return management.kubectl("auth", "can-i", *args, "-n", hub_namespace, as_user=hub,
                                  check=False).stdout.strip() == "yes"
    assert hub_can("create", "pods") and hub_can("create", "persistentvolumeclaims")
    for verb in ("create", "patch", "update", "delete"):
        for kind in ("resourcequotas", "limitranges"):
            assert not hub_can(verb, kind), f"the hub can {verb} {kind}"


def test_namespace_and_binding_writes_are_confined_to_its_hub_namespaces(
        management: Cluster, hub_namespace: str) -> None:
    """RBAC cannot scope by label: the admission policy does, on the real request (server-side dry run)."""
    management.kubectl("create", "namespace", "rbac-victim", check=False)  # a tenant's, say
    attempts = {
        "delete a namespace it did not make": ("delete", "namespace", "rbac-victim", "--dry-run=server"),
        "label one": ("label", "namespace", "kube-system", "x=y", "--dry-run=server"),
        "bind its hub role in kube-system": (
            "-n", "kube-system", "create", "rolebinding", "grab", "--clusterrole=communityhub-operator-hub",
            f"--serviceaccount={OPERATOR_NAMESPACE}:communityhub-operator", "--dry-run=server"),
        "create a namespace that is not a hub's": ("create", "namespace", "not-a-hub", "--dry-run=server"),
    }
    for what, args in attempts.items():
        result = management.kubectl(*args, as_user=OPERATOR_USER, check=False)
        assert result.returncode != 0, f"the operator could {what}"
        assert "may only change hub namespaces it made" in result.stderr, (what, result.stderr)
    allowed = management.kubectl("delete", "namespace", hub_namespace, "--dry-run=server", as_user=OPERATOR_USER,
                                 check=False)
    assert allowed.returncode == 0, allowed.stderr


def test_a_hub_namespace_is_privileged_only_where_it_builds(management: Cluster, hub_namespace: str) -> None:
    """The operator sets its hub namespaces' Pod Security; the scope policy lets it be privileged only with the
    builds label, under which the communityhub-builds policy applies (server-side dry runs)."""
    def relabel(*labels: str) -> str:
        result = management.kubectl("label", "namespace", hub_namespace, "--overwrite", *labels, "--dry-run=server",
                                    as_user=OPERATOR_USER, check=False)
        return "" if result.returncode == 0 else result.stderr
    refused = relabel("pod-security.kubernetes.io/enforce=privileged")
    assert "enforces Pod Security baseline" in refused, refused
    refused = relabel("pod-security.kubernetes.io/enforce-")
    assert "enforces Pod Security baseline" in refused, refused
    assert relabel("pod-security.kubernetes.io/enforce=privileged", "hubs.2i2c.org/builds=true") == ""
    assert relabel("pod-security.kubernetes.io/enforce=restricted") == ""


def test_volume_writes_are_confined_to_home_volumes(management: Cluster, hub_namespace: str) -> None:
    """PersistentVolumes reach a node's disks or a cloud's: the operator may make only a hub's NFS home volume (for
    a claim in a hub namespace, marked as the hub's) or a home server's cloud disk (server-side dry runs)."""
    def volume(name: str, source: dict[str, object], claim_namespace: str, owner: bool) -> str:
        return json.dumps({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {
            "name": name, "annotations": {"hubs.2i2c.org/owner": "team/x"} if owner else {}},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"], **source,
                     "claimRef": {"namespace": claim_namespace, "name": "home-nfs"}}})

    nfs = {"nfs": {"server": "10.0.0.1", "path": "/homes"}}
    refused = {
        "a hostPath volume": volume("grab-host", {"hostPath": {"path": "/"}}, hub_namespace, True),
        "an NFS volume for a claim outside the hub namespaces": volume("grab-claim", nfs, "default", True),
        "an NFS volume not marked as a hub's": volume("grab-unmarked", nfs, hub_namespace, False),
        "a cloud disk not a home server's": volume("grab-disk", {"csi": {"driver": "pd.csi.storage.gke.io",
                                                                         "volumeHandle": "d"}}, hub_namespace, True),
    }
    for what, manifest in refused.items():
        result = management.kubectl("create", "--dry-run=server", "-f", "-", as_user=OPERATOR_USER, check=False,
                                    input=manifest)
        assert result.returncode != 0, f"the operator could make {what}"
        assert "may only make or delete a hub's home volume" in result.stderr, (what, result.stderr)
    allowed = management.kubectl("create", "--dry-run=server", "-f", "-", as_user=OPERATOR_USER, check=False,
                                 input=volume("rbac-homes", nfs, hub_namespace, True))
    assert allowed.returncode == 0, allowed.stderr
