terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
  }
}

provider "google" {
  # Credentials come from the environment (GOOGLE_CREDENTIALS), never from files in the working dir.
  project = var.extra["project_id"]
  region  = var.region
}
