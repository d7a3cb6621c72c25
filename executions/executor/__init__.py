"""The executor a worker runs for a claimed task: work dir, terraform, plan/apply pipeline, state save."""
