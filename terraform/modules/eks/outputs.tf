output "cluster_name" {
  description = "Name of the cluster."
  value       = aws_eks_cluster.hub.name
}

output "endpoint" {
  description = "API server URL."
  value       = aws_eks_cluster.hub.endpoint
}

output "ca_certificate" {
  description = "PEM CA certificate of the API server."
  value       = base64decode(aws_eks_cluster.hub.certificate_authority[0].data)
}

output "kubeconfig" {
  description = "An admin kubeconfig with a token of Terraform's principal (about 15 minutes: the operator uses it once, to give itself a renewable identity in the cluster; no aws CLI)."
  sensitive   = true
  value = yamlencode({
    apiVersion = "v1"
    kind       = "Config"
    clusters = [{
      name    = aws_eks_cluster.hub.name
      cluster = { server = aws_eks_cluster.hub.endpoint, certificate-authority-data = aws_eks_cluster.hub.certificate_authority[0].data }
    }]
    users           = [{ name = "terraform", user = { token = data.aws_eks_cluster_auth.hub.token } }]
    contexts        = [{ name = aws_eks_cluster.hub.name, context = { cluster = aws_eks_cluster.hub.name, user = "terraform" } }]
    current-context = aws_eks_cluster.hub.name
  })
}
