# An AKS cluster for one CommunityHub: its own resource group, a small system (core) pool,
# autoscaled user pools (scaling to zero), tags for cost attribution, a budget alert on the group.

locals {
  cluster_name = substr("hub-${var.hub_name}", 0, 40)
  tags         = merge(var.labels, { hub = var.hub_name, billing-account = var.billing_account, managed-by = "communityhub-operator" })
  budget_usd   = tonumber(lookup(var.extra, "monthly_budget_usd", "0"))
}

resource "azurerm_resource_group" "hub" {
  name     = "rg-${local.cluster_name}"
  location = var.region
  tags     = local.tags
}

resource "azurerm_kubernetes_cluster" "hub" {
  name                = local.cluster_name
  location            = azurerm_resource_group.hub.location
  resource_group_name = azurerm_resource_group.hub.name
  dns_prefix          = local.cluster_name
  kubernetes_version  = lookup(var.extra, "kubernetes_version", null)
  tags                = local.tags

  default_node_pool {
    name                 = "core"
    vm_size              = "Standard_D2s_v5"
    auto_scaling_enabled = true
    min_count            = 1
    max_count            = 2
    node_labels          = { "hub.jupyter.org/node-purpose" = "core" }
  }
  identity {
    type = "SystemAssigned"
  }
  network_profile {
    network_plugin = "azure"
    network_policy = "calico"
  }
}

resource "azurerm_kubernetes_cluster_node_pool" "user" {
  for_each              = { for pool in var.node_pools : pool.name => pool }
  name                  = substr(replace("u${each.key}", "-", ""), 0, 12)
  kubernetes_cluster_id = azurerm_kubernetes_cluster.hub.id
  vm_size               = each.value.machine_type
  auto_scaling_enabled  = true
  min_count             = each.value.min
  max_count             = each.value.max
  node_labels           = { "hub.jupyter.org/node-purpose" = "user", "hubs.2i2c.org/node-pool" = each.key }
  node_taints           = ["hub.jupyter.org/dedicated=user:NoSchedule"]
  tags                  = local.tags
}

resource "azurerm_consumption_budget_resource_group" "hub" {
  count             = local.budget_usd > 0 && var.billing_account == "provider" ? 1 : 0
  name              = "communityhub-${var.hub_name}"
  resource_group_id = azurerm_resource_group.hub.id
  amount            = local.budget_usd
  time_grain        = "Monthly"
  time_period {
    start_date = formatdate("YYYY-MM-01'T'00:00:00Z", plantimestamp())
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
