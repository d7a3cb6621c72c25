"""Forms of the run pages: start a run, confirm a plan."""

from django import forms

from executions.models import Hook, Notification, NotificationChannel
from executions.services import clean_targets
from iacplatform.errors import DomainError
from workspaces.models import Workspace


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


# A test message goes to its channel whatever the channel wants: not an event to pick.
CHANNEL_EVENTS = [choice for choice in Notification.Event.choices if choice[0] != Notification.Event.TEST]


class ChannelForm(forms.Form):
    """A new notification channel (the global list, or a workspace's)."""

    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=NotificationChannel.Kind.choices, initial=NotificationChannel.Kind.APPRISE)
    workspace = forms.ModelChoiceField(queryset=Workspace.objects.order_by("name"), required=False,
                                       to_field_name="name", empty_label="— every workspace (global) —")
    target = forms.CharField(
        max_length=2000, label="URL", widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off"}),
        help_text="An Apprise URL (slack://…, msteams://…, discord://…, mailtos://…) or the webhook's http(s) URL. "
                  "Stored encrypted; never shown again.")
    secret = forms.CharField(required=False, max_length=200, widget=forms.PasswordInput(render_value=False),
                             help_text="Webhook only: the key of the X-IAC-Signature HMAC-SHA256. Stored encrypted.")
    events = forms.MultipleChoiceField(choices=CHANNEL_EVENTS, required=False,
                                       widget=forms.CheckboxSelectMultiple, help_text="None ticked: every event.")
    levels = forms.MultipleChoiceField(choices=Notification.Level.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple, help_text="None ticked: every level.")


class ChannelSettingsForm(forms.Form):
    events = forms.MultipleChoiceField(choices=CHANNEL_EVENTS, required=False,
                                       widget=forms.CheckboxSelectMultiple, help_text="None ticked: every event.")
    levels = forms.MultipleChoiceField(choices=Notification.Level.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple, help_text="None ticked: every level.")
    enabled = forms.BooleanField(required=False)
    target = forms.CharField(required=False, max_length=2000, label="New URL",
                             widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off"}),
                             help_text="Leave empty to keep the stored one.")
    secret = forms.CharField(required=False, max_length=200, label="New secret",
                             widget=forms.PasswordInput(render_value=False), help_text="Leave empty to keep it.")
class HookForm(forms.ModelForm):
    url = forms.URLField(required=False, max_length=500, assume_scheme="https", label="URL")
    secret = forms.CharField(required=False, max_length=500, widget=forms.PasswordInput(render_value=False),
                             help_text="HTTP hooks: the HMAC-SHA512 key (stored encrypted; empty keeps the current one).")

    class Meta:
        model = Hook
        fields = ["name", "stage", "kind", "enforcement", "command", "url", "asynchronous", "function", "timeout",
                  "enabled"]
        widgets = {"command": forms.Textarea(attrs={"rows": 2, "class": "mono"})}
