# A hub's buckets on Google Cloud Storage: one per spec entry, uniform access, public access prevented,
# scratch objects deleted after N days, labels for cost attribution; a Google service account per hub that
# the users' Kubernetes ServiceAccount impersonates through GKE Workload Identity, with object rights on
# the hub's buckets only; outside readers get objectViewer. As 2i2c-org/infrastructure's terraform/gcp
# buckets.tf and workload-identity.tf do, one hub at a time.

locals {
  project = var.extra["project_id"]
  buckets = { for b in var.buckets : b.name => b }
  labels = { for k, v in merge(var.labels, { hub = var.hub_name, managed-by = "communityhub-operator" }) :
  substr(lower(replace(k, "/[^a-zA-Z0-9_-]/", "_")), 0, 63) => substr(lower(replace(v, "/[^a-zA-Z0-9_-]/", "_")), 0, 63) }
  readers = merge([for b in var.buckets : { for r in b.readers : "${b.name}/${r}" => { bucket = b.name, member = r } }]...)
}

resource "google_storage_bucket" "bucket" {
  #checkov:skip=CKV_GCP_62: access logs of every object read bill per GB; the hub's own users are its only writers
  #checkov:skip=CKV_GCP_78: versioning would keep every overwritten file of every user (scratch data, notebooks' checkpoints) and bill for it
  for_each                    = local.buckets
  name                        = each.value.bucket
  project                     = local.project
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # a Delete decommission takes the objects; Retain forgets the bucket first
  labels                      = local.labels

  dynamic "lifecycle_rule" {
    for_each = each.value.type == "scratch" ? [each.value.expire_after_days] : []
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }
}

resource "google_service_account" "users" {
  project      = local.project
  account_id   = substr("users-${var.hub_name}", 0, 30)
  display_name = "Users of CommunityHub ${var.hub_name}"
}

resource "google_service_account_iam_member" "workload_identity" {
  service_account_id = google_service_account.users.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.project}.svc.id.goog[${var.service_account.namespace}/${var.service_account.name}]"
}

resource "google_storage_bucket_iam_member" "users" {
  for_each = local.buckets
  bucket   = google_storage_bucket.bucket[each.key].name
  role     = "roles/storage.objectAdmin"
  member   = "serviceAccount:${google_service_account.users.email}"
}

resource "google_storage_bucket_iam_member" "readers" {
  for_each = local.readers
  bucket   = google_storage_bucket.bucket[each.value.bucket].name
  role     = "roles/storage.objectViewer"
  member   = each.value.member
}
