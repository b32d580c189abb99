# A hub's buckets on Azure Blob Storage: a storage account per hub (HTTPS only, TLS 1.2, no public blobs,
# no shared keys), a container per spec entry, scratch blobs deleted after N days, tags for cost attribution;
# a user-assigned identity per hub that the users' Kubernetes ServiceAccount takes through Azure Workload
# Identity (a federated credential on the AKS cluster's OIDC issuer), with data rights on the account only;
# outside readers get Storage Blob Data Reader.

locals {
  buckets = { for b in var.buckets : b.name => b }
  tags    = merge(var.labels, { hub = var.hub_name, managed-by = "communityhub-operator" })
  # Storage account names: 3 to 24 lowercase letters and digits, unique in Azure.
  account = "hub${substr(replace(lower(var.hub_name), "/[^a-z0-9]/", ""), 0, 13)}${substr(sha1(var.hub_name), 0, 8)}"
  readers = merge([for b in var.buckets : { for r in b.readers : "${b.name}/${r}" => { bucket = b.name, principal = r } }]...)
}

data "azurerm_kubernetes_cluster" "hub" {
  name                = var.extra["cluster_name"]
  resource_group_name = var.extra["resource_group"]
}

resource "azurerm_storage_account" "hub" {
  #checkov:skip=CKV_AZURE_33: queue logging concerns the queue service, which the hub does not use
  #checkov:skip=CKV_AZURE_35: the users' servers reach it from the cluster's public egress addresses; access is by Entra ID identity only (no shared key)
  #checkov:skip=CKV_AZURE_59: as CKV_AZURE_35: public network access with identity-only authorization
  #checkov:skip=CKV_AZURE_206: locally redundant storage: scratch and working data, at a third of geo-redundant prices
  #checkov:skip=CKV2_AZURE_1: encrypted at rest with platform keys; a customer-managed key needs a Key Vault per hub
  #checkov:skip=CKV2_AZURE_33: a private endpoint would need the cluster's VNet peered into the account's; the users reach it over TLS with identity
  #checkov:skip=CKV2_AZURE_38: soft delete keeps every deleted scratch object for days and bills for it
  name                            = local.account
  resource_group_name             = var.extra["resource_group"]
  location                        = var.region
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false
  tags                            = local.tags
}

resource "azurerm_storage_container" "bucket" {
  #checkov:skip=CKV2_AZURE_21: read logging of every blob bills per GB; the hub's own users are its only writers
  for_each              = local.buckets
  name                  = each.value.bucket
  storage_account_id    = azurerm_storage_account.hub.id
  container_access_type = "private"
}

resource "azurerm_storage_management_policy" "scratch" {
  count              = length([for b in var.buckets : b if b.type == "scratch"]) > 0 ? 1 : 0
  storage_account_id = azurerm_storage_account.hub.id
  dynamic "rule" {
    for_each = { for name, b in local.buckets : name => b if b.type == "scratch" }
    content {
      name    = "expire-${rule.key}"
      enabled = true
      filters {
        blob_types   = ["blockBlob"]
        prefix_match = ["${rule.value.bucket}/"]
      }
      actions {
        base_blob {
          delete_after_days_since_modification_greater_than = rule.value.expire_after_days
        }
      }
    }
  }
}

resource "azurerm_user_assigned_identity" "users" {
  name                = "users-${var.hub_name}"
  resource_group_name = var.extra["resource_group"]
  location            = var.region
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "users" {
  name                = "users-${var.hub_name}"
  resource_group_name = var.extra["resource_group"]
  parent_id           = azurerm_user_assigned_identity.users.id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = data.azurerm_kubernetes_cluster.hub.oidc_issuer_url
  subject             = "system:serviceaccount:${var.service_account.namespace}:${var.service_account.name}"
}

resource "azurerm_role_assignment" "users" {
  for_each             = azurerm_storage_container.bucket
  scope                = each.value.resource_manager_id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.users.principal_id
}

resource "azurerm_role_assignment" "readers" {
  for_each             = local.readers
  scope                = azurerm_storage_container.bucket[each.value.bucket].resource_manager_id
  role_definition_name = "Storage Blob Data Reader"
  principal_id         = each.value.principal
}
