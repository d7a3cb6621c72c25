"""Forms of the run pages: start a run, confirm a plan."""

from django import forms

from executions.models import Hook
from executions.services import clean_targets
from iacplatform.errors import DomainError


class RunForm(forms.Form):
    KIND_CHOICES = [
        ("plan_and_apply", "Plan and apply"),
        ("plan", "Plan only"),
    ]
    kind = forms.ChoiceField(
        choices=KIND_CHOICES, initial="plan_and_apply", widget=forms.RadioSelect, label="Run type",
    )
    message = forms.CharField(
        required=False, max_length=500, label="Reason for starting the run",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Scale the web tier"}),
    )
    targets = forms.CharField(
        required=False, label="Target resources",
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono", "spellcheck": "false",
                                     "placeholder": "module.web.terraform_data.page\nterraform_data.bucket"}),
        help_text="Optional, one address per line: plan only these resources (terraform plan -target).",
    )

    upgrade_providers = forms.BooleanField(
        required=False, label="Upgrade providers",
        help_text="terraform init -upgrade: take the newest provider versions the code allows and store the new "
                  "lock file. Without it, the provider versions of the stored lock file are kept.",
    )

    def clean_targets(self):
        try:
            return clean_targets(self.cleaned_data["targets"].splitlines())
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None


class ConfirmForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Comment (optional)"}),
    )


class HookForm(forms.ModelForm):
    url = forms.URLField(required=False, max_length=500, assume_scheme="https", label="URL")
    secret = forms.CharField(required=False, max_length=500, widget=forms.PasswordInput(render_value=False),
                             help_text="HTTP hooks: the HMAC-SHA512 key (stored encrypted; empty keeps the current one).")

    class Meta:
        model = Hook
        fields = ["name", "stage", "kind", "enforcement", "command", "url", "function", "timeout", "enabled"]
        widgets = {"command": forms.Textarea(attrs={"rows": 2, "class": "mono"})}
