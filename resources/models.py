# Resource-level version management models arrive with their own issue.
