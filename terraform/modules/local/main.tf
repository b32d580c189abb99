# The development and test target: the same interface as the cloud modules, built only from
# Terraform's built-in resources. The "cluster" is a control plane started beforehand (the test
# fixture's workload cluster, `make cluster-up NAME=workload`), whose kubeconfig this module hands back.

locals {
  kubeconfig_path = var.extra["kubeconfig_path"]
  kubeconfig      = yamldecode(file(local.kubeconfig_path))
  cluster_name    = "${var.hub_name}-${var.region}"
  core_pool       = { name = "core", machine_type = "n2-standard-2", min = 1, max = 2 }
  pools           = { for pool in concat([local.core_pool], var.node_pools) : pool.name => pool }
}

resource "terraform_data" "cluster" {
  input = {
    name            = local.cluster_name
    region          = var.region
    billing_account = var.billing_account
    labels          = merge(var.labels, { "hub" = var.hub_name })
  }

  # Stands for the minutes a cloud takes to create a cluster (tests use it to interrupt an apply).
  provisioner "local-exec" {
    command = "sleep ${lookup(var.extra, "provision_seconds", "0")}"
  }
}

resource "terraform_data" "node_pool" {
  for_each = local.pools
  input = {
    cluster      = terraform_data.cluster.output.name
    name         = each.value.name
    machine_type = each.value.machine_type
    min          = each.value.min
    max          = each.value.max
  }
}
