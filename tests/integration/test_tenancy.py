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

from communityhub.api import annotations as ann
from communityhub.delivery import names
from communityhub.fleet.rollout_plan import ROLLOUT_LABEL
from communityhub.money.estimate import APPROVED
from communityhub.runtime.sharding import LABEL as SHARD_LABEL
from tests.conftest import OPERATOR_CHART, OPERATOR_NAMESPACE, OPERATOR_USER, OperatorProcess, oauth_secret
from tests.support.hubs import RUN, create_hub, domain, hub_manifest, ns, onboard, wait_condition, wait_ready
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
    # A tenant pinning its chart would opt out of every upgrade (issue 29, finding 2).
    "hub.chart": {"hub": {"chart": {"version": "4.3.0"}}},
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



# ------------------------------------------------------------------ issue 29: what a tenant's metadata may not do
#: What billing and the guards read, and what a tenant wrote to move its bill (finding 1): each, and its value.
BILLING_ANNOTATIONS = {
    ann.DELIVERED_AT: "2999-01-01T00:00:00Z",  # a $2,312.40 invoice became $0 for good
    ann.BILLING_MONTHLY_FEE: "0",
    ann.COST_MONTH: "2026-01",  # lifted an enforced budget
    APPROVED: "sha256:self-approved",  # approved its own dedicated cluster
    ann.NOTICES: "{}",  # marked budget notices as sent
}


def annotate(cluster: Cluster, who: tuple[str, str] | None, *changes: str, dry_run: bool = True,
             as_user: str | None = None) -> subprocess.CompletedProcess[str]:
    identity = as_(who) if who else ([f"--as={as_user}"] if as_user else [])
    return cluster.kubectl("-n", NAMESPACE, "annotate", "communityhub", "lab", "--overwrite", *changes,
                           *(["--dry-run=server"] if dry_run else []), *identity, check=False)


@pytest.mark.parametrize("key", sorted(BILLING_ANNOTATIONS))
def test_a_tenant_cannot_set_change_or_remove_what_its_invoice_is_computed_from(management: Cluster, tenancy: None,
                                                                               key: str) -> None:
    value = BILLING_ANNOTATIONS[key]
    refused = annotate(management, TENANT, f"{key}={value}")
    assert refused.returncode != 0
    assert f"the annotation {key} is the provider's to set or change" in refused.stderr, refused.stderr
    placed = annotate(management, PROVIDER, f"{key}={value}", dry_run=False)  # the provider may
    assert placed.returncode == 0, placed.stderr
    try:
        for change in (f"{key}=something-else", f"{key}-"):  # changed, or removed
            refused = annotate(management, TENANT, change)
            assert refused.returncode != 0 and key in refused.stderr, (change, refused.stderr)
        # The operator's own ServiceAccount writes them (its billing and usage figures).
        done = annotate(management, None, f"{key}=written-by-the-operator", as_user=OPERATOR_USER)
        assert done.returncode == 0, done.stderr
    finally:
        assert annotate(management, PROVIDER, f"{key}-", dry_run=False).returncode == 0


def test_a_tenant_keeps_its_own_annotations_and_labels(management: Cluster, tenancy: None) -> None:
    assert annotate(management, TENANT, "team.example.org/note=ours").returncode == 0
    labelled = management.kubectl("-n", NAMESPACE, "label", "communityhub", "lab", "team.example.org/course=bio101",
                                  "--dry-run=server", *as_(TENANT), check=False)
    assert labelled.returncode == 0, labelled.stderr


@pytest.mark.parametrize("label", [ROLLOUT_LABEL, "hubs.2i2c.org/channel", "channel", "x.hubs.2i2c.org/wave"])
def test_a_tenant_cannot_steer_a_fleet_rollout_by_its_labels(management: Cluster, tenancy: None, label: str) -> None:
    """A staging label on a failing hub halted a rollout for the fleet; a rollout label loaded any rollout's
    values into the hub (finding 2)."""
    refused = management.kubectl("-n", NAMESPACE, "label", "communityhub", "lab", f"{label}=staging",
                                 "--dry-run=server", *as_(TENANT), check=False)
    assert refused.returncode != 0
    assert f"the label {label} is the provider's to set or change" in refused.stderr, refused.stderr


