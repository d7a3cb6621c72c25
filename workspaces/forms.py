"""Forms of the workspace pages. They check input; the services change things."""

import json

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from workspaces.models import VERSION_PIN, Role, Variable, Workspace, workspace_name_validator


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(
        max_length=90, validators=[workspace_name_validator],
        help_text="Letters, digits, '-' and '_'. It names the workspace in URLs and the API.",
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "e.g. prod-network"}),
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    terraform_version = forms.CharField(
        required=False, max_length=20, label="Terraform version",
        help_text="Optional pin, e.g. 1.15 or 1.15.5. Empty: the platform's Terraform.",
    )
    auto_apply = forms.BooleanField(
        required=False, label="Auto-apply", help_text="Apply a plan with changes without waiting for confirmation.",
    )

    def clean_name(self):
        name = self.cleaned_data["name"]
        if Workspace.objects.filter(name=name).exists():
            raise forms.ValidationError(f"A workspace named “{name}” already exists.")
        return name

    def clean_terraform_version(self):
        return _version_pin(self.cleaned_data["terraform_version"])


def _version_pin(value: str) -> str:
    value = value.strip()
    if value and not VERSION_PIN.match(value):
        raise forms.ValidationError("Use a version like 1.15 or 1.15.5.")
    return value


class VariableForm(forms.Form):
    """Add a variable, or edit one (``instance``): key and category are then fixed.

    A sensitive value is write-only: the field starts empty and an empty field on edit
    keeps the stored value (``cleaned_data['value']`` is then None).
    """

    category = forms.ChoiceField(choices=Variable.Category.choices, initial=Variable.Category.TERRAFORM)
    key = forms.CharField(max_length=128, widget=forms.TextInput(attrs={"placeholder": "e.g. instance_count",
                                                                        "autocomplete": "off"}))
    value = forms.CharField(required=False, strip=False,
                            widget=forms.Textarea(attrs={"rows": 1, "class": "mono", "autocomplete": "off"}))
    hcl = forms.BooleanField(required=False, label="HCL", help_text="Parse the value as HCL (lists, maps, numbers).")
    sensitive = forms.BooleanField(required=False, help_text="Write-only: never shown again, masked in logs.")
    description = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, workspace, instance: Variable | None = None, **kwargs):
        self.workspace = workspace
        self.instance = instance
        if instance is not None and not kwargs.get("initial"):
            kwargs["initial"] = {
                "category": instance.category, "key": instance.key, "hcl": instance.hcl,
                "sensitive": instance.sensitive, "description": instance.description,
                "value": "" if instance.sensitive else instance.value,
            }
        super().__init__(*args, **kwargs)
        if instance is not None:
            self.fields["key"].disabled = True
            self.fields["category"].disabled = True
            if instance.sensitive:
                self.fields["value"].help_text = "Leave empty to keep the current value."

    @property
    def hides_value(self) -> bool:
        """Never echo a value the operator marked sensitive, not even their own input."""
        if self.instance is not None and self.instance.sensitive:
            return True
        return bool(self.is_bound and self.data.get("sensitive"))

    # The rules (key syntax, duplicates, "a sensitive variable stays sensitive", HCL values)
    # are the service's: ``workspaces.services.variable_check``.


class LockForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500,
                             widget=forms.TextInput(attrs={"placeholder": "Why? (shown to everyone)"}))


