output "urls" {
  description = "Bucket name -> its URL (adlfs/fsspec form: az://<container>, the account in the host part)."
  value = { for name, c in azurerm_storage_container.bucket :
  name => "az://${c.name}@${azurerm_storage_account.hub.name}.blob.core.windows.net" }
}

output "service_account_annotations" {
  description = "Azure Workload Identity: the identity the users' ServiceAccount takes."
  value       = { "azure.workload.identity/client-id" = azurerm_user_assigned_identity.users.client_id }
}

output "pod_labels" {
  description = "Azure Workload Identity injects the token only into pods that carry this label."
  value       = { "azure.workload.identity/use" = "true" }
}
