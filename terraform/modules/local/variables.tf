# The interface every cluster module shares (gke, eks, aks, local).

variable "hub_name" {
  description = "Name of the CommunityHub; names the cluster and tags every resource for cost attribution."
  type        = string
}

variable "region" {
  description = "Cloud region."
  type        = string
}

variable "zone" {
  description = "Zone of every node pool (home volumes are zonal); empty: the region's first zone."
  type        = string
  default     = ""
}

variable "node_pools" {
  description = "User node pools; a small core pool is always added. gpu_type empty: no accelerators."
  type = list(object({
    name         = string
    machine_type = string
    min          = number
    max          = number
    gpu_type     = string
    gpu_count    = number
  }))
  validation {
    condition     = length(distinct([for p in var.node_pools : p.name])) == length(var.node_pools)
    error_message = "Node pool names must be unique."
  }
}

variable "labels" {
  description = "Labels (tags) put on every resource; they carry the hub's name for cost attribution."
  type        = map(string)
  default     = {}
}

variable "billing_account" {
  description = "Who pays the cloud bill: provider or customer."
  type        = string
  validation {
    condition     = contains(["provider", "customer"], var.billing_account)
    error_message = "billing_account must be provider or customer."
  }
}

variable "extra" {
  description = "Cloud-specific settings (local: kubeconfig_path, provision_seconds)."
  type        = map(string)
  default     = {}
}
