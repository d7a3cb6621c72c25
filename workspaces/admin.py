from django import forms
from django.contrib import admin

from workspaces.models import ApiToken, StateVersion, Variable, Workspace, WorkspaceCodeVersion


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "execution_mode", "auto_apply", "locked", "terraform_version", "updated_at")
    list_filter = ("execution_mode", "auto_apply", "locked")
    search_fields = ("name", "description")
    readonly_fields = ("created_at", "updated_at", "locked_at", "locked_by")
    raw_id_fields = ("current_code_version",)


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

    def save(self, commit=True):
        var = super().save(commit=False)
        new_value = self.cleaned_data.get("new_value", "")
        if new_value or not var.pk or not var.sensitive:
            var.set_value(new_value)
        if commit:
            var.save()
        return var


@admin.register(Variable)
class VariableAdmin(admin.ModelAdmin):
    form = VariableAdminForm
    list_display = ("key", "workspace", "category", "shown_value", "hcl", "sensitive")
    list_filter = ("category", "sensitive", "hcl")
    search_fields = ("key", "workspace__name")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="value")
    def shown_value(self, obj):
        return obj.display_value


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
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("prefix", "token_hash", "created_at", "last_used_at")
