"""What a dedicated hub's Terraform module is given (pure): which module a cloud uses, and the cloud-specific
inputs (``var.extra``) each module reads, from the hub's spec and the operator's settings.

tests/unit/test_module_contract.py parses every module and holds this file to it: a module for every cloud,
every key a module reads supplied here, every output the operator reads present.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from communityhub.api.models import CommunityHubSpec, Dedicated
from communityhub.delivery import render

#: The folder under terraform/modules of each `placement.dedicated.cloud`.
MODULES: Mapping[str, str] = {"gcp": "gke", "aws": "eks", "azure": "aks", "local": "local"}
#: The var.extra keys each cloud's module reads, and where each comes from (a spec field or a setting).
EXTRA_SOURCES: Mapping[str, Mapping[str, str]] = {
    "gcp": {"project_id": "spec.placement.dedicated.project or CHUB_GCP_PROJECT",
            "billing_account_id": "CHUB_GCP_BILLING_ACCOUNT"},
    "aws": {"budget_email": "CHUB_BUDGET_EMAIL"},
    "azure": {"budget_email": "CHUB_BUDGET_EMAIL"},
    "local": {"kubeconfig_path": "CHUB_LOCAL_CLUSTER_KUBECONFIG", "provision_seconds": "CHUB_LOCAL_PROVISION_SECONDS"},
}
#: The module outputs the operator reads after an apply.
OUTPUTS_READ = ("cluster_name", "endpoint", "kubeconfig")


def module_dir(modules: str | Path, cloud: str) -> Path:
    """The folder of a cloud's module under the operator's terraform/modules."""
    return Path(modules) / MODULES[cloud]


def extra(dedicated: Dedicated, *, gcp_project: str = "", gcp_billing_account: str = "", budget_email: str = "",
          local_kubeconfig: str = "", local_provision_seconds: float = 0) -> tuple[dict[str, str], list[str]]:
    """(the module's var.extra, the sources of the keys that have no value): a module is never planned with an
    input missing; the caller reports what to set."""
    values = {
        "gcp": {"project_id": dedicated.project or gcp_project, "billing_account_id": gcp_billing_account},
        "aws": {"budget_email": budget_email},
        "azure": {"budget_email": budget_email},
        "local": {"kubeconfig_path": local_kubeconfig, "provision_seconds": str(local_provision_seconds)},
    }[dedicated.cloud]
    missing = [EXTRA_SOURCES[dedicated.cloud][key] for key, value in values.items() if not value]
    return values, missing


class ModuleSettings(Protocol):
    """The operator's settings a module's inputs come from (runtime.settings.Settings has them)."""

    gcp_project: str
    gcp_billing_account: str
    budget_email: str
    local_cluster_kubeconfig: str
    local_provision_seconds: float


def extra_from_settings(dedicated: Dedicated, settings: ModuleSettings) -> tuple[dict[str, str], list[str]]:
    return extra(dedicated, gcp_project=settings.gcp_project, gcp_billing_account=settings.gcp_billing_account,
                 budget_email=settings.budget_email, local_kubeconfig=settings.local_cluster_kubeconfig,
                 local_provision_seconds=settings.local_provision_seconds)


def variables(spec: CommunityHubSpec, namespace: str, name: str, cluster_stem: str,
              extra_values: Mapping[str, str]) -> dict[str, Any]:
    """The root module's variables for one hub (what `hubctl terraform-root` writes out too)."""
    dedicated = spec.placement.dedicated
    assert dedicated is not None
    return {
        "hub_name": cluster_stem,
        "region": dedicated.region,
        "zone": dedicated.zone or "",
        "node_pools": [{"name": p.name, "machine_type": p.machine_type, "min": p.min, "max": p.max,
                        "gpu_type": p.gpu.type if p.gpu else "", "gpu_count": p.gpu.count if p.gpu else 0}
                       for p in dedicated.node_pools],
        "labels": {"hub": name, "hub-namespace": namespace, "archetype": spec.community.archetype,
                   "cost-center": render.label_value(spec.billing.cost_center or "none").lower()},
        "billing_account": dedicated.account,
        "extra": dict(extra_values),
    }

#: The root module generated per hub: the cloud's module behind a kubernetes backend.
ROOT_MODULE = """\
terraform {
  backend "kubernetes" {}
}

variable "hub_name" { type = string }
variable "region" { type = string }
variable "zone" { type = string }
variable "node_pools" {
  type = list(object({ name = string, machine_type = string, min = number, max = number, gpu_type = string,
                       gpu_count = number }))
}
variable "labels" { type = map(string) }
variable "billing_account" { type = string }
variable "extra" { type = map(string) }

module "cluster" {
  source          = "%(source)s"
  hub_name        = var.hub_name
  region          = var.region
  zone            = var.zone
  node_pools      = var.node_pools
  labels          = var.labels
  billing_account = var.billing_account
  extra           = var.extra
}

output "cluster_name" { value = module.cluster.cluster_name }
output "endpoint" { value = module.cluster.endpoint }
output "ca_certificate" {
  value     = module.cluster.ca_certificate
  sensitive = true
}
output "kubeconfig" {
  value     = module.cluster.kubeconfig
  sensitive = true
}
"""
