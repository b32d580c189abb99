"""A hub's buckets as Terraform inputs, and what the users' servers get from them (pure).

The buckets live in the cloud account of the hub's cluster: a dedicated hub's own cloud (its project,
its cluster's identity), or, for a shared hub, the cloud the shared cluster's registration names. Each
hub's buckets have a Terraform root of their own (module ``terraform/modules/buckets-<store>``), apart
from any cluster state, so deleting the hub can keep them (``lifecycle.decommission.buckets: Retain``:
Terraform forgets them) or delete them with their objects.

Every bucket module takes ``hub_name``, ``region``, ``buckets`` (name, cloud name, type, days, readers),
``service_account`` (the users' ServiceAccount the cloud identity trusts), ``labels`` and ``extra``, and
returns ``urls`` (bucket name -> URL), ``service_account_annotations`` and ``pod_labels`` (what binds a
user's pod to that identity: GKE's and Azure's workload identity read them; EKS Pod Identity needs none).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from communityhub.api.models import CommunityHubSpec
from communityhub.delivery import render
from communityhub.delivery.names import HubNames

MODULES = {"gcp": "buckets-gcs", "aws": "buckets-s3", "azure": "buckets-blob", "local": "buckets-local"}
#: var.extra keys each bucket module reads, and where they come from.
EXTRA_SOURCES: dict[str, dict[str, str]] = {
    "gcp": {"project_id": "the cluster's GCP project (placement.dedicated.project, CHUB_GCP_PROJECT, or the "
                          "shared cluster's 'project')"},
    "aws": {"cluster_name": "the EKS cluster the users' pods run on (Pod Identity)"},
    "azure": {"cluster_name": "the AKS cluster (its OIDC issuer)",
              "resource_group": "the AKS cluster's resource group"},
    "local": {"endpoint": "CHUB_LOCAL_S3_ENDPOINT (an S3-compatible server)"},
}
OUTPUTS_READ = ("urls", "service_account_annotations", "pod_labels")
#: The users' environment, as the provider's users know it; each URL ends in the user's name.
ENV = {"scratch": "SCRATCH_BUCKET", "persistent": "PERSISTENT_BUCKET"}


@dataclasses.dataclass(frozen=True)
class Location:
    """Whose cloud holds a hub's buckets."""

    cloud: str
    region: str
    extra: dict[str, str]
    missing: tuple[str, ...] = ()


def module_dir(modules: str | Path, cloud: str) -> Path:
    return Path(modules) / MODULES[cloud]


def location(spec: CommunityHubSpec, cluster_status: Mapping[str, Any], shared: Mapping[str, str] | None,
             gcp_project: str, local_endpoint: str) -> Location | None:
    """Where the buckets go: the dedicated cluster's cloud, or what the shared cluster's registration (or the
    operator's own cluster's settings) says; None when a shared cluster names no cloud."""
    dedicated = spec.placement.dedicated
    if spec.placement.type == "dedicated" and dedicated is not None:
        cloud, region = dedicated.cloud, dedicated.region
        given = {"project_id": dedicated.project or gcp_project, "cluster_name": cluster_status.get("name", ""),
                 "resource_group": f"rg-{cluster_status.get('name', '')}"}
    else:
        if not shared or not shared.get("cloud"):
            return None
        cloud, region = shared["cloud"], shared.get("region", "")
        given = {"project_id": shared.get("project") or gcp_project, "cluster_name": shared.get("clusterName", ""),
                 "resource_group": shared.get("resourceGroup", "")}
    if cloud not in MODULES:
        return Location(cloud, region, {}, (f"a bucket module for cloud {cloud!r}",))
    given["endpoint"] = local_endpoint
    extra = {key: given.get(key, "") for key in EXTRA_SOURCES[cloud]}
    missing = tuple(EXTRA_SOURCES[cloud][key] for key, value in extra.items() if not value)
    return Location(cloud, region, extra, missing)


def variables(spec: CommunityHubSpec, namespace: str, name: str, names: HubNames, where: Location) -> dict[str, Any]:
    return {
        "hub_name": names.cluster_stem,
        "region": where.region,
        "buckets": [{"name": b.name, "bucket": names.bucket(b.name), "type": b.type,
                     "expire_after_days": b.expire_after_days, "readers": list(b.readers)}
                    for b in spec.storage.buckets],
        "service_account": {"namespace": names.namespace, "name": names.user_service_account},
        "labels": {"hub": name, "hub-namespace": namespace,
                   "cost-center": render.label_value(spec.billing.cost_center or "none").lower()},
        "extra": where.extra,
    }


def user_values(status: Mapping[str, Any], service_account: str) -> dict[str, Any]:
    """The chart values that give the users' servers their buckets: the ServiceAccount bound to the buckets'
    identity, the pod labels that identity needs, and SCRATCH_BUCKET / PERSISTENT_BUCKET."""
    buckets = status.get("buckets") or []
    if not buckets:
        return {}
    singleuser: dict[str, Any] = {
        "serviceAccountName": service_account,
        "extraEnv": {ENV[b["type"]]: f"{b['url'].rstrip('/')}/$(JUPYTERHUB_USER)" for b in buckets},
    }
    if status.get("podLabels"):
        singleuser["extraLabels"] = dict(status["podLabels"])
    return {"singleuser": singleuser}


ROOT_MODULE = """\
terraform {
  backend "kubernetes" {}
}

variable "hub_name" { type = string }
variable "region" { type = string }
variable "buckets" {
  type = list(object({ name = string, bucket = string, type = string, expire_after_days = number,
                       readers = list(string) }))
}
variable "service_account" { type = object({ namespace = string, name = string }) }
variable "labels" { type = map(string) }
variable "extra" { type = map(string) }

module "buckets" {
  source          = "%(source)s"
  hub_name        = var.hub_name
  region          = var.region
  buckets         = var.buckets
  service_account = var.service_account
  labels          = var.labels
  extra           = var.extra
}

output "urls" { value = module.buckets.urls }
output "service_account_annotations" { value = module.buckets.service_account_annotations }
output "pod_labels" { value = module.buckets.pod_labels }
"""
