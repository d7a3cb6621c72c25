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
"""
