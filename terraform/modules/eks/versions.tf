terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 7.0" # aws_eks_addon pod_identity_association
    }
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.12, < 3.0"
    }
  }
}

provider "aws" {
  # Credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
  region = var.region
  default_tags {
    tags = merge(var.labels, { hub = var.hub_name, billing-account = var.billing_account, managed-by = "communityhub-operator" })
  }
}

provider "helm" {
  kubernetes {
    host                   = aws_eks_cluster.hub.endpoint
    cluster_ca_certificate = base64decode(aws_eks_cluster.hub.certificate_authority[0].data)
    token                  = data.aws_eks_cluster_auth.hub.token
  }
}
