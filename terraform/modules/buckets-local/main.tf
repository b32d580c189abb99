# The development and test target of the bucket modules: buckets on an S3-compatible server (the tests start
# moto's on 127.0.0.1), made and deleted by s3.py, Terraform's built-in resources only. The same interface
# as the cloud modules; there is no cloud identity to bind (service_account_annotations is empty).

locals {
  endpoint = var.extra["endpoint"]
  buckets  = { for b in var.buckets : b.name => b }
}

resource "terraform_data" "bucket" {
  for_each = local.buckets
  input = {
    endpoint = local.endpoint
    bucket   = each.value.bucket
    days     = each.value.type == "scratch" ? each.value.expire_after_days : 0
    script   = "${path.module}/s3.py"
  }

  provisioner "local-exec" {
    command = "python3 '${self.input.script}' create '${self.input.endpoint}' '${self.input.bucket}' '${self.input.days}'"
  }

  # Deleted with its objects, as a cloud's force_destroy does; a retained bucket is forgotten first (the
  # operator removes it from the state), so this never runs for it.
  provisioner "local-exec" {
    when    = destroy
    command = "python3 '${self.input.script}' delete '${self.input.endpoint}' '${self.input.bucket}'"
  }
}
