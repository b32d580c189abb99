# The interface every bucket module shares (buckets-gcs, buckets-s3, buckets-blob, buckets-local).

variable "hub_name" {
  description = "Stem of the hub's names; tags every resource for cost attribution."
  type        = string
}

variable "region" {
  description = "Cloud region of the buckets (the hub's cluster's)."
  type        = string
}

variable "buckets" {
  description = "The hub's buckets: its name, the cloud's bucket name, scratch or persistent, days before a scratch object expires, outside readers."
  type = list(object({
    name              = string
    bucket            = string
    type              = string
    expire_after_days = number
    readers           = list(string)
  }))
  validation {
    condition     = alltrue([for b in var.buckets : contains(["scratch", "persistent"], b.type)])
    error_message = "A bucket is scratch or persistent."
  }
}

variable "service_account" {
  description = "The users' Kubernetes ServiceAccount (namespace, name) that the buckets' cloud identity trusts."
  type        = object({ namespace = string, name = string })
}

variable "labels" {
  description = "Labels (tags) put on every resource; they carry the hub's name for cost attribution."
  type        = map(string)
  default     = {}
}

variable "extra" {
  description = "Cloud-specific settings (s3: cluster_name, for EKS Pod Identity)."
  type        = map(string)
  default     = {}
}
