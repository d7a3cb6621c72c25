"""Terraform states of a workspace: numbered versions, their detail, compare, rollback, upload, download."""
