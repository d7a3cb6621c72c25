"""Queueing and steering runs. One service for the UI, the API and the commands.

CONTRACT (the executor issue implements these; other parts call them):

    task_queue_run(*, workspace, kind, targets=(), message="", user=None) -> WorkspaceTask
        kind: "plan" (speculative, never appliable) or "plan_and_apply".
        Raises iacplatform.errors.WorkspaceLocked (423) when the workspace is locked,
        DomainError (400) for bad targets. Enqueues on django-q2 after commit.
    task_confirm(*, task, user=None, comment="") -> WorkspaceTask (the new apply task)
        Only for a plan_and_apply task in status "planned". Raises Conflict when stale.
    task_discard(*, task, user=None) -> WorkspaceTask
    task_cancel(*, task, user=None) -> WorkspaceTask
    task_logs_after(*, task, after=0) -> list[TaskLog]

CHANGE SUMMARY (WorkspaceTask.change_summary, written by the plan pipeline, sensitive values masked):
    {"add": int, "change": int, "destroy": int, "replace": int,
     "resources": [{"address": "module.web.terraform_data.a", "type": "terraform_data", "name": "a",
                    "module": "module.web" | None, "action": "create|update|delete|replace|read|no-op",
                    "changed_attributes": [{"name": "input", "before": <json>, "after": <json>,
                                            "sensitive": bool}]}],
     "outputs": [{"name": "x", "action": "create|update|delete", "sensitive": bool}]}
    Masked values are the string "(sensitive)"; unknown values are "(known after apply)".

TASK CONTEXT (WorkspaceTask.context): {"code_version": int | None, "variables_checksum": str,
    "state_serial": int | None, "resource_versions": {resource_id: version}, "confirmed_by": str,
    "confirm_comment": str}
"""
