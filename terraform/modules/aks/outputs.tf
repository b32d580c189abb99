output "cluster_name" {
  description = "Name of the cluster."
  value       = azurerm_kubernetes_cluster.hub.name
}

output "endpoint" {
  description = "API server URL (from the cluster's FQDN: kube_config is sensitive in azurerm)."
  value       = "https://${azurerm_kubernetes_cluster.hub.fqdn}:443"
}

output "ca_certificate" {
  description = "PEM CA certificate of the API server."
  value       = base64decode(azurerm_kubernetes_cluster.hub.kube_config[0].cluster_ca_certificate)
  sensitive   = true
}

output "kubeconfig" {
  description = "An admin kubeconfig for the cluster."
  value       = azurerm_kubernetes_cluster.hub.kube_config_raw
  sensitive   = true
}
