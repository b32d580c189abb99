# A GKE cluster for one CommunityHub: a regional control plane whose nodes all live in one zone (home volumes
# are zonal, so a returning user's pod must find theirs), a small core pool for the hub and proxy, autoscaled
# user pools that scale from zero (GPU pools with their accelerators), Dataplane V2 enforcing the chart's
# NetworkPolicies, the Persistent Disk CSI driver with its default StorageClass, GCP labels on the cluster,
# its VMs and their disks for cost attribution, and a budget alert on those labels.
#
# Compared with 2i2c-org/infrastructure's terraform/gcp (the reference for these choices, see
# docs/operations.md): the same regional-control-plane-with-one-node-zone layout, GKE_METADATA, pd-balanced
# disks, taints and GPU accelerators; a release channel with auto-upgrade (2i2c upgrades by hand), and
# Dataplane V2 rather than the Calico network-policy addon.

locals {
  cluster_name = substr("hub-${var.hub_name}", 0, 40)
  # GCP labels: lowercase letters, digits, - and _ only, at most 63 characters (no dots, unlike Kubernetes).
  gcp_labels = { for k, v in merge(var.labels, {
    hub = var.hub_name, billing-account = var.billing_account, managed-by = "communityhub-operator"
  }) : substr(lower(replace(k, "/[^a-zA-Z0-9_-]/", "_")), 0, 63) => substr(lower(replace(v, "/[^a-zA-Z0-9_-]/", "_")), 0, 63) }
  budget_usd = tonumber(lookup(var.extra, "monthly_budget_usd", "0"))
  zone       = var.zone != "" ? var.zone : data.google_compute_zones.available.names[0]
  # GKE allows 40 characters in a pool name: long names keep a readable head and a digest, so two never meet.
  pool_names = { for pool in var.node_pools : pool.name => (
    length(pool.name) <= 37 ? "nb-${pool.name}" : "nb-${substr(pool.name, 0, 28)}-${substr(sha1(pool.name), 0, 8)}"
  ) }
}

data "google_client_config" "current" {}

data "google_compute_zones" "available" {
  region = var.region
  status = "UP"
}

resource "google_service_account" "nodes" {
  account_id   = substr("nodes-${var.hub_name}", 0, 30)
  display_name = "Nodes of CommunityHub cluster ${local.cluster_name}"
}

resource "google_project_iam_member" "nodes" {
  # The least a node needs (https://cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster).
  for_each = toset(["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer",
  "roles/stackdriver.resourceMetadata.writer", "roles/artifactregistry.reader"])
  project = var.extra["project_id"]
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_cluster" "hub" {
  #checkov:skip=CKV_GCP_20: users' servers and the operator reach the API from anywhere; it is authenticated and RBAC-bound
  #checkov:skip=CKV_GCP_25: private nodes need Cloud NAT for the users' pip and git (about $32 a month per hub and egress fees); the provider's choice, not a default
  #checkov:skip=CKV_GCP_64: private nodes need Cloud NAT for the users' outbound traffic, as for CKV_GCP_25
  #checkov:skip=CKV_GCP_66: communities bring their own images from public registries; no attestation chain to enforce
  #checkov:skip=CKV_GCP_65: Google Groups for RBAC needs a Workspace domain the provider may not have; the operator's ServiceAccount is the only admin
  #checkov:skip=CKV_GCP_61: intranode visibility and VPC flow logs bill every packet of every user; a provider turns them on per incident
  #checkov:skip=CKV_GCP_69: the default node pool is removed at creation; every pool below runs GKE_METADATA
  #checkov:skip=CKV_GCP_12: NetworkPolicy is enforced by Dataplane V2 (datapath_provider), which replaces the network_policy block
  #checkov:skip=CKV_GCP_21: resource_labels is set, from local.gcp_labels, a for expression checkov does not evaluate
  name                     = local.cluster_name
  location                 = var.region
  node_locations           = [local.zone]
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = false # the operator destroys what it created, when the hub is deleted
  resource_labels          = local.gcp_labels
  datapath_provider        = "ADVANCED_DATAPATH" # Dataplane V2: NetworkPolicy enforced without an addon

  ip_allocation_policy {} # VPC-native (alias IPs), which Dataplane V2 needs
  release_channel {
    channel = "REGULAR"
  }
  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }
  workload_identity_config {
    workload_pool = "${var.extra["project_id"]}.svc.id.goog"
  }
  addons_config {
    gce_persistent_disk_csi_driver_config {
      enabled = true # its standard-rwo StorageClass is the cluster's default
    }
    http_load_balancing {
      disabled = true # the chart's proxy is a LoadBalancer Service; no Ingress controller is used
    }
  }
  cluster_autoscaling {
    autoscaling_profile = "OPTIMIZE_UTILIZATION" # scale user pools down quickly; back up from zero on demand
  }
  cost_management_config {
    enabled = true # GKE cost allocation: per-namespace costs in the billing export
  }
  lifecycle {
    ignore_changes = [node_config, initial_node_count]
  }
}

