output "urls" {
  description = "Bucket name -> its URL."
  value       = { for name, b in local.buckets : name => "s3://${terraform_data.bucket[name].output.bucket}" }
}

output "service_account_annotations" {
  description = "What binds the users' ServiceAccount to the buckets' identity (none here)."
  value       = {}
}

output "pod_labels" {
  description = "Labels the users' pods need for that identity (none here)."
  value       = {}
}
