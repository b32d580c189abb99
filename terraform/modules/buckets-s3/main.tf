# A hub's buckets on S3: one per spec entry, public access blocked, encrypted, scratch objects expired after
# N days, tags for cost attribution; an IAM role per hub that the users' Kubernetes ServiceAccount takes
# through EKS Pod Identity, with object rights on the hub's buckets only; outside readers through the
# bucket policy.

locals {
  buckets = { for b in var.buckets : b.name => b }
  tags    = merge(var.labels, { hub = var.hub_name, managed-by = "communityhub-operator" })
}

resource "aws_s3_bucket" "bucket" {
  #checkov:skip=CKV_AWS_18: access logs of every object read bill per request; the hub's own users are its only writers
  #checkov:skip=CKV_AWS_21: versioning would keep every overwritten file of every user and bill for it
  #checkov:skip=CKV_AWS_144: cross-region replication doubles the storage bill of scratch and working data
  #checkov:skip=CKV_AWS_145: SSE-S3 encrypts at rest; a KMS key per hub bills per request of every notebook
  #checkov:skip=CKV2_AWS_62: no consumer of object events; users read and write through the S3 API
  for_each      = local.buckets
  bucket        = each.value.bucket
  force_destroy = true # a Delete decommission takes the objects; Retain forgets the bucket first
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "bucket" {
  for_each                = aws_s3_bucket.bucket
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "bucket" {
  for_each = aws_s3_bucket.bucket
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "bucket" {
  for_each = aws_s3_bucket.bucket
  bucket   = each.value.id
  dynamic "rule" {
    for_each = local.buckets[each.key].type == "scratch" ? [local.buckets[each.key].expire_after_days] : []
    content {
      id     = "expire-scratch"
      status = "Enabled"
      filter {}
      expiration {
        days = rule.value
      }
      abort_incomplete_multipart_upload {
        days_after_initiation = 1
      }
    }
  }
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
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

resource "aws_iam_role" "users" {
  name               = substr("${var.hub_name}-users", 0, 64)
  assume_role_policy = data.aws_iam_policy_document.pod_identity.json
  tags               = local.tags
}

data "aws_iam_policy_document" "users" {
  statement {
    actions   = ["s3:ListBucket"]
    resources = [for b in aws_s3_bucket.bucket : b.arn]
  }
  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [for b in aws_s3_bucket.bucket : "${b.arn}/*"]
  }
}

resource "aws_iam_role_policy" "users" {
  name   = "buckets"
  role   = aws_iam_role.users.id
  policy = data.aws_iam_policy_document.users.json
}

resource "aws_eks_pod_identity_association" "users" {
  cluster_name    = var.extra["cluster_name"]
  namespace       = var.service_account.namespace
  service_account = var.service_account.name
  role_arn        = aws_iam_role.users.arn
}

data "aws_iam_policy_document" "readers" {
  for_each = { for name, b in local.buckets : name => b if length(b.readers) > 0 }
  statement {
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.bucket[each.key].arn, "${aws_s3_bucket.bucket[each.key].arn}/*"]
    principals {
      type        = "AWS"
      identifiers = each.value.readers
    }
  }
}

resource "aws_s3_bucket_policy" "readers" {
  for_each = data.aws_iam_policy_document.readers
  bucket   = aws_s3_bucket.bucket[each.key].id
  policy   = each.value.json
}
