"""Who may set what, with impersonation on the real API server and the chart's own objects
(templates/tenancy.yaml): a tenant edits its hub's own fields but not the provider's (each refusal names the
field), cannot create a hub or move it to another operator shard, reads HubClasses and cannot write them; the
provider group does all of it.

Every write but the provider's shard label is a server-side dry run: admission policies run on dry runs, and
nothing here starts a hub."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from communityhub.runtime.sharding import LABEL as SHARD_LABEL
from tests.conftest import OPERATOR_CHART, OPERATOR_NAMESPACE, OperatorProcess, oauth_secret
from tests.support.hubs import RUN, hub_manifest, ns
from tests.support.kube import Cluster, wait_for

pytestmark = pytest.mark.integration

TENANT = ("terry", f"team-tenancy-{RUN}:editors")
PROVIDER = ("pat", "hubs:providers")
NAMESPACE = ns("team-tenancy")
#: Each provider field, and a change to it (a JSON merge patch of the spec).
PROVIDER_FIELDS: dict[str, dict[str, Any]] = {
    "billing": {"billing": {"costCenter": "FREE-MONEY"}},
    "lifecycle": {"lifecycle": {"contractEnd": "2099-12-31"}},
    "community.membership": {"community": {"membership": "premier"}},
    "community.archetype": {"community": {"archetype": "education"}},
    "placement": {"placement": {"sharedCluster": "elsewhere"}},
    "hubClassName": {"hubClassName": "gold"},
}


def as_(who: tuple[str, str]) -> list[str]:
    return [f"--as={who[0]}", f"--as-group={who[1]}"]


def patch(cluster: Cluster, who: tuple[str, str], spec: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("-n", NAMESPACE, "patch", "communityhub", "lab", "--type=merge", "--dry-run=server",
                           "-p", json.dumps({"spec": spec}), *as_(who), check=False)


@pytest.fixture(scope="module")
def tenancy(management: Cluster, helm_bin: Path, operator: OperatorProcess) -> Iterator[None]:
    objects = subprocess.run(
        [str(helm_bin), "template", "chub", str(OPERATOR_CHART), "--namespace", OPERATOR_NAMESPACE,
         "--show-only", "templates/tenancy.yaml"], capture_output=True, text=True, check=True).stdout
    management.apply(objects)
    management.kubectl("create", "namespace", NAMESPACE, check=False)
    management.kubectl("-n", NAMESPACE, "create", "rolebinding", "editors", "--clusterrole=communityhub-tenant",
                       f"--group={TENANT[1]}")
    management.apply(oauth_secret("lab-oauth", NAMESPACE))
    # The provider creates the hub (as a member of its group, not as a cluster admin). A shared cluster the
    # operator does not know: the hub is never deployed, and nothing here needs it to be.
    hub = hub_manifest("lab", NAMESPACE, placement={"type": "shared", "sharedCluster": f"nowhere-{RUN}"})
    management.kubectl("apply", "-f", "-", *as_(PROVIDER), input=json.dumps(hub))
    # The API server loads a new policy within a second or so: wait until it refuses, so no test runs before.
    wait_for(lambda: patch(management, TENANT, PROVIDER_FIELDS["billing"]).returncode != 0, timeout=30,
             what="the provider-fields policy in effect")
    yield
    management.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
    management.kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=false", input=objects, check=False)


@pytest.mark.parametrize("field", sorted(PROVIDER_FIELDS))
def test_a_tenant_cannot_change_a_provider_field_and_is_told_which(management: Cluster, tenancy: None,
                                                                  field: str) -> None:
    refused = patch(management, TENANT, PROVIDER_FIELDS[field])
    assert refused.returncode != 0
    assert f"spec.{field} is the provider's to set or change" in refused.stderr, refused.stderr
    assert "ValidatingAdmissionPolicy 'communityhub-provider-fields'" in refused.stderr


@pytest.mark.parametrize("field", sorted(PROVIDER_FIELDS))
def test_the_provider_group_can_change_each_provider_field(management: Cluster, tenancy: None,
                                                           field: str) -> None:
    done = patch(management, PROVIDER, PROVIDER_FIELDS[field])
    assert done.returncode == 0, done.stderr


def test_a_placed_hub_moves_to_another_shard_only_by_the_provider(management: Cluster, tenancy: None) -> None:
    def label(who: tuple[str, str], value: str | None, dry_run: bool = True) -> subprocess.CompletedProcess[str]:
        return management.kubectl("-n", NAMESPACE, "label", "communityhub", "lab", "--overwrite",
                                  f"{SHARD_LABEL}={value}" if value is not None else f"{SHARD_LABEL}-",
                                  *(["--dry-run=server"] if dry_run else []), *as_(who), check=False)
    placed = label(PROVIDER, "0", dry_run=False)
    assert placed.returncode == 0, placed.stderr
    try:
        for value in ("1", None):  # moved, or unlabelled to be placed anew
            refused = label(TENANT, value)
            assert refused.returncode != 0
            assert "the label hubs.2i2c.org/shard is the provider's to set or change" in refused.stderr, refused.stderr
        assert label(PROVIDER, "1").returncode == 0
    finally:
        assert label(PROVIDER, None, dry_run=False).returncode == 0


def test_a_tenant_changes_its_hubs_own_fields(management: Cluster, tenancy: None) -> None:
    done = patch(management, TENANT, {"environment": {"defaultUrl": "/tree"}, "hub": {"adminUsers": ["terry"]}})
    assert done.returncode == 0, done.stderr


def test_a_tenant_cannot_create_a_hub(management: Cluster, tenancy: None) -> None:
    hub = hub_manifest("other", NAMESPACE)
    refused = management.kubectl("apply", "--dry-run=server", "-f", "-", *as_(TENANT), input=json.dumps(hub),
                                 check=False)
    assert refused.returncode != 0 and "communityhubs" in refused.stderr and "forbidden" in refused.stderr.lower()


def can(cluster: Cluster, who: tuple[str, str], *args: str) -> bool:
    return cluster.kubectl("auth", "can-i", *args, *as_(who), check=False).stdout.strip() == "yes"


def test_hub_classes_are_read_by_tenants_and_written_by_the_provider_only(management: Cluster,
                                                                         tenancy: None) -> None:
    for verb in ("get", "list", "watch"):
        assert can(management, TENANT, verb, "hubclasses.hubs.2i2c.org")
    for verb in ("create", "update", "patch", "delete"):
        assert not can(management, TENANT, verb, "hubclasses.hubs.2i2c.org")
        assert can(management, PROVIDER, verb, "hubclasses.hubs.2i2c.org")
    # The tenant's rights on hubs are its namespace's, and not create.
    assert can(management, TENANT, "patch", "communityhubs.hubs.2i2c.org", "-n", NAMESPACE)
    assert not can(management, TENANT, "patch", "communityhubs.hubs.2i2c.org", "-n", "default")
    assert not can(management, TENANT, "create", "communityhubs.hubs.2i2c.org", "-n", NAMESPACE)