def test_a_fleet_rollout_selects_only_on_labels_tenants_cannot_set(management: Cluster, tenancy: None) -> None:
    rollout = {"apiVersion": "hubs.2i2c.org/v1alpha1", "kind": "FleetRollout", "metadata": {"name": f"w-{RUN}"},
               "spec": {"target": {"chartVersion": "4.4.0"}, "waves": [
                   {"name": "ok", "matchLabels": {"hubs.2i2c.org/channel": "staging"}},
                   {"name": "course", "matchLabels": {"team.example.org/course": "bio101"}}]}}
    refused = management.kubectl("apply", "--dry-run=server", "-f", "-", *as_(PROVIDER), input=json.dumps(rollout),
                                 check=False)
    assert refused.returncode != 0 and "wave(s) course select on other labels" in refused.stderr, refused.stderr
    rollout["spec"]["waves"] = rollout["spec"]["waves"][:1]  # type: ignore[index]
    done = management.kubectl("apply", "--dry-run=server", "-f", "-", *as_(PROVIDER), input=json.dumps(rollout),
                              check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def served(management: Cluster, tenancy: None) -> Iterator[tuple[str, str]]:
    """Two delivered hubs: one of another community's, and the tenant's own (made by the provider)."""
    other = ns("team-other")
    create_hub(management, "first", other)
    wait_ready(management, "first", other, timeout=180)
    onboard(management, NAMESPACE)  # the operator reads the tenant's OAuth client there
    hub = hub_manifest("second", NAMESPACE)
    management.apply(oauth_secret("second-oauth", NAMESPACE))
    management.kubectl("apply", "-f", "-", *as_(PROVIDER), input=json.dumps(hub))
    wait_ready(management, "second", NAMESPACE, timeout=180)
    yield other, names.derive(other, "first").release
    management.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_a_tenant_cannot_take_another_hubs_name_or_mint_its_certificates(management: Cluster,
                                                                         served: tuple[str, str]) -> None:
    """Two hubs claimed one hostname, and ingress annotations took any issuer or DNS name (finding 5): the
    tenant's hub is refused the domain, naming the first hub's namespace and never its release; then refused
    the annotations; and serves again once its own name is back."""
    other, release = served
    firsts = domain("first", other)
    taken = management.kubectl("-n", NAMESPACE, "patch", "communityhub", "second", "--type=merge", *as_(TENANT),
                               "-p", json.dumps({"spec": {"hub": {"domain": firsts}}}), check=False)
    assert taken.returncode == 0, taken.stderr  # the API takes it; the operator refuses to serve it
    cond = wait_condition(management, "second", NAMESPACE, "HubReady", "False", "DomainTaken", timeout=60)
    assert f"namespace {other}" in cond["message"] and release not in cond["message"]
    first = management.get("communityhub", "first", other)
    assert first["status"]["url"] == f"https://{firsts}"
    issuer = {"spec": {"hub": {"domain": domain("second", NAMESPACE), "values": {"ingress": {"annotations": {
        "cert-manager.io/cluster-issuer": "letsencrypt-http01"}}}}}}
    assert management.kubectl("-n", NAMESPACE, "patch", "communityhub", "second", "--type=merge", *as_(TENANT),
                              "-p", json.dumps(issuer)).returncode == 0
    cond = wait_condition(management, "second", NAMESPACE, "HubReady", "False", "ValuesNotAllowed", timeout=60)
    assert "cert-manager.io/cluster-issuer" in cond["message"]
    management.kubectl("-n", NAMESPACE, "patch", "communityhub", "second", "--type=json", *as_(TENANT),
                       "-p", json.dumps([{"op": "remove", "path": "/spec/hub/values/ingress"}]))
    wait_ready(management, "second", NAMESPACE, timeout=120)
