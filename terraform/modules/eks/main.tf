# An EKS cluster for one CommunityHub: its own VPC (the control plane needs subnets in two zones; every node
# group lives in one, since home volumes are zonal), a small core node group and autoscaled user node groups
# that grow from zero (the cluster autoscaler, installed here, reads their labels and taints from the EKS API),
# the VPC CNI enforcing the chart's NetworkPolicies, the EBS CSI driver with a default StorageClass, secrets
# encrypted with a KMS key, and the hub's tags on every resource, the instances and every volume included, so
# cost allocation and the budget see the whole bill.
#
# Compared with 2i2c-org/infrastructure (eksctl templates, see docs/operations.md): the same single-zone node
# groups, taints and labels, EBS CSI driver and cluster autoscaler; Terraform instead of eksctl, EKS Pod Identity
# instead of IRSA, and public subnets instead of a NAT gateway.

locals {
  cluster_name = substr("hub-${var.hub_name}", 0, 40)
  budget_usd   = tonumber(lookup(var.extra, "monthly_budget_usd", "0"))
  azs          = slice(data.aws_availability_zones.available.names, 0, 2)
  zone         = var.zone != "" ? var.zone : local.azs[0]
  tags         = merge(var.labels, { hub = var.hub_name, billing-account = var.billing_account, managed-by = "communityhub-operator" })
  pools = merge(
    { core = { name = "core", machine_type = "t3.large", min = 1, max = 2, gpu_type = "", gpu_count = 0, purpose = "core" } },
    { for pool in var.node_pools : "user-${pool.name}" => merge(pool, { purpose = "user" }) },
  )
}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394: the zone is the hub's choice (spec zone); the first two available zones are only the default
  state = "available"
}

data "aws_caller_identity" "current" {}

resource "aws_vpc" "hub" {
  #checkov:skip=CKV2_AWS_11: VPC flow logs bill every packet of every user; a provider turns them on per incident
  cidr_block           = "10.60.0.0/16"
  enable_dns_hostnames = true
  tags                 = { Name = local.cluster_name }
}

resource "aws_default_security_group" "hub" {
  vpc_id = aws_vpc.hub.id # no rules: nothing may use the default group
}

resource "aws_internet_gateway" "hub" {
  vpc_id = aws_vpc.hub.id
}

resource "aws_subnet" "public" {
  #checkov:skip=CKV_AWS_130: nodes reach the internet (users' pip, git) through public addresses: a NAT gateway would cost about $32 a month per hub
  for_each                = toset(distinct(concat([local.zone], local.azs)))
  vpc_id                  = aws_vpc.hub.id
  availability_zone       = each.key
  cidr_block              = cidrsubnet(aws_vpc.hub.cidr_block, 4, index(distinct(concat([local.zone], local.azs)), each.key))
  map_public_ip_on_launch = true
  tags = {
    "kubernetes.io/role/elb"                      = "1"
    "kubernetes.io/cluster/${local.cluster_name}" = "shared"
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.hub.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.hub.id
  }
}

resource "aws_route_table_association" "public" {
  for_each       = aws_subnet.public
  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

data "aws_iam_policy_document" "assume" {
  for_each = toset(["eks.amazonaws.com", "ec2.amazonaws.com"])
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.key]
    }
  }
}

data "aws_iam_policy_document" "pod_identity" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${local.cluster_name}-cluster"
  assume_role_policy = data.aws_iam_policy_document.assume["eks.amazonaws.com"].json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_iam_role" "nodes" {
  name               = "${local.cluster_name}-nodes"
  assume_role_policy = data.aws_iam_policy_document.assume["ec2.amazonaws.com"].json
}

resource "aws_iam_role_policy_attachment" "nodes" {
  for_each   = toset(["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"])
  role       = aws_iam_role.nodes.name
  policy_arn = "arn:aws:iam::aws:policy/${each.key}"
}

resource "aws_kms_key" "secrets" {
  description         = "Secrets of CommunityHub cluster ${local.cluster_name}"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_eks_cluster" "hub" {
  #checkov:skip=CKV_AWS_37: control-plane logs to CloudWatch bill per GB; a provider enables them per cluster when it needs them
  #checkov:skip=CKV_AWS_38: the operator and the provider's engineers reach the API from anywhere; it is authenticated and RBAC-bound
  #checkov:skip=CKV_AWS_39: a private-only endpoint would lock out the operator, which runs outside the VPC
  name     = local.cluster_name
  role_arn = aws_iam_role.cluster.arn
  version  = lookup(var.extra, "kubernetes_version", null)
  vpc_config {
    subnet_ids = [for s in aws_subnet.public : s.id]
  }
  access_config {
    # Terraform's principal (the provider's or the customer's) administers the cluster: the token below is its,
    # and the operator uses it once, to give itself a ServiceAccount of its own in the cluster.
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }
  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.secrets.arn
    }
  }
  depends_on = [aws_iam_role_policy_attachment.cluster]
}

data "aws_eks_cluster_auth" "hub" {
  name = aws_eks_cluster.hub.name
}

resource "aws_eks_addon" "pod_identity" {
  cluster_name = aws_eks_cluster.hub.name
  addon_name   = "eks-pod-identity-agent"
}

resource "aws_eks_addon" "vpc_cni" {
  cluster_name         = aws_eks_cluster.hub.name
  addon_name           = "vpc-cni"
  configuration_values = jsonencode({ enableNetworkPolicy = "true" }) # the chart's NetworkPolicies are enforced
}

