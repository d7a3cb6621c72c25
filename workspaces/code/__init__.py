"""A workspace's Terraform code: validated saves, numbered versions, history, compare, rollback."""
