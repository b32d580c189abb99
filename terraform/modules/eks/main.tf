# An EKS cluster for one CommunityHub: its own VPC over two zones, a small core node group and
# autoscaled user node groups (scaling to zero), every resource tagged with the hub for cost
# allocation, and a monthly budget alert on that tag.

locals {
  cluster_name = substr("hub-${var.hub_name}", 0, 40)
  budget_usd   = tonumber(lookup(var.extra, "monthly_budget_usd", "0"))
  azs          = slice(data.aws_availability_zones.available.names, 0, 2)
}

data "aws_availability_zones" "available" {
  state = "available"
}

resource "aws_vpc" "hub" {
  cidr_block           = "10.60.0.0/16"
  enable_dns_hostnames = true
  tags                 = { Name = local.cluster_name }
}

resource "aws_internet_gateway" "hub" {
  vpc_id = aws_vpc.hub.id
}

resource "aws_subnet" "public" {
  for_each                = { for i, az in local.azs : az => i }
  vpc_id                  = aws_vpc.hub.id
  availability_zone       = each.key
  cidr_block              = cidrsubnet(aws_vpc.hub.cidr_block, 4, each.value)
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

resource "aws_eks_cluster" "hub" {
  name     = local.cluster_name
  role_arn = aws_iam_role.cluster.arn
  version  = lookup(var.extra, "kubernetes_version", null)
  vpc_config {
    subnet_ids = [for s in aws_subnet.public : s.id]
  }
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }
  depends_on = [aws_iam_role_policy_attachment.cluster]
}

resource "aws_eks_node_group" "core" {
  cluster_name    = aws_eks_cluster.hub.name
  node_group_name = "core"
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = [for s in aws_subnet.public : s.id]
  instance_types  = ["t3.large"]
  labels          = { "hub.jupyter.org/node-purpose" = "core" }
  scaling_config {
    min_size     = 1
    desired_size = 1
    max_size     = 2
  }
  depends_on = [aws_iam_role_policy_attachment.nodes]
}

resource "aws_eks_node_group" "user" {
  for_each        = { for pool in var.node_pools : pool.name => pool }
  cluster_name    = aws_eks_cluster.hub.name
  node_group_name = "user-${each.key}"
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = [for s in aws_subnet.public : s.id]
  instance_types  = [each.value.machine_type]
  labels          = { "hub.jupyter.org/node-purpose" = "user", "hubs.2i2c.org/node-pool" = each.key }
  taint {
    key    = "hub.jupyter.org/dedicated"
    value  = "user"
    effect = "NO_SCHEDULE"
  }
  scaling_config {
    min_size     = each.value.min
    desired_size = each.value.min
    max_size     = each.value.max
  }
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size] # the cluster autoscaler owns it
  }
  depends_on = [aws_iam_role_policy_attachment.nodes]
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
    values = [format("user:hub$%s", var.hub_name)] # AWS tag filter syntax: user:<key>$<value>
  }
  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 80
    threshold_type             = "PERCENTAGE"
    notification_type          = "FORECASTED"
    subscriber_email_addresses = [var.extra["budget_email"]]
  }
}
