"""What makes each cloud module a cluster a provider would accept (issue 22, items 5 to 8), checked by parsing
the modules, since no cloud provider can be downloaded here; and checkov over all of them.

Seen failing on the modules before this change: GKE had no zone pinning (a regional pool's counts are per
zone, three times the spec), `user-` + a 40-character pool name, labels with dots, no accelerators; EKS had no
EBS CSI driver, no default StorageClass, no autoscaler, node groups over two zones, tags only on the node
groups, an `aws eks get-token` kubeconfig; AKS cut pool names to 12 characters (two pools could meet) and
budgeted only the cluster's resource group, not the MC_* group of its VMs; checkov failed 15, 8 and 15 checks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

MODULES = REPO / "terraform" / "modules"
CHECKOV_VERSION = "3.3.30"
#: Where `make checkov` installs it: its own venv, since its pins (packaging 23) do not fit the test venv's.
CHECKOV = Path(os.environ.get("CHUB_CHECKOV") or Path.home() / ".cache" / "communityhub-operator"
               / f"checkov-{CHECKOV_VERSION}" / "bin" / "checkov")


def text(module: str) -> str:
    return "\n".join(p.read_text() for p in sorted((MODULES / module).glob("*.tf")))


def block(source: str, header: str) -> str:
    """The text of the block that starts with ``header`` (braces balanced)."""
    start = source.index(header)
    depth, i = 0, source.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        if depth == 0:
            return source[start:i + 1]
        i += 1


def test_gke_runs_one_zone_enforces_network_policy_and_labels_what_the_bill_sees() -> None:
    gke = text("gke")
    cluster = block(gke, 'resource "google_container_cluster" "hub"')
    assert "node_locations           = [local.zone]" in cluster, "a regional pool's counts are per zone"
    assert 'datapath_provider        = "ADVANCED_DATAPATH"' in cluster  # Dataplane V2 enforces NetworkPolicy
    assert "gce_persistent_disk_csi_driver_config" in cluster
    user = block(gke, 'resource "google_container_node_pool" "user"')
    assert "guest_accelerator" in user and "gpu_type" in user and "nvidia.com/gpu" in user
    assert "resource_labels = merge(local.gcp_labels" in user  # on the VMs and their disks
    # GCP label keys and values: no dots or slashes; pool names within GKE's 40 characters.
    assert 'replace(k, "/[^a-zA-Z0-9_-]/", "_")' in gke and 'replace(v, "/[^a-zA-Z0-9_-]/", "_")' in gke
    assert 'length(pool.name) <= 37 ? "nb-${pool.name}"' in gke and "sha1(pool.name)" in gke


def test_eks_has_storage_an_autoscaler_one_zone_tags_on_instances_and_volumes_and_no_cli() -> None:
    eks = text("eks")
    assert 'addon_name   = "aws-ebs-csi-driver"' in eks and "defaultStorageClass = { enabled = true }" in eks
    assert "extraVolumeTags = local.tags" in eks
    assert 'configuration_values = jsonencode({ enableNetworkPolicy = "true" })' in eks
    assert 'chart      = "cluster-autoscaler"' in eks and '"eks:DescribeNodegroup"' in eks
    group = block(eks, 'resource "aws_eks_node_group" "pool"')
    assert "subnet_ids      = [aws_subnet.public[local.zone].id]" in group
    assert "AL2023_x86_64_NVIDIA" in group
    template = block(eks, 'resource "aws_launch_template" "pool"')
    assert '"instance", "volume"' in template and 'http_tokens                 = "required"' in template
    assert '"aws"' not in block(eks, 'output "kubeconfig"'), "the operator's image needs no aws CLI"


def test_aks_pools_never_share_a_name_and_the_budget_covers_the_node_group() -> None:
    aks = text("aks")
    assert "sha1(pool.name)" in block(aks, "pool_names")
    budget = block(aks, 'resource "azurerm_consumption_budget_subscription" "hub"')
    assert "azurerm_kubernetes_cluster.hub.node_resource_group" in budget
    user = block(aks, 'resource "azurerm_kubernetes_cluster_node_pool" "user"')
    assert "zones                 = [local.zone]" in user and "nvidia.com/gpu=present:NoSchedule" in user


#: Each module's pool-name expression (the text after `pool.name =>`), as the module writes it.
NAME_EXPRESSIONS = {
    "gke": (re.compile(r"pool\.name => \((.*?)\n  \) \}", re.S), 40, r"[a-z][-a-z0-9]*[a-z0-9]"),
    "aks": (re.compile(r"pool_names = \{ for pool in var\.node_pools : pool\.name => (.*?) \}\n"), 12,
            r"[a-z][a-z0-9]*"),
}
NAMES = ["user", "a" * 37, "a" * 40, "gpu-a100-large-pool-for-the-ml-course-1",
         "gpu-a100-large-pool-for-the-ml-course-2", "user-a-large", "user-a-larger"]


@pytest.mark.parametrize("cloud", sorted(NAME_EXPRESSIONS))
def test_pool_names_fit_the_cloud_and_never_meet(cloud: str, terraform_bin: Path, tmp_path: Path) -> None:
    """The module's own expression, evaluated by terraform over names at the limits (built-in functions only)."""
    pattern, limit, shape = NAME_EXPRESSIONS[cloud]
    match = pattern.search(text(cloud))
    assert match, f"the {cloud} module's pool_names expression moved"
    expression = match.group(1).strip().replace("pool.name", "local.pool")
    names = []
    for name in NAMES:
        (tmp_path / "main.tf").write_text(f'locals {{\n  pool = "{name}"\n}}\n')
        done = subprocess.run([str(terraform_bin), "console"], input=expression + "\n", cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip())
        assert len(result) <= limit and re.fullmatch(shape, result), f"{name} -> {result}"
        names.append(result)
    assert len(set(names)) == len(names), f"two pools meet: {names}"


def test_checkov_passes_every_module_with_each_skip_giving_its_reason() -> None:
    if not CHECKOV.exists():
        pytest.fail(f"checkov {CHECKOV_VERSION} is not at {CHECKOV}: `make checkov` installs it", pytrace=False)
    done = subprocess.run([str(CHECKOV), "-d", str(MODULES), "--framework", "terraform", "--skip-download",
                           "--output", "json"], capture_output=True, text=True, timeout=600)
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for r in reports
              for c in r.get("results", {}).get("failed_checks", [])]
    assert not failed, f"checkov failed: {failed}"
    assert all(r["summary"]["parsing_errors"] == 0 and r["summary"]["passed"] > 100 for r in reports), \
        [r["summary"] for r in reports]
    skipped = [c for r in reports for c in r.get("results", {}).get("skipped_checks", [])]
    assert skipped, "the modules skip some checks, each inline"
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.strip()) > 20, f"{check['check_id']} on {check['resource']} is skipped without a reason"
    for module in ("gke", "eks", "aks"):
        for line in text(module).splitlines():
            if "checkov:skip=" in line:
                assert re.search(r"checkov:skip=CKV2?_[A-Z]+_\d+: \S", line), f"a skip without its why: {line}"
