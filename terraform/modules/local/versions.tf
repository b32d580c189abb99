terraform {
  required_version = ">= 1.4" # terraform_data; OpenTofu >= 1.6 works too
}
