output "urls" {
  description = "Bucket name -> its URL."
  value       = { for name, b in aws_s3_bucket.bucket : name => "s3://${b.bucket}" }
}

output "service_account_annotations" {
  description = "EKS Pod Identity binds by the association above: the ServiceAccount needs no annotation."
  value       = {}
}

output "pod_labels" {
  description = "Labels the users' pods need for that identity (none on EKS)."
  value       = {}
}
