output "cluster_name" {
  description = "Name of the cluster."
  value       = google_container_cluster.hub.name
}

output "endpoint" {
  description = "API server URL."
  value       = "https://${google_container_cluster.hub.endpoint}"
}

output "ca_certificate" {
  description = "PEM CA certificate of the API server."
  value       = base64decode(google_container_cluster.hub.master_auth[0].cluster_ca_certificate)
}

output "kubeconfig" {
  description = "An admin kubeconfig with the access token of Terraform's credentials (about an hour: the operator uses it once, to give itself a renewable identity in the cluster)."
  sensitive   = true
  value = yamlencode({
    apiVersion = "v1"
    kind       = "Config"
    clusters = [{
      name = local.cluster_name
      cluster = {
        server                     = "https://${google_container_cluster.hub.endpoint}"
        certificate-authority-data = google_container_cluster.hub.master_auth[0].cluster_ca_certificate
      }
    }]
    users           = [{ name = "terraform", user = { token = data.google_client_config.current.access_token } }]
    contexts        = [{ name = local.cluster_name, context = { cluster = local.cluster_name, user = "terraform" } }]
    current-context = local.cluster_name
  })
}
