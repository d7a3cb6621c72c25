from django import forms
from django.contrib import admin

from iacplatform.errors import DomainError
from workspaces.code.services import provider_config_recorded
from workspaces.models import (
    ApiToken, AuditEvent, StateVersion, Variable, Workspace, WorkspaceCodeVersion, WorkspaceMember
)
from workspaces.secrets import variable_display_value
from workspaces.services import variable_check, variable_set


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record the admin may look at, never add, change or delete (tokens, audit, history)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WorkspaceMember)
class WorkspaceMemberAdmin(ReadOnlyAdmin):
    """Read-only: roles change on the workspace's Members page or through the API, whose service
    keeps the rules (one of user/group, the last admin stays) and records an audit event."""

    list_display = ("workspace", "user", "group", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("workspace__name", "user__username", "group__name")


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "auto_apply", "locked", "terraform_version", "updated_at")
    list_filter = ("auto_apply", "locked")
    search_fields = ("name", "description")
    readonly_fields = ("created_at", "updated_at", "locked_at", "locked_by")
    raw_id_fields = ("current_code_version",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "provider_config" in form.changed_data:  # as a change in Settings does
            provider_config_recorded(workspace=obj, author=request.user)


class VariableAdminForm(forms.ModelForm):
    """Sensitive values are write-only: the field is always rendered empty."""

    new_value = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Sensitive values are never shown; leave empty to keep the stored value.",
    )

    class Meta:
        model = Variable
        fields = ("workspace", "key", "category", "hcl", "sensitive", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.instance.sensitive:
            self.fields["new_value"].initial = self.instance.value

    def clean(self):
        data = super().clean()
        workspace, key, category = data.get("workspace"), data.get("key"), data.get("category")
        if workspace and key and category:
            existing = Variable.objects.filter(workspace=workspace, key=key, category=category).first()
            try:
                variable_check(workspace=workspace, key=key, category=category, value=data.get("new_value"),
                               hcl=data.get("hcl", False), sensitive=data.get("sensitive", False),
                               existing=existing, create=self.instance.pk is None)
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from None
        return data

    def save(self, commit=True):
        """Through the service, so the admin keeps the same rules (a sensitive value survives an edit)."""
        data = self.cleaned_data
        new_value = data.get("new_value", "")
        keep = self.instance.pk and self.instance.sensitive and not new_value
        return variable_set(workspace=data["workspace"], key=data["key"], category=data["category"],
                            value=None if keep else new_value, hcl=data.get("hcl", False),
                            sensitive=data.get("sensitive", False), description=data.get("description", ""))

    def save_m2m(self):  # the admin calls it after save(commit=False); a variable has none
        pass


@admin.register(Variable)
class VariableAdmin(admin.ModelAdmin):
    form = VariableAdminForm
    list_display = ("key", "workspace", "category", "shown_value", "hcl", "sensitive")
    list_filter = ("category", "sensitive", "hcl")
    search_fields = ("key", "workspace__name")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="value")
    def shown_value(self, obj):
        return variable_display_value(obj)

    def save_model(self, request, obj, form, change):
        pass  # the form saved it through the service already


@admin.register(WorkspaceCodeVersion)
class WorkspaceCodeVersionAdmin(admin.ModelAdmin):
    list_display = ("workspace", "number", "code_format", "author", "message", "created_at")
    list_filter = ("code_format",)
    search_fields = ("workspace__name", "message")
    readonly_fields = ("checksum", "created_at")
    raw_id_fields = ("workspace",)


@admin.register(StateVersion)
class StateVersionAdmin(admin.ModelAdmin):
    list_display = ("workspace", "serial", "lineage", "resource_count", "size", "source", "created_at")
    list_filter = ("source",)
    search_fields = ("workspace__name", "lineage", "checksum")
    exclude = ("content",)  # can be megabytes; download it from the state page instead
    readonly_fields = ("checksum", "md5", "size", "created_at", "lineage", "serial")
    raw_id_fields = ("workspace", "task", "created_by")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Read-only: a token's secret exists only when it is created (the tokens page, the API or
    ``manage.py create_token``); the admin can only look, never add or edit."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: audit events are never added, changed or deleted by hand."""

    list_display = ("created_at", "actor", "action", "workspace_name", "target", "remote_addr", "via")
    list_filter = ("action", "via")
    search_fields = ("actor", "action", "workspace_name", "target")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]
