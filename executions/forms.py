"""Forms of the run pages: start a run, confirm a plan."""

import re

from django import forms

# A resource or module address as `terraform plan -target` takes it:
# module.net.aws_subnet.a, terraform_data.x["k"], module.web, data.x.y, module.m[0].t.n
_INDEX = r'(\[(\d+|"[^"]*")\])?'
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
TARGET = re.compile(
    rf"^(module\.{_NAME}{_INDEX}\.)*(module\.{_NAME}{_INDEX}|(data\.)?{_NAME}\.{_NAME}{_INDEX})$"
)


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

    def clean_targets(self):
        lines = [line.strip() for line in self.cleaned_data["targets"].splitlines() if line.strip()]
        bad = [line for line in lines if not TARGET.match(line)]
        if bad:
            raise forms.ValidationError(
                f"Not a resource or module address: {', '.join(bad)}. Use e.g. module.web.terraform_data.page."
            )
        return list(dict.fromkeys(lines))


class ConfirmForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Comment (optional)"}),
    )
