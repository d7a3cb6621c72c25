"""The "smart source" of the executor: a workspace's main.tf.json built from its resources.

Contract used by ``executions.config`` (the resources issue fills it in):
- ``aggregate_main_tf(workspace)`` → the Terraform JSON document built from the workspace's
  active resources, or ``None`` when the workspace has no managed resources (then the
  executor uses the workspace's current code version).
- ``resource_version_map(workspace)`` → ``{resource_id: version_number}`` of the active
  resources, recorded on a plan so its apply can be refused as stale when one changed.
"""


def aggregate_main_tf(workspace) -> dict | None:
    return None


def resource_version_map(workspace) -> dict:
    return {}