resource "aws_iam_role" "ebs_csi" {
  name               = "${local.cluster_name}-ebs-csi"
  assume_role_policy = data.aws_iam_policy_document.pod_identity.json
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

resource "aws_eks_addon" "ebs_csi" {
  cluster_name = aws_eks_cluster.hub.name
  addon_name   = "aws-ebs-csi-driver"
  # New clusters have no default StorageClass since 1.30: the driver makes one (gp3), and tags every volume it
  # creates (home and hub database claims) with the hub's tags.
  configuration_values = jsonencode({
    defaultStorageClass = { enabled = true }
    controller          = { extraVolumeTags = local.tags }
  })
  pod_identity_association {
    role_arn        = aws_iam_role.ebs_csi.arn
    service_account = "ebs-csi-controller-sa"
  }
  depends_on = [aws_eks_addon.pod_identity, aws_eks_node_group.pool]
}

resource "aws_launch_template" "pool" {
  for_each = local.pools
  name     = "${local.cluster_name}-${each.key}"
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1 # pods use EKS Pod Identity, never the node's role
  }
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = each.value.purpose == "core" ? 50 : 100
      volume_type = "gp3"
      encrypted   = true
    }
  }
  # Managed node groups do not pass their tags on: the instances and their volumes get them here.
  dynamic "tag_specifications" {
    for_each = toset(["instance", "volume", "network-interface"])
    content {
      resource_type = tag_specifications.value
      tags          = merge(local.tags, { node-pool = each.value.name })
    }
  }
}

resource "aws_eks_node_group" "pool" {
  for_each        = local.pools
  cluster_name    = aws_eks_cluster.hub.name
  node_group_name = substr(each.key, 0, 63)
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = [aws_subnet.public[local.zone].id] # one zone: a home volume and its pod meet again
  instance_types  = [each.value.machine_type]
  ami_type        = each.value.gpu_type != "" ? "AL2023_x86_64_NVIDIA" : "AL2023_x86_64_STANDARD"
  labels = merge(
    { "hub.jupyter.org/node-purpose" = each.value.purpose },
    each.value.purpose == "user" ? { "hubs.2i2c.org/node-pool" = each.value.name, "k8s.dask.org/node-purpose" = "scheduler" } : {},
  )
  dynamic "taint" {
    for_each = concat(
      each.value.purpose == "user" ? [{ key = "hub.jupyter.org/dedicated", value = "user" }] : [],
      each.value.gpu_type != "" ? [{ key = "nvidia.com/gpu", value = "present" }] : [],
    )
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = "NO_SCHEDULE"
    }
  }
  launch_template {
    id      = aws_launch_template.pool[each.key].id
    version = aws_launch_template.pool[each.key].latest_version
  }
  scaling_config {
    min_size     = max(each.value.min, 0)
    desired_size = each.value.min
    max_size     = each.value.max
  }
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size] # the cluster autoscaler owns it
  }
  depends_on = [aws_iam_role_policy_attachment.nodes, aws_eks_addon.vpc_cni]
}

# The cluster autoscaler: grows a pool from zero when a user's pod waits, shrinks it when idle.
data "aws_iam_policy_document" "autoscaler" {
  statement {
    actions = ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements"]
    resources = ["*"] # these Describe calls take no resource
  }
  statement {
    actions   = ["eks:DescribeNodegroup"] # the pools' labels and taints, to grow one from zero
    resources = ["arn:aws:eks:${var.region}:${data.aws_caller_identity.current.account_id}:nodegroup/${local.cluster_name}/*/*"]
  }
  statement {
    actions   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    resources = ["arn:aws:autoscaling:${var.region}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/eks-*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/eks:cluster-name"
      values   = [aws_eks_cluster.hub.name]
    }
  }
}

resource "aws_iam_role" "autoscaler" {
  name               = "${local.cluster_name}-autoscaler"
  assume_role_policy = data.aws_iam_policy_document.pod_identity.json
}

resource "aws_iam_role_policy" "autoscaler" {
  name   = "cluster-autoscaler"
  role   = aws_iam_role.autoscaler.id
  policy = data.aws_iam_policy_document.autoscaler.json
}

resource "aws_eks_pod_identity_association" "autoscaler" {
  cluster_name    = aws_eks_cluster.hub.name
  namespace       = "kube-system"
  service_account = "cluster-autoscaler"
  role_arn        = aws_iam_role.autoscaler.arn
}

resource "helm_release" "autoscaler" {
  name       = "cluster-autoscaler"
  namespace  = "kube-system"
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = lookup(var.extra, "cluster_autoscaler_chart_version", "9.46.6")
  values = [yamlencode({
    cloudProvider = "aws"
    awsRegion     = var.region
    autoDiscovery = { clusterName = aws_eks_cluster.hub.name }
    rbac          = { serviceAccount = { name = "cluster-autoscaler" } }
    extraArgs     = { "balance-similar-node-groups" = true, "skip-nodes-with-local-storage" = false }
    nodeSelector  = { "hub.jupyter.org/node-purpose" = "core" }
  })]
  depends_on = [aws_eks_pod_identity_association.autoscaler, aws_eks_node_group.pool]
}

resource "aws_budgets_budget" "hub" {
  count        = local.budget_usd > 0 && var.billing_account == "provider" ? 1 : 0
  name         = "communityhub-${var.hub_name}"
  budget_type  = "COST"
  limit_amount = tostring(local.budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"
  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:hub$%s", var.hub_name)] # instances and volumes carry the tag (launch templates, CSI)
  }
  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 80
    threshold_type             = "PERCENTAGE"
    notification_type          = "FORECASTED"
    subscriber_email_addresses = [var.extra["budget_email"]]
  }
}
