from django import forms
from django.contrib import admin

from executions.hooks import hook_check
from executions.models import (
    Hook, HookResult, Notification, PolicyOverride, PolicyResult, PolicySet, PolicySetVersion, TaskLog, WorkspaceTask
)
from iacplatform.errors import DomainError
from workspaces.admin import ReadOnlyAdmin
from workspaces.crypto import encrypt_text


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


class HookAdminForm(forms.ModelForm):
    url = forms.URLField(required=False, max_length=500, assume_scheme="https", label="URL")
    new_secret = forms.CharField(required=False, widget=forms.PasswordInput, label="Secret",
                                 help_text="HTTP hooks: HMAC-SHA512 key, stored encrypted; empty keeps the current one.")

    class Meta:
        model = Hook
        fields = ["workspace", "name", "stage", "kind", "enforcement", "command", "url", "asynchronous", "function",
                  "timeout", "enabled"]

    def clean(self):
        cleaned = super().clean()
        hook = self.instance
        for key in self.Meta.fields:
            if key in cleaned:
                setattr(hook, key, cleaned[key])
        try:
            hook_check(hook)  # the same rules as the pages and the API
        except DomainError as exc:
            for field, problems in (exc.errors or {}).items():
                self.add_error(field if field in self.fields else None, problems)
        return cleaned

    def save(self, commit=True):
        if self.cleaned_data.get("new_secret"):
            self.instance.secret = encrypt_text(self.cleaned_data["new_secret"])
        return super().save(commit)


@admin.register(Hook)
class HookAdmin(admin.ModelAdmin):
    form = HookAdminForm
    list_display = ("name", "workspace", "stage", "kind", "enforcement", "enabled")
    list_filter = ("stage", "kind", "enforcement", "enabled")


@admin.register(HookResult)
class HookResultAdmin(admin.ModelAdmin):
    list_display = ("task", "name", "stage", "status", "enforcement", "attempts", "duration")
    readonly_fields = [f.name for f in HookResult._meta.fields]


class PolicySetVersionInline(admin.TabularInline):
    model = PolicySetVersion
    extra = 0
    readonly_fields = ("number", "rego", "checksum", "message", "created_by", "created_at")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # new versions come from the pages and the API (policy_set_save checks the Rego)


@admin.register(PolicySet)
class PolicySetAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "enforcement", "enabled")
    list_filter = ("enforcement", "enabled")
    inlines = [PolicySetVersionInline]


@admin.register(PolicyResult)
class PolicyResultAdmin(admin.ModelAdmin):
    list_display = ("task", "name", "version", "enforcement", "outcome")
    readonly_fields = [f.name for f in PolicyResult._meta.fields]


@admin.register(PolicyOverride)
class PolicyOverrideAdmin(ReadOnlyAdmin):
    """Audit entries: read-only."""

    list_display = ("task", "username", "reason", "created_at")
    readonly_fields = [f.name for f in PolicyOverride._meta.fields]
