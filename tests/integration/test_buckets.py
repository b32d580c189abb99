"""Buckets (spec.storage.buckets) on the local S3-compatible server: a shared hub and a dedicated `cloud: local`
hub each get one through the bucket module's Terraform root, their users' environment names it, and deleting
(or dropping the bucket from the spec) follows lifecycle.decommission.buckets."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from communityhub.delivery import names
from tests.conftest import OPERATOR_NAMESPACE, OperatorProcess
from tests.integration.test_dedicated import placement
from tests.support.hubs import create_hub, hub, hub_manifest, ns, released_values, wait_ready
from tests.support.kube import Cluster, condition, wait_for

pytestmark = pytest.mark.integration

AUTHORIZATION = {"Authorization": "AWS4-HMAC-SHA256 Credential=tests/20260101/us-east-1/s3/aws4_request, "
                                  "SignedHeaders=host, Signature=0"}


def s3(method: str, url: str, body: bytes | None = None) -> tuple[int, str]:
    headers = {**AUTHORIZATION, **({"Content-Type": "application/octet-stream"} if body is not None else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method, headers=headers),
                                    timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def buckets(s3_server: str) -> set[str]:
    return set(re.findall(r"<Name>([^<]+)</Name>", s3("GET", s3_server + "/")[1]))


def test_a_shared_hub_gets_a_scratch_bucket_and_deleting_it_deletes_the_bucket(
        management: Cluster, operator: OperatorProcess, s3_server: str) -> None:
    namespace = ns("team-bucket")
    derived = names.derive(namespace, "scratchy")
    bucket = derived.bucket("scratch")
    create_hub(management, "scratchy", namespace,
               storage={"buckets": [{"name": "scratch", "type": "scratch", "expireAfterDays": 3}]},
               lifecycle={"decommission": {"buckets": "Delete"}})
    obj = wait_ready(management, "scratchy", namespace, timeout=180)
    assert obj["status"]["buckets"]["buckets"] == [{"name": "scratch", "type": "scratch", "url": f"s3://{bucket}"}]
    assert bucket in buckets(s3_server)
    code, lifecycle = s3("GET", f"{s3_server}/{bucket}?lifecycle")
    assert code == 200 and "<Days>3</Days>" in lifecycle, lifecycle
    # The users' servers: the bucket's URL ending in their name, and the ServiceAccount the bucket's identity trusts.
    singleuser = released_values(management, derived.namespace)["singleuser"]
    assert singleuser["extraEnv"]["SCRATCH_BUCKET"] == f"s3://{bucket}/$(JUPYTERHUB_USER)"
    assert singleuser["serviceAccountName"] == "user"
    assert management.get("serviceaccount", "user", derived.namespace) is not None
    # Its Terraform state is its own, and an idle pass runs no Terraform.
    assert management.get("secret", derived.buckets_state_secret, OPERATOR_NAMESPACE) is not None
    applies = operator.log().count('"purpose": "buckets"')
    resyncs = operator.resyncs()
    wait_for(lambda: operator.resyncs() >= resyncs + 3, timeout=60, what="three resync passes")
    assert operator.log().count('"purpose": "buckets"') == applies
    assert s3("PUT", f"{s3_server}/{bucket}/alice/results.csv", b"a,b\n")[0] == 200

    management.kubectl("-n", namespace, "delete", "communityhub", "scratchy", "--timeout=180s")
    assert bucket not in buckets(s3_server), "lifecycle.decommission.buckets: Delete"
    assert management.get("secret", derived.buckets_state_secret, OPERATOR_NAMESPACE) is None


def test_dropping_a_bucket_from_the_spec_removes_it_and_its_environment(
        management: Cluster, operator: OperatorProcess, s3_server: str) -> None:
    namespace = ns("team-bucket-drop")
    derived = names.derive(namespace, "dropper")
    create_hub(management, "dropper", namespace, storage={"buckets": [{"name": "work", "type": "persistent"}]},
               lifecycle={"decommission": {"buckets": "Delete"}})
    wait_ready(management, "dropper", namespace, timeout=180)
    assert derived.bucket("work") in buckets(s3_server)
    env = released_values(management, derived.namespace)["singleuser"]["extraEnv"]
    assert env["PERSISTENT_BUCKET"] == f"s3://{derived.bucket('work')}/$(JUPYTERHUB_USER)"
    management.kubectl("-n", namespace, "patch", "communityhub", "dropper", "--type=json",
                       "-p", json.dumps([{"op": "remove", "path": "/spec/storage"}]))
    wait_for(lambda: "PERSISTENT_BUCKET" not in (released_values(management, derived.namespace)["singleuser"]
                                                 .get("extraEnv") or {}), timeout=120, what="the env to go")
    # The status is written at the end of the pass whose helm run removed the env: wait for it too (the hub
    # stays Ready throughout, so waiting for Ready alone can read the status from before that write).
    obj = wait_for(lambda: (o := wait_ready(management, "dropper", namespace)) and "buckets" not in o["status"]
                   and o, timeout=60, what="status.buckets to go")
    assert "buckets" not in obj["status"]
    assert derived.bucket("work") not in buckets(s3_server)
    management.kubectl("-n", namespace, "delete", "communityhub", "dropper", "--timeout=180s")


def test_a_dedicated_hub_keeps_its_bucket_after_deletion_by_default(
        management: Cluster, workload: Cluster, operator: OperatorProcess, s3_server: str) -> None:
    namespace = ns("team-bucket-ded")
    derived = names.derive(namespace, "keeper")
    bucket = derived.bucket("scratch")
    create_hub(management, "keeper", namespace, placement=placement(),
               storage={"buckets": [{"name": "scratch", "type": "scratch", "expireAfterDays": 30}]})
    wait_ready(management, "keeper", namespace, timeout=240)
    assert bucket in buckets(s3_server)
    singleuser = released_values(workload, derived.namespace)["singleuser"]  # on the dedicated cluster
    assert singleuser["extraEnv"]["SCRATCH_BUCKET"] == f"s3://{bucket}/$(JUPYTERHUB_USER)"
    assert workload.get("serviceaccount", "user", derived.namespace) is not None
    assert s3("PUT", f"{s3_server}/{bucket}/alice/thesis.ipynb", b"{}")[0] == 200

    management.kubectl("-n", namespace, "delete", "communityhub", "keeper", "--timeout=240s")
    assert bucket in buckets(s3_server), "lifecycle.decommission.buckets defaults to Retain"
    assert s3("GET", f"{s3_server}/{bucket}/alice/thesis.ipynb")[0] == 200, "its objects too"
    assert management.get("secret", derived.buckets_state_secret, OPERATOR_NAMESPACE) is None
    events = management.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert "BucketsKept" in events and f"s3://{bucket}" in events


def test_two_scratch_buckets_are_refused_at_apply(management: Cluster, operator: OperatorProcess) -> None:
    namespace = ns("team-bucket-cel")
    management.kubectl("create", "namespace", namespace, check=False)
    manifest = hub_manifest("twice", namespace, storage={"buckets": [{"name": "a", "type": "scratch"},
                                                                     {"name": "b", "type": "scratch"}]})
    done = subprocess.run([str(management.kubectl_bin), "--kubeconfig", str(management.kubeconfig), "apply", "-f",
                           "-"], input=json.dumps(manifest), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "at most one scratch and one persistent bucket" in done.stderr, done.stderr
    assert hub(management, "twice", namespace) is None


def test_a_hub_on_a_cluster_that_names_no_cloud_is_told_why(management: Cluster, operator: OperatorProcess,
                                                            workload: Cluster) -> None:
    """A shared cluster registered without `cloud`: the hub waits with a condition, and nothing is run."""
    namespace = ns("team-bucket-nocloud")
    management.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                      "metadata": {"name": "shared-nocloud", "namespace": OPERATOR_NAMESPACE,
                                   "labels": {"hubs.2i2c.org/shared-cluster": "nocloud"}},
                      "stringData": {"kubeconfig": workload.kubeconfig.read_text()}})
    try:
        create_hub(management, "nocloud", namespace, placement={"type": "shared", "sharedCluster": "nocloud"},
                   storage={"buckets": [{"name": "scratch", "type": "scratch"}]})
        cond = wait_for(lambda: (c := condition(hub(management, "nocloud", namespace), "EnvironmentReady"))
                        and c["reason"] == "BucketsUnavailable" and c, timeout=60, what="BucketsUnavailable")
        assert "keys cloud and region" in cond["message"]
        assert condition(hub(management, "nocloud", namespace), "HubReady")["reason"] == "WaitingForConfiguration"  # type: ignore[index]
        management.kubectl("-n", namespace, "delete", "communityhub", "nocloud", "--timeout=120s")
    finally:
        management.kubectl("-n", OPERATOR_NAMESPACE, "delete", "secret", "shared-nocloud", "--ignore-not-found")