class WorkspaceSettingsForm(forms.Form):
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    auto_apply = forms.BooleanField(
        required=False, label="Auto-apply",
        help_text="A plan with changes is applied without waiting for confirmation.",
    )
    terraform_version = forms.CharField(required=False, max_length=20, label="Terraform version",
                                        help_text="Pin, e.g. 1.15 or 1.15.5. Runs refuse another binary. "
                                                  "Empty: the platform's Terraform.")
    provider_config = forms.CharField(
        required=False, label="Provider configuration",
        widget=forms.Textarea(attrs={"rows": 8, "class": "mono", "spellcheck": "false"}),
        help_text='JSON written to provider.tf.json, e.g. {"provider": {"aws": {"region": "eu-west-1"}}}.',
    )
    aws_role_arn = forms.CharField(required=False, max_length=255, label="AWS role ARN",
                                   widget=forms.TextInput(attrs={"placeholder": "arn:aws:iam::123456789012:role/terraform"}))
    aws_session_name = forms.CharField(required=False, max_length=64, label="Session name")
    aws_external_id = forms.CharField(required=False, max_length=255, label="External ID")
    aws_region = forms.CharField(required=False, max_length=32, label="Region",
                                 widget=forms.TextInput(attrs={"placeholder": "eu-west-1"}))
    drift_schedule = forms.ChoiceField(choices=Workspace.DriftSchedule.choices, required=False,
                                       label="Drift detection",
                                       help_text="Runs a drift check (plan -refresh-only, never applied) on this "
                                                 "schedule; skipped and retried later while the workspace is busy "
                                                 "or locked.")
    drift_cron = forms.CharField(required=False, max_length=100, label="Drift check cron expression",
                                 help_text="With “Cron expression”: minute hour day month weekday, e.g. 0 */6 * * *.")
    timeout_init = forms.IntegerField(required=False, min_value=10, label="Init timeout (s)",
                                      help_text="Empty: the platform default (IAC_TIMEOUT_INIT).")
    timeout_plan = forms.IntegerField(required=False, min_value=10, label="Plan timeout (s)",
                                      help_text="Empty: the platform default (IAC_TIMEOUT_PLAN).")
    timeout_apply = forms.IntegerField(required=False, min_value=10, label="Apply timeout (s)",
                                       help_text="Empty: the platform default (IAC_TIMEOUT_APPLY).")

    @classmethod
    def for_workspace(cls, workspace: Workspace, data=None):
        initial = {field: getattr(workspace, field) for field in (
            "description", "auto_apply", "terraform_version",
            "aws_role_arn", "aws_session_name", "aws_external_id", "aws_region", "drift_schedule", "drift_cron")}
        initial["provider_config"] = json.dumps(workspace.provider_config, indent=2) if workspace.provider_config else ""
        for stage, seconds in (workspace.timeouts or {}).items():
            initial[f"timeout_{stage}"] = seconds
        return cls(data, initial=initial)


    def clean_terraform_version(self):
        return _version_pin(self.cleaned_data["terraform_version"])

    def clean_provider_config(self):
        raw = self.cleaned_data["provider_config"].strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object, e.g. {\"provider\": {…}}.")
        return value

    def clean(self):
        data = super().clean()
        # The three timeout fields become the workspace's ``timeouts`` (only those that are set).
        timeouts = {stage: data.pop(f"timeout_{stage}", None) for stage in Workspace.TIMEOUT_STAGES}
        data["timeouts"] = {stage: seconds for stage, seconds in timeouts.items() if seconds is not None}
        data["drift_schedule"] = data.get("drift_schedule") or Workspace.DriftSchedule.OFF
        return data


class WorkspaceDeleteForm(forms.Form):
    confirm_name = forms.CharField(label="Type the workspace's name to confirm",
                                   widget=forms.TextInput(attrs={"autocomplete": "off"}))

    def __init__(self, *args, workspace, **kwargs):
        self.workspace = workspace
        super().__init__(*args, **kwargs)

    def clean_confirm_name(self):
        value = self.cleaned_data["confirm_name"].strip()
        if value != self.workspace.name:
            raise forms.ValidationError(f"Type “{self.workspace.name}” exactly to delete this workspace.")
        return value


class MemberForm(forms.Form):
    """Grant a role to a user (by username) or to a group (a team), not both."""

    username = forms.CharField(required=False, max_length=150, label="User",
                               help_text="A username. Leave empty to name a group.")
    group = forms.CharField(required=False, max_length=150, label="Group",
                            help_text="A group (team) name; every member of the group gets the role.")
    role = forms.TypedChoiceField(choices=Role.choices, coerce=int, initial=Role.READER)

    def clean(self):
        data = super().clean()
        username, group = (data.get("username") or "").strip(), (data.get("group") or "").strip()
        if bool(username) == bool(group):
            raise forms.ValidationError("Name either a user or a group.")
        if username:
            data["member_user"] = get_user_model().objects.filter(username=username, is_active=True).first()
            if data["member_user"] is None:
                self.add_error("username", f"No active user named “{username}”.")
        else:
            data["member_group"] = Group.objects.filter(name=group).first()
            if data["member_group"] is None:
                self.add_error("group", f"No group named “{group}”.")
        return data


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “CI pipeline”.")
    expires_in_days = forms.IntegerField(required=False, min_value=1, max_value=3650, label="Expires in (days)",
                                         help_text="Empty: never expires.")
