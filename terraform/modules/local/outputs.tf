output "cluster_name" {
  description = "Name of the cluster."
  value       = terraform_data.cluster.output.name
}

output "endpoint" {
  description = "API server URL."
  value       = local.kubeconfig.clusters[0].cluster.server
}

output "ca_certificate" {
  description = "PEM CA certificate of the API server."
  value       = base64decode(local.kubeconfig.clusters[0].cluster["certificate-authority-data"])
}

output "kubeconfig" {
  description = "A kubeconfig with admin rights on the cluster."
  value       = file(local.kubeconfig_path)
  sensitive   = true
}