resource "google_container_node_pool" "core" {
  name     = "core"
  cluster  = google_container_cluster.hub.id
  location = var.region
  autoscaling {
    min_node_count = 1
    max_node_count = 2
  }
  management {
    auto_repair  = true
    auto_upgrade = true # required on a release channel
  }
  node_config {
    machine_type    = "e2-standard-2"
    disk_size_gb    = 50
    disk_type       = "pd-balanced"
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = { "hub.jupyter.org/node-purpose" = "core", "k8s.dask.org/node-purpose" = "core" }
    resource_labels = local.gcp_labels # on the VMs and their boot disks: the bill sees them
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

resource "google_container_node_pool" "user" {
  for_each = { for pool in var.node_pools : pool.name => pool }
  name     = local.pool_names[each.key]
  cluster  = google_container_cluster.hub.id
  location = var.region
  autoscaling {
    min_node_count = each.value.min # per zone, and the nodes are in one zone: the spec's count
    max_node_count = each.value.max
  }
  management {
    auto_repair  = true
    auto_upgrade = true
  }
  node_config {
    machine_type    = each.value.machine_type
    disk_size_gb    = 100
    disk_type       = "pd-balanced" # faster image pulls, so faster new nodes
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels = {
      "hub.jupyter.org/node-purpose" = "user", "k8s.dask.org/node-purpose" = "scheduler",
      "hubs.2i2c.org/node-pool"      = each.key
    }
    resource_labels = merge(local.gcp_labels, { node-pool = substr(lower(each.key), 0, 63) })
    dynamic "guest_accelerator" {
      for_each = each.value.gpu_type != "" ? [each.value] : []
      content {
        type  = guest_accelerator.value.gpu_type
        count = guest_accelerator.value.gpu_count
        gpu_driver_installation_config {
          gpu_driver_version = "LATEST"
        }
      }
    }
    dynamic "taint" {
      for_each = concat([{ key = "hub.jupyter.org_dedicated", value = "user" }],
      each.value.gpu_type != "" ? [{ key = "nvidia.com/gpu", value = "present" }] : [])
      content {
        key    = taint.value.key
        value  = taint.value.value
        effect = "NO_SCHEDULE"
      }
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
  lifecycle {
    ignore_changes = [initial_node_count] # the autoscaler owns the current count
  }
}

data "google_project" "current" {}

resource "google_billing_budget" "hub" {
  count           = local.budget_usd > 0 && var.billing_account == "provider" ? 1 : 0
  billing_account = var.extra["billing_account_id"]
  display_name    = "CommunityHub ${var.hub_name}"
  budget_filter {
    projects = ["projects/${data.google_project.current.number}"]
    # The cluster's, its VMs' and their disks' label; GKE cost allocation adds the workloads' namespaces.
    labels = { hub = local.gcp_labels["hub"] }
  }
  amount {
    specified_amount {
      currency_code = "USD"
      units         = tostring(local.budget_usd)
    }
  }
  threshold_rules {
    threshold_percent = 0.8
  }
  threshold_rules {
    threshold_percent = 1.0
  }
}
