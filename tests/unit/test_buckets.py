"""The hub's buckets as Terraform inputs and as the users' environment (pure: delivery.bucket_inputs)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from communityhub.adapters import objectstore
from communityhub.delivery import bucket_inputs, names
from tests.unit.test_render import base_spec

SCRATCH = {"name": "scratch", "type": "scratch", "expireAfterDays": 7}
PERSISTENT = {"name": "keep", "type": "persistent", "readers": ["user:curator@example.org"]}


def test_a_shared_hub_puts_its_buckets_in_its_shared_clusters_cloud_with_the_inputs_that_cloud_reads() -> None:
    spec = base_spec(storage={"buckets": [SCRATCH, PERSISTENT]})
    where = bucket_inputs.location(spec, {}, {"cloud": "gcp", "region": "us-central1", "project": "hubs-shared"},
                                   "", "")
    assert where == bucket_inputs.Location("gcp", "us-central1", {"project_id": "hubs-shared"})
    derived = names.derive("team", "lab")
    variables = bucket_inputs.variables(spec, "team", "lab", derived, where)
    assert variables["buckets"] == [
        {"name": "scratch", "bucket": f"{derived.cluster_stem}-scratch", "type": "scratch", "expire_after_days": 7,
         "readers": []},
        {"name": "keep", "bucket": f"{derived.cluster_stem}-keep", "type": "persistent", "expire_after_days": 7,
         "readers": ["user:curator@example.org"]}]
    assert variables["service_account"] == {"namespace": derived.namespace, "name": "user"}
    assert all(len(b["bucket"]) <= 63 for b in variables["buckets"])


def test_a_cluster_that_names_no_cloud_or_lacks_an_input_says_so() -> None:
    spec = base_spec(storage={"buckets": [SCRATCH]})
    assert bucket_inputs.location(spec, {}, None, "", "") is None
    assert bucket_inputs.location(spec, {}, {"region": "x"}, "", "") is None
    aws = bucket_inputs.location(spec, {}, {"cloud": "aws", "region": "us-west-2"}, "", "")
    assert aws is not None and aws.missing == ("the EKS cluster the users' pods run on (Pod Identity)",)
    local = bucket_inputs.location(spec, {}, {"cloud": "local"}, "", "")
    assert local is not None and local.missing == ("CHUB_LOCAL_S3_ENDPOINT (an S3-compatible server)",)


def test_a_dedicated_hub_puts_them_in_its_own_clusters_cloud() -> None:
    spec = base_spec(storage={"buckets": [SCRATCH]}, placement={
        "type": "dedicated", "dedicated": {"cloud": "aws", "region": "us-west-2"}})
    where = bucket_inputs.location(spec, {"name": "hub-lab-x"}, {"cloud": "gcp"}, "", "")
    assert where == bucket_inputs.Location("aws", "us-west-2", {"cluster_name": "hub-lab-x"})


def test_the_users_get_a_service_account_labels_and_the_urls_ending_in_their_name() -> None:
    status = {"buckets": [{"name": "scratch", "type": "scratch", "url": "gs://lab-scratch"},
                          {"name": "keep", "type": "persistent", "url": "gs://lab-keep/"}],
              "podLabels": {"azure.workload.identity/use": "true"}}
    assert bucket_inputs.user_values(status, "user") == {"singleuser": {
        "serviceAccountName": "user",
        "extraEnv": {"SCRATCH_BUCKET": "gs://lab-scratch/$(JUPYTERHUB_USER)",
                     "PERSISTENT_BUCKET": "gs://lab-keep/$(JUPYTERHUB_USER)"},
        "extraLabels": {"azure.workload.identity/use": "true"}}}
    assert bucket_inputs.user_values({}, "user") == {}  # no bucket, nothing rendered: values hashes unchanged


@pytest.mark.parametrize("buckets", [
    [{"name": "Bad_Name", "type": "scratch"}],
    [{"name": "a" * 21, "type": "scratch"}],
    [{**PERSISTENT, "readers": ["user:a b"]}],  # no spaces, quotes or newlines reach a module's policy
    [{"name": "tmp", "type": "temporary"}],
    [SCRATCH, PERSISTENT, {**PERSISTENT, "name": "third"}],
])
def test_bucket_specs_that_cannot_work_are_refused(buckets: list[dict[str, object]]) -> None:
    """By the models (so by the CRD's schema); "one of each type" is a CEL rule, which the API server checks
    (tests/integration/test_buckets.py)."""
    with pytest.raises(ValidationError):
        base_spec(storage={"buckets": buckets})


def test_a_listing_page_gives_its_bytes_and_the_next_page() -> None:
    page = ("<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a</Key><Size>1000</Size></Contents>"
            "<Contents><Key>b</Key><Size>234</Size></Contents>"
            "<NextContinuationToken>tok/2==</NextContinuationToken></ListBucketResult>")
    assert objectstore.page_bytes(page) == (1234, "tok/2==")
    assert objectstore.page_bytes("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>") == (0, None)
