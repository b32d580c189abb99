# An AKS cluster for one CommunityHub: its own resource group (and a node resource group named after it, not
# MC_*), a small system pool for the hub and proxy, autoscaled user pools that grow from zero in one zone (home
# volumes are zonal), GPU pools tainted for GPU profiles, Calico enforcing the chart's NetworkPolicies, the
# Azure Disk CSI driver with its default StorageClass, tags on the cluster and every node pool (so on the VM
# scale sets), and a budget that covers both resource groups, where the VMs and disks are.
#
# Compared with 2i2c-org/infrastructure's AKS clusters (see docs/operations.md): the same system/user split,
# autoscaled user pools, Calico and taints; Azure CNI overlay rather than kubenet, and one zone per cluster.

locals {
  cluster_name = substr("hub-${var.hub_name}", 0, 40)
  tags         = merge(var.labels, { hub = var.hub_name, billing-account = var.billing_account, managed-by = "communityhub-operator" })
  budget_usd   = tonumber(lookup(var.extra, "monthly_budget_usd", "0"))
  zone         = var.zone != "" ? var.zone : "1"
  # Linux pool names: at most 12 lowercase letters and digits, starting with a letter. A digest of the whole
  # name keeps two pools apart (user-a-large and user-a-larger once met as "uusera...").
  pool_names = { for pool in var.node_pools : pool.name => "u${substr(replace(lower(pool.name), "/[^a-z0-9]/", ""), 0, 4)}${substr(sha1(pool.name), 0, 7)}" }
}

data "azurerm_subscription" "current" {}

resource "azurerm_resource_group" "hub" {
  name     = "rg-${local.cluster_name}"
  location = var.region
  tags     = local.tags
}

resource "azurerm_kubernetes_cluster" "hub" {
  #checkov:skip=CKV_AZURE_141: the module's admin credential serves once, for the operator to give itself a ServiceAccount; Entra ID login needs kubelogin
  #checkov:skip=CKV_AZURE_117: disks are encrypted at rest with platform keys; a customer-managed key needs a Key Vault per hub
  #checkov:skip=CKV_AZURE_226: ephemeral OS disks need VM sizes with a cache disk; the core size (D2s_v5) has none
  #checkov:skip=CKV_AZURE_227: host encryption needs the EncryptionAtHost feature registered on the subscription, which customer accounts may not have
  #checkov:skip=CKV_AZURE_232: the system pool is the hub's core pool (the hub and proxy run there), so it is not CriticalAddonsOnly
  #checkov:skip=CKV_AZURE_170: the paid SLA tier costs about $73 a month per cluster; a community hub runs on the free tier
  #checkov:skip=CKV_AZURE_4: Azure Monitor logs bill per GB; a provider turns them on per cluster when it needs them
  #checkov:skip=CKV_AZURE_172: the Secrets Store CSI driver is not used
  #checkov:skip=CKV_AZURE_116: no Azure Policy is assigned; the operator's admission policies guard the hub's namespace
  #checkov:skip=CKV_AZURE_6: the operator and the provider's engineers reach the API from anywhere; it is authenticated and RBAC-bound
  #checkov:skip=CKV_AZURE_115: a private API endpoint would lock out the operator, which runs outside the cluster's network
  name                      = local.cluster_name
  location                  = azurerm_resource_group.hub.location
  resource_group_name       = azurerm_resource_group.hub.name
  node_resource_group       = "rg-${local.cluster_name}-nodes"
  dns_prefix                = local.cluster_name
  kubernetes_version        = lookup(var.extra, "kubernetes_version", null)
  automatic_upgrade_channel = "patch"
  oidc_issuer_enabled       = true # Azure Workload Identity: the users' buckets (buckets-blob) trust this issuer
  workload_identity_enabled = true
  sku_tier                  = "Free"
  tags                      = local.tags

  default_node_pool {
    name                 = "core"
    vm_size              = "Standard_D2s_v5"
    auto_scaling_enabled = true
    min_count            = 1
    max_count            = 2
    max_pods             = 110
    zones                = [local.zone]
    node_labels          = { "hub.jupyter.org/node-purpose" = "core", "k8s.dask.org/node-purpose" = "core" }
    tags                 = local.tags
    upgrade_settings {
      max_surge = "10%"
    }
  }
  identity {
    type = "SystemAssigned"
  }
  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_policy      = "calico" # the chart's NetworkPolicies are enforced
  }
  storage_profile {
    disk_driver_enabled = true # its managed-csi StorageClass is the cluster's default
  }
  auto_scaler_profile {
    scale_down_unneeded = "10m"
  }
}

resource "azurerm_kubernetes_cluster_node_pool" "user" {
  #checkov:skip=CKV_AZURE_227: host encryption needs the EncryptionAtHost feature registered on the subscription, which customer accounts may not have
  for_each              = { for pool in var.node_pools : pool.name => pool }
  name                  = local.pool_names[each.key]
  kubernetes_cluster_id = azurerm_kubernetes_cluster.hub.id
  vm_size               = each.value.machine_type
  auto_scaling_enabled  = true
  min_count             = each.value.min # AKS grows a user pool from zero
  max_count             = each.value.max
  max_pods              = 110
  zones                 = [local.zone]
  node_labels = {
    "hub.jupyter.org/node-purpose" = "user", "k8s.dask.org/node-purpose" = "scheduler",
    "hubs.2i2c.org/node-pool"      = each.key
  }
  node_taints = concat(["hub.jupyter.org/dedicated=user:NoSchedule"],
  each.value.gpu_type != "" ? ["nvidia.com/gpu=present:NoSchedule"] : [])
  tags = merge(local.tags, { node-pool = each.key })
}

resource "azurerm_consumption_budget_subscription" "hub" {
  count           = local.budget_usd > 0 && var.billing_account == "provider" ? 1 : 0
  name            = "communityhub-${var.hub_name}"
  subscription_id = data.azurerm_subscription.current.id
  amount          = local.budget_usd
  time_grain      = "Monthly"
  time_period {
    start_date = formatdate("YYYY-MM-01'T'00:00:00Z", plantimestamp())
  }
  filter {
    # The cluster's group and the node group: the VMs, their disks and the users' volumes are in the second.
    dimension {
      name   = "ResourceGroupName"
      values = [azurerm_resource_group.hub.name, azurerm_kubernetes_cluster.hub.node_resource_group]
    }
  }
  notification {
    operator       = "GreaterThan"
    threshold      = 80
    threshold_type = "Forecasted"
    contact_emails = [var.extra["budget_email"]]
  }
  lifecycle {
    ignore_changes = [time_period] # the start date is fixed at creation
  }
}
