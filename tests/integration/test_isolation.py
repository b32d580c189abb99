"""No hub can reach another hub's objects through its name, and names that can never deploy are refused."""

from __future__ import annotations

import pytest
import yaml

from communityhub.delivery import names
from tests.conftest import OperatorProcess
from tests.support.hubs import RUN, create_hub, hub, hub_manifest, wait_condition, wait_ready
from tests.support.kube import Cluster

pytestmark = pytest.mark.integration


def test_hubs_whose_names_joined_the_same_way_stay_apart(management: Cluster, operator: OperatorProcess) -> None:
    """(iso-R-x, lab) and (iso-R, x-lab) both mapped to hub-iso-R-x-lab: the second overwrote the first's
    Secrets, and deleting it deleted the first hub's namespace."""
    first, second = (f"iso-{RUN}-x", "lab"), (f"iso-{RUN}", "x-lab")
    for namespace, name in (first, second):
        create_hub(management, name, namespace)
    a = wait_ready(management, first[1], first[0], timeout=120)
    b = wait_ready(management, second[1], second[0], timeout=120)
    assert a["status"]["names"]["namespace"] != b["status"]["names"]["namespace"]
    assert a["status"]["names"] == names.derive(*first).to_status()
    for obj, (namespace, name) in ((a, first), (b, second)):
        hub_namespace = obj["status"]["names"]["namespace"]
        assert management.get("namespace", hub_namespace)["metadata"]["annotations"][names.OWNER] == \
            f"{namespace}/{name}"
        assert management.get("deployment", "hub", hub_namespace)["metadata"]["labels"]["release"] == \
            obj["status"]["names"]["release"]

    management.kubectl("-n", second[0], "delete", "communityhub", second[1], "--timeout=120s")
    assert management.get("namespace", a["status"]["names"]["namespace"])["status"]["phase"] == "Active"
    after = hub(management, first[1], first[0])
    ready = next(c for c in after["status"]["conditions"] if c["type"] == "Ready")  # type: ignore[index]
    assert ready["status"] == "True"


def test_a_namespace_the_hub_does_not_own_is_neither_used_nor_deleted(
        management: Cluster, operator: OperatorProcess) -> None:
    namespace, name = f"iso-{RUN}-squat", "lab"
    taken = names.derive(namespace, name).namespace
    management.kubectl("create", "namespace", taken)  # made by somebody else, before the hub
    management.kubectl("label", "namespace", taken, "team=data")
    create_hub(management, name, namespace)
    conflict = wait_condition(management, name, namespace, "HubReady", "False", "NameConflict", timeout=90)
    assert taken in conflict["message"] and "was not made for CommunityHub" in conflict["message"]
    labels = management.get("namespace", taken)["metadata"]["labels"]
    assert names.OWNER not in (management.get("namespace", taken)["metadata"].get("annotations") or {})
    assert "hubs.2i2c.org/hub" not in labels, "the operator wrote into a namespace it does not own"
    assert management.get("deployment", "hub", taken) is None

    management.kubectl("-n", namespace, "delete", "communityhub", name, "--timeout=120s")
    assert management.get("namespace", taken)["status"]["phase"] == "Active", "a stranger's namespace was deleted"
    management.kubectl("delete", "namespace", taken, "--wait=false")


@pytest.mark.parametrize(("name", "expected"), [
    ("h" * 54, "metadata.name must be at most 53 characters"),
    ("my.hub", "metadata.name must not contain dots"),
])
def test_names_that_can_never_deploy_are_refused_at_admission(
        management: Cluster, crd: object, name: str, expected: str) -> None:
    namespace = f"iso-{RUN}-admission"
    management.kubectl("create", "namespace", namespace, check=False)
    result = management.kubectl("apply", "-f", "-", input=yaml.safe_dump(hub_manifest(name, namespace)), check=False)
    assert result.returncode != 0 and expected in result.stderr, result.stderr
    assert management.get("communityhub", name, namespace) is None


def test_values_the_operator_owns_are_refused_and_hub_namespaces_refuse_privileged_pods(
        management: Cluster, operator: OperatorProcess) -> None:
    namespace = f"iso-{RUN}-values"
    hub_spec = {"domain": "vals.hubs.example.org", "adminUsers": ["alice"],
                "values": {"hub": {"extraConfig": {"sneaky": "c.Authenticator.allow_all = True"}}}}
    create_hub(management, "vals", namespace, hub=hub_spec)
    refused = wait_condition(management, "vals", namespace, "HubReady", "False", "ValuesNotAllowed", timeout=60)
    assert "hub.extraConfig.sneaky" in refused["message"]
    hub_namespace = names.derive(namespace, "vals").namespace
    assert management.get("namespace", hub_namespace) is None, "nothing is deployed from refused values"

    management.kubectl("-n", namespace, "patch", "communityhub", "vals", "--type=json",
                       "-p", '[{"op": "remove", "path": "/spec/hub/values"}]')
    wait_ready(management, "vals", namespace, timeout=120)
    labels = management.get("namespace", hub_namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    privileged = management.kubectl("-n", hub_namespace, "run", "priv", "--image=registry.example/x:1",
                                    "--restart=Never", "--privileged", check=False)
    assert privileged.returncode != 0 and "violates PodSecurity" in privileged.stderr, privileged.stderr
    host_path = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "host", "namespace": hub_namespace},
                 "spec": {"containers": [{"name": "c", "image": "registry.example/x:1"}],
                          "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}
    result = management.kubectl("apply", "-f", "-", input=yaml.safe_dump(host_path), check=False)
    assert result.returncode != 0 and "hostPath" in result.stderr, result.stderr
