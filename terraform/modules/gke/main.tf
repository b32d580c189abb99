# A GKE cluster for one CommunityHub: regional control plane, a small core pool for the hub and
# proxy, autoscaled user pools that scale to zero, labels for cost attribution, a budget alert.

locals {
  cluster_name = substr("hub-${var.hub_name}", 0, 40)
  labels       = merge(var.labels, { hub = var.hub_name, billing-account = var.billing_account, managed-by = "communityhub-operator" })
  budget_usd   = tonumber(lookup(var.extra, "monthly_budget_usd", "0"))
}

data "google_client_config" "current" {}

resource "google_container_cluster" "hub" {
  name                     = local.cluster_name
  location                 = var.region
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = false
  resource_labels          = local.labels

  release_channel {
    channel = "REGULAR"
  }
  workload_identity_config {
    workload_pool = "${var.extra["project_id"]}.svc.id.goog"
  }
  network_policy {
    enabled = true
  }
  cost_management_config {
    enabled = true # GKE cost allocation: per-namespace costs in the billing export
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
  node_config {
    machine_type = "e2-standard-2"
    disk_size_gb = 50
    labels       = merge(local.labels, { "hub.jupyter.org/node-purpose" = "core" })
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

resource "google_container_node_pool" "user" {
  for_each = { for pool in var.node_pools : pool.name => pool }
  name     = "user-${each.key}"
  cluster  = google_container_cluster.hub.id
  location = var.region
  autoscaling {
    min_node_count = each.value.min
    max_node_count = each.value.max
  }
  node_config {
    machine_type = each.value.machine_type
    disk_size_gb = 100
    labels       = merge(local.labels, { "hub.jupyter.org/node-purpose" = "user", "hubs.2i2c.org/node-pool" = each.key })
    taint {
      key    = "hub.jupyter.org_dedicated"
      value  = "user"
      effect = "NO_SCHEDULE"
    }
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

data "google_project" "current" {}

resource "google_billing_budget" "hub" {
  count           = local.budget_usd > 0 && var.billing_account == "provider" ? 1 : 0
  billing_account = var.extra["billing_account_id"]
  display_name    = "CommunityHub ${var.hub_name}"
  budget_filter {
    projects = ["projects/${data.google_project.current.number}"]
    labels   = { hub = var.hub_name }
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
