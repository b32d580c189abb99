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
  description = "A kubeconfig that gets tokens with `aws eks get-token` under the credentials in the environment."
  sensitive   = true
  value = yamlencode({
    apiVersion = "v1"
    kind       = "Config"
    clusters = [{
      name    = aws_eks_cluster.hub.name
      cluster = { server = aws_eks_cluster.hub.endpoint, certificate-authority-data = aws_eks_cluster.hub.certificate_authority[0].data }
    }]
    users = [{
      name = "terraform"
      user = { exec = {
        apiVersion = "client.authentication.k8s.io/v1beta1"
        command    = "aws"
        args       = ["eks", "get-token", "--cluster-name", aws_eks_cluster.hub.name, "--region", var.region]
      } }
    }]
    contexts        = [{ name = aws_eks_cluster.hub.name, context = { cluster = aws_eks_cluster.hub.name, user = "terraform" } }]
    current-context = aws_eks_cluster.hub.name
  })
}
