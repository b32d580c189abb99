"""The operator delivers hubs on a shared cluster: the integration tests on the real control plane."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, OperatorProcess, oauth_secret
from tests.support import smtp
from tests.support.hubs import (
    SECRET_VALUE,
    create_hub,
    domain,
    hub,
    hub_manifest,
    hub_ns,
    ns,
    released_values,
    wait_condition,
    wait_ready,
)
from tests.support.kube import Cluster, condition, wait_for

pytestmark = pytest.mark.integration

def test_create_goes_to_ready_with_conditions_events_and_a_labelled_namespace(
        management: Cluster, operator: OperatorProcess) -> None:
    create_hub(management, "alpha", ns("team-a"))
    obj = wait_ready(management, "alpha", ns("team-a"))
    status = obj["status"]
    types = [c["type"] for c in status["conditions"]]
    assert types == ["ClusterReady", "HubReady", "SSOReady", "EnvironmentReady", "Ready", "Delivered",
                     "Reconciling", "Stalled", "WithinQuota"]  # the hub namespace's quota, on a shared cluster
    for cond in status["conditions"]:
        # kstatus's two are abnormal-true: False on a Ready hub.
        assert cond["status"] == ("False" if cond["type"] in ("Reconciling", "Stalled") else "True"), cond
        assert cond["reason"] and cond["message"]
        assert cond["observedGeneration"] == obj["metadata"]["generation"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert status["phase"] == "Available"
    # What Prometheus sees of it: its state, how long its delivery took, the helm run that made it.
    assert operator.metric("communityhub_hubs", condition="Ready", status="True", reason="HubAvailable") >= 1
    assert operator.metric("communityhub_delivery_seconds_count", phase="Ready") >= 1
    assert operator.metric("communityhub_helm_seconds_count", command="upgrade") >= 1
    assert status["url"] == f"https://{domain('alpha', ns('team-a'))}"
    assert status["release"]["revision"] == 1
    assert condition(obj, "HubReady")["reason"] == "ReleaseDeployed"  # type: ignore[index]

    namespace_obj = management.get("namespace", hub_ns("team-a", "alpha"))
    assert namespace_obj["metadata"]["labels"]["hubs.2i2c.org/hub"] == "alpha"
    assert namespace_obj["metadata"]["labels"]["hubs.2i2c.org/community"] == "Climate-Lab-Example-University"
    for deployment in ("hub", "proxy"):
        assert management.get("deployment", deployment, hub_ns("team-a", "alpha"))["status"]["availableReplicas"] == 1
    # The rendered values reached the release of the real chart: authenticator, admins, profiles.
    released = released_values(management, hub_ns("team-a", "alpha"))
    assert (released["Chart"]["Name"], released["Chart"]["Version"]) == ("jupyterhub", "4.4.0")
    assert status["release"]["chart"] == "jupyterhub-4.4.0"
    config = released["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "github"
    assert config["Authenticator"]["admin_users"] == ["alice"]
    assert [p["slug"] for p in released["singleuser"]["profileList"]] == ["small", "large"]
    # The hub database is on its own claim, bound by the cluster's default StorageClass.
    claim = management.get("pvc", "hub-db-dir", hub_ns("team-a", "alpha"))
    assert claim["status"]["phase"] == "Bound"

    events = management.get("events", namespace=ns("team-a"))["items"]
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == "alpha"}
    assert {"SharedClusterAssigned", "ReleaseDeployed", "HubAvailable"} <= reasons
    # Kopf's progress records live under our own prefix, not kopf.zalando.org.
    annotations = obj["metadata"]["annotations"]
    assert not [a for a in annotations if a.startswith("kopf.zalando.org")]
    assert "hubs.2i2c.org/finalizer" in obj["metadata"]["finalizers"]


def test_the_client_secret_never_leaks(management: Cluster, operator: OperatorProcess) -> None:
    create_hub(management, "leak", ns("team-leak"))
    obj = wait_ready(management, "leak", ns("team-leak"))
    copied = management.get("secret", "hub-oauth-client", hub_ns("team-leak", "leak"))
    assert base64.b64decode(copied["data"]["client_secret"]).decode() == SECRET_VALUE  # the hub gets it...
    events = json.dumps(management.get("events", namespace=ns("team-leak")))
    release_values = json.dumps(released_values(management, hub_ns("team-leak", "leak")))
    for place, text in {"status/annotations": json.dumps(obj), "events": events, "values": release_values,
                        "operator log": operator.log()}.items():
        for secret in (SECRET_VALUE, smtp.PASSWORD):  # the OAuth client's, and the SMTP login's
            assert secret not in text, f"a secret appears in {place}"
            assert base64.b64encode(secret.encode()).decode() not in text, f"an encoded secret is in {place}"


def test_spec_change_upgrades_the_release(management: Cluster, operator: OperatorProcess) -> None:
    create_hub(management, "beta", ns("team-b"))
    before = wait_ready(management, "beta", ns("team-b"))
    management.kubectl("-n", ns("team-b"), "patch", "communityhub", "beta", "--type=merge",
                       "-p", json.dumps({"spec": {"hub": {"adminUsers": ["alice", "carol"]}}}))

    def upgraded() -> dict[str, Any] | None:
        obj = hub(management, "beta", ns("team-b"))
        if obj and obj["status"].get("observedGeneration") == 2 and condition(obj, "Ready")["status"] == "True":
            return obj
        return None
    after = wait_for(upgraded, what="generation 2 Ready")
    assert after["status"]["release"]["revision"] == before["status"]["release"]["revision"] + 1
    assert after["status"]["release"]["valuesHash"] != before["status"]["release"]["valuesHash"]
    released = released_values(management, hub_ns("team-b", "beta"))
    assert released["hub"]["config"]["Authenticator"]["admin_users"] == ["alice", "carol"]
    # The transition time of a condition that stayed True did not move.
    assert condition(after, "ClusterReady")["lastTransitionTime"] == \
        condition(before, "ClusterReady")["lastTransitionTime"]  # type: ignore[index]


def test_idle_resync_writes_nothing(management: Cluster, operator: OperatorProcess) -> None:
    """Passes with nothing new write nothing: a Ready hub's, and a hub's that keeps failing the same way (its
    retries on their backoff are passes too; as Kopf retries, each wrote Kopf's progress annotations, which CI's
    audit log caught)."""
    if management.audit_log is None:
        pytest.skip("counting writes needs the audit log of the project's own control plane")
    create_hub(management, "idle", ns("team-idle"))
    create_hub(management, "stuck", ns("team-idle"), secret=False)  # its OAuth client Secret never comes
    wait_ready(management, "idle", ns("team-idle"))
    wait_condition(management, "stuck", ns("team-idle"), "SSOReady", "False", "ClientSecretNotFound")
    # Hubs earlier tests deleted (their namespaces, --wait=false) are work, not idleness: gone first.
    def deleting() -> list[str]:
        hubs = json.loads(management.kubectl("get", "communityhubs", "-A", "-o", "json").stdout)["items"]
        return [h["metadata"]["name"] for h in hubs if h["metadata"].get("deletionTimestamp")]
    wait_for(lambda: not deleting(), timeout=180, what="no hub being deleted")
    time.sleep(3)  # let the last handler's own bookkeeping land
    resyncs_before = operator.resyncs()
    retries_before = operator.metric("communityhub_reconciles_total", trigger="resync", ready="False")
    mark = management.audit_mark()
    # Several resync passes (every 2 s) over every hub the operator serves, and two retries of the stuck hub.
    wait_for(lambda: operator.resyncs() >= resyncs_before + 4, timeout=60, what="at least four resync passes")
    wait_for(lambda: operator.metric("communityhub_reconciles_total", trigger="resync", ready="False")
             >= retries_before + 2, timeout=90, what="two retries of the stuck hub")
    # A namespace earlier tests deleted may outlive its hubs: what the operator still posts there (a deleted hub's
    # last Events, refused as the namespace terminates) is the deletion's, not an idle pass's.
    live = {n["metadata"]["name"]: n["status"].get("phase")
            for n in json.loads(management.kubectl("get", "namespaces", "-o", "json").stdout)["items"]}
    # One gone by now was terminating then (kopf retries an Event for seconds after its hub is gone): the same.
    writes = [w for w in management.writes_since(mark, operator.user)
              if not (where := w.get("objectRef", {}).get("namespace", "")) or live.get(where) == "Active"]
    assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]
    management.kubectl("-n", ns("team-idle"), "delete", "communityhub", "stuck", "--wait=false")


def test_operator_annotations_do_not_trigger_the_update_path(
        management: Cluster, operator: OperatorProcess) -> None:
    if management.audit_log is None:
        pytest.skip("counting writes needs the audit log of the project's own control plane")
    create_hub(management, "annot", ns("team-annot"))
    before = wait_ready(management, "annot", ns("team-annot"))
    time.sleep(3)
    mark = management.audit_mark()
    management.kubectl("-n", ns("team-annot"), "annotate", "communityhub", "annot", "--overwrite",
                       "hubs.2i2c.org/usage-weekly-active-users=12", "hubs.2i2c.org/cost-cloud-usd-month-to-date=3.50")
    time.sleep(6)
    writes = management.writes_since(mark, operator.user)
    assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]
    after = hub(management, "annot", ns("team-annot"))
    assert after["status"]["release"] == before["status"]["release"]  # type: ignore[index]


def test_delete_leaves_nothing_behind(management: Cluster, operator: OperatorProcess) -> None:
    create_hub(management, "gamma", ns("team-g"))
    wait_ready(management, "gamma", ns("team-g"))
    assert management.get("secrets", namespace=hub_ns("team-g", "gamma"), selector="owner=helm")["items"]
    management.kubectl("-n", ns("team-g"), "delete", "communityhub", "gamma", "--wait=true", "--timeout=120s")
    assert hub(management, "gamma", ns("team-g")) is None
    wait_for(lambda: management.get("namespace", hub_ns("team-g", "gamma")) is None, what="the hub namespace to go")
    releases = management.get("secrets", selector="owner=helm,name=gamma")["items"]
    assert releases == []


INVALID = [
    ({"placement": {"type": "shared"}}, "spec.placement.sharedCluster: Required value"),
    ({"environment": {"image": "quay.io/example/x:1",
                      "profiles": [{"name": "a", "cpu": 2, "cpuLimit": 1, "memory": "1Gi"}]}},
     "cpuLimit must not be below cpu"),
    ({"environment": {"image": "quay.io/example/x:1",
                      "resources": {"cpu": 1, "memory": "2Gi", "memoryLimit": "1500Mi"}}},
     "memoryLimit must not be below its guarantee (memory)"),
    ({"environment": {"image": "quay.io/example/x:1", "profiles": [
        {"name": "a", "cpu": 1, "memory": "1Gi", "image": "quay.io/x/y:1", "imageChoices": ["pangeo"]}]}},
     "a profile has one image or imageChoices, not both"),
    ({"hub": {"domain": "x.hubs.example.org", "branding": {"orgName": "<b>bold</b>"}}},
     "spec.hub.branding.orgName"),
    ({"environment": {"image": "quay.io/example/x:1", "storage": {
        "sharedDirectories": [{"name": "shared", "mountPath": "/home/jovyan/shared"}]}}},
     "sharedDirectories need type sharedNFS"),
    ({"environment": {"image": "quay.io/example/x:1", "storage": {"type": "sharedNFS", "sharedDirectories": [
        {"name": "a", "mountPath": "/home/jovyan/shared"}, {"name": "b", "mountPath": "/home/jovyan/shared"}]}}},
     "mount paths must be unique"),
    ({"environment": {"image": "quay.io/example/x:1", "storage": {"type": "sharedNFS", "sharedDirectories": [
        {"name": "a", "mountPath": "/course", "who": "groups"}]}}},
     "groups are required when who is groups"),
    ({"placement": {"type": "dedicated"}}, "dedicated is required when type is dedicated"),
    ({"community": {"displayName": "X", "contactEmail": "x@example.org", "archetype": "partnership"}},
     "billing.monthlyFeeUSD is required for partnership hubs"),
    ({"community": {"displayName": "X", "contactEmail": "not-an-email", "archetype": "research"}},
     "spec.community.contactEmail"),
    ({"environment": {"image": "quay.io/example/x:1", "profiles": [{"name": "a", "cpu": 1, "memory": "lots"}]}},
     "spec.environment.profiles[0].memory"),
    ({"environment": {"image": "Not An Image!"}}, "spec.environment.image"),
    ({"auth": {"provider": "oidc", "clientSecretRef": {"name": "x"}}}, "oidc settings are required"),
    ({"placement": {"type": "dedicated", "dedicated": {"cloud": "gcp", "account": "customer",
                                                       "region": "us-central1"}}},
     "credentialsSecretRef is required when account is customer"),
]


def test_the_essential_tiers_rules_are_data_a_class_can_change(management: Cluster, operator: OperatorProcess) -> None:
    """An essential hub with a GPU profile: the operator's rules for the tier refuse it (a condition, not an
    apply-time rule, since the hub's class may say otherwise); a HubClass whose essential tier allows GPUs
    lets the same hub through (issue 20: the tier's limits are data)."""
    namespace = ns("team-essential")
    community = {"displayName": "Essential", "contactEmail": "x@example.org", "archetype": "education",
                 "membership": "essential"}
    environment = {"image": "quay.io/example/x:1", "profiles": [{"name": "g", "cpu": 1, "memory": "4Gi", "gpu": 1,
                                                                 "nodePool": "t4"}]}
    create_hub(management, "ess", namespace, community=community, environment=environment)
    cond = wait_condition(management, "ess", namespace, "EnvironmentReady", "False", reason="ProfileNotInTier")
    assert "essential membership has no GPU profiles" in cond["message"]
    hub_class = f"essential-gpu-{namespace}"
    management.apply({"apiVersion": "hubs.2i2c.org/v1alpha1", "kind": "HubClass", "metadata": {"name": hub_class},
                      "spec": {"description": "GPUs for essential hubs", "tiers": {"essential": {"gpu": True}},
                               "nodePools": [{"name": "t4", "machineType": "n1-standard-8", "cpu": 7.5,
                                              "memory": "28Gi", "gpu": {"type": "nvidia-tesla-t4", "count": 1}}]}})
    try:
        management.kubectl("-n", namespace, "patch", "communityhub", "ess", "--type=merge",
                           "-p", json.dumps({"spec": {"hubClassName": hub_class}}))
        wait_ready(management, "ess", namespace, timeout=180)
    finally:
        management.kubectl("-n", namespace, "delete", "communityhub", "ess", "--timeout=120s", check=False)
        management.kubectl("delete", "hubclass", hub_class, "--wait=false", check=False)


@pytest.mark.parametrize("example", sorted(p for p in (REPO / "examples").rglob("*.yaml")  # not the CI workflow
                                            if not {"argocd", "ci"} & set(p.relative_to(REPO / "examples").parts)),
                         ids=lambda p: str(p.relative_to(REPO / "examples")))
def test_every_example_is_admitted_by_the_real_api_server(management: Cluster, crd: object, example: Path) -> None:
    """What the README and the demo tell users to apply passes the CRD's schema and CEL rules."""
    for doc in yaml.safe_load_all(example.read_text()):  # a dry run creates no namespace for what follows
        if doc and doc.get("kind") == "Namespace":
            management.kubectl("create", "namespace", doc["metadata"]["name"], check=False)
    management.kubectl("create", "namespace", "hubs", check=False)
    result = management.kubectl("apply", "--dry-run=server", "-f", str(example), check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("override", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_manifests_are_rejected_with_the_field_named(
        management: Cluster, crd: object, override: dict[str, Any], message: str) -> None:
    management.kubectl("create", "namespace", ns("team-invalid"), check=False)
    manifest = hub_manifest("invalid", ns("team-invalid"), **override)
    result = management.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest), check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert hub(management, "invalid", ns("team-invalid")) is None


def test_placement_type_cannot_change(management: Cluster, operator: OperatorProcess) -> None:
    create_hub(management, "fixed", ns("team-fixed"))
    result = management.kubectl(
        "-n", ns("team-fixed"), "patch", "communityhub", "fixed", "--type=merge", "-p",
        json.dumps({"spec": {"placement": {"type": "dedicated", "sharedCluster": None,
                                           "dedicated": {"cloud": "local", "region": "here"}}}}), check=False)
    assert result.returncode != 0
    assert "placement type cannot change after creation" in result.stderr


def test_helm_failure_is_a_false_condition_then_recovers(management: Cluster, operator: OperatorProcess) -> None:
    # A value the operator lets hubs set, of a type the real chart's schema refuses: helm says why.
    bad_hub = {"domain": "broken.hubs.example.org", "adminUsers": ["alice"], "values": {"cull": {"maxAge": "often"}}}
    create_hub(management, "broken", ns("team-broken"), hub=bad_hub)
    # Meanwhile another hub is delivered: one bad hub does not hold up the others.
    create_hub(management, "healthy", ns("team-broken"))
    failed = wait_condition(management, "broken", ns("team-broken"), "HubReady", "False", "HelmFailed")
    assert "maxAge" in failed["message"] and "integer" in failed["message"], failed["message"]
    ready = condition(hub(management, "broken", ns("team-broken")), "Ready")
    assert ready["status"] == "False" and ready["reason"] == "HelmFailed"  # type: ignore[index]
    wait_ready(management, "healthy", ns("team-broken"))
    events = management.get("events", namespace=ns("team-broken"))["items"]
    assert any(e["reason"] == "HelmFailed" and e["type"] == "Warning" for e in events)

    management.kubectl("-n", ns("team-broken"), "patch", "communityhub", "broken", "--type=json", "-p",
                       json.dumps([{"op": "remove", "path": "/spec/hub/values/cull"}]))
    wait_ready(management, "broken", ns("team-broken"), timeout=120)
    assert operator.alive()


def test_missing_shared_cluster_then_registered(
        management: Cluster, workload: Cluster, operator: OperatorProcess) -> None:
    placement = {"type": "shared", "sharedCluster": "shared-eu"}
    # A kept cluster (CHUB_TEST_KEEP_CLUSTER) may still have the registration of an earlier run.
    management.kubectl("delete", "secret", "cluster-shared-eu", "-n", "communityhub-system", "--ignore-not-found")
    create_hub(management, "remote", ns("team-remote"), placement=placement)
    cond = wait_condition(management, "remote", ns("team-remote"), "ClusterReady", "False", "SharedClusterNotFound")
    assert "shared-eu" in cond["message"] and "hubs.2i2c.org/shared-cluster=shared-eu" in cond["message"]
    assert condition(hub(management, "remote", ns("team-remote")), "HubReady")["reason"] == "WaitingForCluster"  # type: ignore[index]

    # Register the second control plane as shared cluster "shared-eu".
    management.apply({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "cluster-shared-eu", "namespace": "communityhub-system",
                     "labels": {"hubs.2i2c.org/shared-cluster": "shared-eu"}},
        "data": {"kubeconfig": base64.b64encode(workload.kubeconfig.read_bytes()).decode()}})
    obj = wait_ready(management, "remote", ns("team-remote"), timeout=180)
    assert obj["status"]["cluster"]["name"] == "shared-eu"
    # The hub runs on the workload cluster, not on the management cluster.
    assert workload.get("deployment", "hub", hub_ns("team-remote", "remote"))["status"]["availableReplicas"] == 1
    assert management.get("namespace", hub_ns("team-remote", "remote")) is None

    management.kubectl("-n", ns("team-remote"), "delete", "communityhub", "remote", "--timeout=120s")
    wait_for(lambda: workload.get("namespace", hub_ns("team-remote", "remote")) is None,
             what="the hub namespace on the workload cluster to go")


def test_missing_client_secret_is_reported_then_recovered(management: Cluster, operator: OperatorProcess) -> None:
    create_hub(management, "nosecret", ns("team-ns"), secret=False)
    cond = wait_condition(management, "nosecret", ns("team-ns"), "SSOReady", "False", "ClientSecretNotFound")
    assert f"{ns('team-ns')}/nosecret-oauth" in cond["message"] and "client_id" in cond["message"]
    # Where the tenant is told to make one: GitHub has no API for OAuth apps (issue 34), and the callback to give.
    assert "GitHub offers no API to make OAuth apps" in cond["message"] and "/hub/oauth_callback" in cond["message"]
    hub_cond = condition(hub(management, "nosecret", ns("team-ns")), "HubReady")
    assert hub_cond["reason"] == "WaitingForConfiguration"  # type: ignore[index]
    assert management.get("namespace", hub_ns("team-ns", "nosecret")) is None  # the hub step waited

    management.apply({"apiVersion": "v1", "kind": "Secret",
                      "metadata": {"name": "nosecret-oauth", "namespace": ns("team-ns")},
                      "stringData": {"client_id": "abc"}})
    cond = wait_condition(management, "nosecret", ns("team-ns"), "SSOReady", "False", "ClientSecretKeyMissing", 120)
    assert "client_secret" in cond["message"]
    management.apply(oauth_secret("nosecret-oauth", ns("team-ns")))
    wait_ready(management, "nosecret", ns("team-ns"), timeout=180)


def test_a_deployment_deleted_by_hand_is_restored_within_a_resync(
        management: Cluster, operator: OperatorProcess) -> None:
    """Drift: a release whose hub Deployment was deleted, or whose Deployments were edited, is deployed again
    (helm's three-way merge), with an Event; before, HubReady waited for a deleted one for good."""
    create_hub(management, "drift", ns("team-drift"))
    obj = wait_ready(management, "drift", ns("team-drift"))
    namespace, revision = obj["status"]["names"]["namespace"], obj["status"]["release"]["revision"]
    time.sleep(6)  # past the operator's drift grace (CHUB_DRIFT_GRACE_SECONDS=5 here)
    management.kubectl("-n", namespace, "delete", "deployment", "hub")
    wait_for(lambda: (management.get("deployment", "hub", namespace) or {}).get("status", {}).get(
        "availableReplicas") == 1, timeout=60, what="the hub Deployment to be back and Available")
    wait_for(lambda: hub(management, "drift", ns("team-drift"))["status"]["release"]["revision"] == revision + 1,
             timeout=30, what="the status to record the new revision")
    wait_ready(management, "drift", ns("team-drift"))
    events = management.get("events", namespace=ns("team-drift"))["items"]
    assert any(e["reason"] == "DriftRepaired" and "deleted: hub" in e["message"] for e in events)

    # Edited outside the operator: the release is deployed again, and helm's three-way merge undoes the edit.
    revision += 1
    assert hub(management, "drift", ns("team-drift"))["status"]["release"]["generations"]  # the baseline
    image = management.get("deployment", "hub", namespace)["spec"]["template"]["spec"]["containers"][0]["image"]
    management.kubectl("-n", namespace, "scale", "deployment", "proxy", "--replicas=3")
    management.kubectl("-n", namespace, "set", "image", "deployment/hub", "hub=example.org/someone-else:1")
    wait_for(lambda: hub(management, "drift", ns("team-drift"))["status"]["release"]["revision"] > revision,
             timeout=30, what="the release deployed again")
    wait_for(lambda: management.get("deployment", "proxy", namespace)["spec"]["replicas"] == 1, timeout=30,
             what="the proxy back at 1 replica")
    wait_for(lambda: management.get("deployment", "hub", namespace)["spec"]["template"]["spec"]["containers"][0][
        "image"] == image, timeout=30, what="the hub's image restored")
    wait_ready(management, "drift", ns("team-drift"))
    events = management.get("events", namespace=ns("team-drift"))["items"]
    edited = {name.strip() for e in events if e["reason"] == "DriftRepaired"
              for found in re.findall(r"edited: ([a-z, -]+)\)", e["message"]) for name in found.split(",")}
    assert {"hub", "proxy"} <= edited
