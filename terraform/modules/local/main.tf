# The development and test target: the same interface as the cloud modules, built only from
# Terraform's built-in resources. The "cluster" is a control plane started beforehand (the test
# fixture's workload cluster, `make cluster-up NAME=workload`), whose kubeconfig this module hands back.

locals {
  kubeconfig_path = var.extra["kubeconfig_path"]
  kubeconfig      = yamldecode(file(local.kubeconfig_path))
  cluster_name    = "${var.hub_name}-${var.region}"
  core_pool       = { name = "core", machine_type = "n2-standard-2", min = 1, max = 2, gpu_type = "", gpu_count = 0 }
  pools           = { for pool in concat([local.core_pool], var.node_pools) : pool.name => pool }
}

resource "terraform_data" "cluster" {
  input = {
    name            = local.cluster_name
    region          = var.region
    billing_account = var.billing_account
    labels          = merge(var.labels, { "hub" = var.hub_name })
  }

  # Stands for the minutes a cloud takes to create a cluster (tests use it to interrupt an apply), and
  # for a cloud API that refuses anyone without credentials, the customer's or the provider's: those
  # arrive only through Terraform's environment (LOCAL_CLOUD_TOKEN here, GOOGLE_CREDENTIALS or AWS_* for
  # real clouds).
  provisioner "local-exec" {
    command = <<-EOT
      sleep ${lookup(var.extra, "provision_seconds", "0")}
      if [ -z "$LOCAL_CLOUD_TOKEN" ]; then
        echo "${var.billing_account} account without credentials: LOCAL_CLOUD_TOKEN is not set" >&2
        exit 1
      fi
    EOT
  }
}

resource "terraform_data" "node_pool" {
  for_each = local.pools

  lifecycle {
    precondition {
      # What a cloud API would refuse: a machine type it does not offer.
      condition     = can(regex("^(e2|n1|n2|n2d|c2|c3)-(standard|highmem|highcpu)-[0-9]+$", each.value.machine_type))
      error_message = "Unknown machine type ${each.value.machine_type} in node pool ${each.key}."
    }
  }
  input = {
    cluster      = terraform_data.cluster.output.name
    name         = each.value.name
    zone         = var.zone != "" ? var.zone : "${var.region}-a"
    machine_type = each.value.machine_type
    gpus         = each.value.gpu_type != "" ? "${each.value.gpu_count}x${each.value.gpu_type}" : ""
    min          = each.value.min
    max          = each.value.max
  }
}
