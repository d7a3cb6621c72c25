from django.contrib import admin

from executions.models import Notification, TaskLog, WorkspaceTask


@admin.register(WorkspaceTask)
class WorkspaceTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "task_type", "status", "stage", "created_by", "created_at", "finished_at")
    list_filter = ("status", "task_type", "stage", "error_category")
    search_fields = ("id", "workspace__name", "message", "error_message")
    # Plan file and plan JSON are large, encrypted blobs: never rendered here.
    exclude = ("plan_file", "plan_json", "lock_file")
    readonly_fields = (
        "created_at", "queued_at", "started_at", "finished_at", "updated_at",
        "worker_host", "worker_pid", "heartbeat_at", "exit_code", "change_summary", "context", "outputs",
    )
    raw_id_fields = ("workspace", "plan_task", "code_version", "created_by")


@admin.register(TaskLog)
class TaskLogAdmin(admin.ModelAdmin):
    list_display = ("task", "seq", "stage", "created_at")
    list_filter = ("stage",)
    search_fields = ("task__id",)
    readonly_fields = ("created_at",)
    raw_id_fields = ("task",)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "level", "workspace", "task", "acknowledged", "created_at")
    list_filter = ("level", "acknowledged")
    search_fields = ("title", "message")
    readonly_fields = ("created_at",)
    raw_id_fields = ("workspace", "task")
