output "urls" {
  description = "Bucket name -> its URL."
  value       = { for name, b in google_storage_bucket.bucket : name => "gs://${b.name}" }
}

output "service_account_annotations" {
  description = "GKE Workload Identity: the Google service account the users' ServiceAccount acts as."
  value       = { "iam.gke.io/gcp-service-account" = google_service_account.users.email }
}

output "pod_labels" {
  description = "Labels the users' pods need for that identity (none on GKE)."
  value       = {}
}
