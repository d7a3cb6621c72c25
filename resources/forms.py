"""Forms of the resource pages: they only shape input; the services decide."""

import json

from django import forms

from resources.importer import ImportParseError, hcl_to_json
from resources.services import ON_DUPLICATE

CODE_WIDGET = forms.Textarea(attrs={"class": "code", "spellcheck": "false", "rows": 18, "wrap": "off",
                                    "autocomplete": "off", "autocapitalize": "off", "data-editor": "code"})


class ResourceCodeField(forms.CharField):
    """Terraform JSON (a fragment) or one HCL block; handed to the service as a dict."""

    def __init__(self, **kwargs):
        super().__init__(widget=CODE_WIDGET, strip=False, **kwargs)

    def clean(self, value):
        # Browsers send textareas with CRLF line ends; heredocs would keep the \r otherwise.
        text = super().clean(value).replace("\r\n", "\n")
        if not text.strip():
            raise forms.ValidationError("Enter the resource's code.")
        if text.lstrip().startswith(("{", "[")):
            try:
                return json.loads(text)
            except ValueError as exc:
                raise forms.ValidationError(
                    f"Not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}.") from None

        try:
            hcl_to_json(text, name="code")
        except ImportParseError as exc:
            raise forms.ValidationError(exc.message) from None
        return text  # HCL: the service keeps it as written (comments included) next to its JSON


class ResourceForm(forms.Form):
    code = ResourceCodeField(
        help_text='One block, in Terraform JSON ({"resource": {"terraform_data": {"web": {…}}}}) or in HCL '
                  '(resource "terraform_data" "web" {…}). The address comes from the code.')
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    tags = forms.CharField(required=False, help_text="Comma-separated.", max_length=1000)


class ResourceEditForm(ResourceForm):
    change_summary = forms.CharField(required=False, max_length=500, label="What changed",
                                     help_text="Optional; a summary is made from the change otherwise.")


class SnapshotForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def clean(self, data, initial=None):
        if isinstance(data, (list, tuple)):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return super().clean(data, initial)


class ImportForm(forms.Form):
    text = forms.CharField(
        required=False, strip=False, label="Paste Terraform code", widget=CODE_WIDGET,
        help_text="HCL or Terraform JSON. Several files in one text: start each with a line "
                  "“# file: variables.tf”; a local module's files go under “# file: modules/<name>/main.tf”. "
                  "Text before the first marker is main.tf.")
    files = MultipleFileField(
        required=False, label="…or upload .tf files",
        widget=MultipleFileInput(attrs={"accept": ".tf,.json"}))
    on_duplicate = forms.ChoiceField(
        label="When something already exists with other content",
        choices=[(ON_DUPLICATE[0], "Stop and list the duplicates (nothing is imported)"),
                 ("skip", "Keep what exists (report the duplicates)"),
                 ("new_version", "Make a new version from the imported code")],
        initial="fail", widget=forms.RadioSelect)
    message = forms.CharField(required=False, max_length=500, label="Message for the code version")
