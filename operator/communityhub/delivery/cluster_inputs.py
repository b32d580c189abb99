"""What a dedicated hub's Terraform module is given (pure): which module a cloud uses, and the cloud-specific
inputs (``var.extra``) each module reads, from the hub's spec and the operator's settings.

tests/unit/test_module_contract.py parses every module and holds this file to it: a module for every cloud,
every key a module reads supplied here, every output the operator reads present.
"""

from __future__ import annotations

from collections.abc import Mapping

from communityhub.api.models import Dedicated

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
