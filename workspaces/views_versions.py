"""Pages for code and state versions. Thin: parse the request, call ``workspaces.versions``, render.

Each view serves its page and, for an HTMX request, the fragment that changes
(``template.html#fragment``); responses vary on HX-Request.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from iacplatform import errors as errors_mod
from iacplatform import inputs
from iacplatform.errors import DomainError, NotFound
from iacplatform.pages import render_page
from workspaces.code import selectors as code_selectors
from workspaces.code import services as code_services
from workspaces.code.check import AUTO, HCL, JSON
from workspaces.diffs import DEFAULT_CONTEXT
from workspaces.access import workspace_for
from workspaces.models import Role
from workspaces.state import compare as state_compare_mod
from workspaces.state import document as state_document
from workspaces.state import selectors as state_selectors
from workspaces.state import services as state_services

HISTORY_PER_PAGE = 25
RECENT_ON_CODE_PAGE = 5
RESOURCES_PER_PAGE = 50
CHANGES_PER_PAGE = 50
VIEWS = ("unified", "split")


def _render(request, template: str, fragment: str | None, context: dict, status: int = 200) -> HttpResponse:
    return render_page(request, template, context, fragment=fragment, status=status)


def _number(value, **kwargs) -> int:
    """A number from the URL; a bad one is a 404 on a page (there is nothing at that address)."""
    try:
        return inputs.parse_number(value, **kwargs)
    except DomainError as exc:
        raise Http404(exc.message) from None


def _get(fn, **kwargs):
    try:
        return fn(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from None


# ======================================================================================
# Code
# ======================================================================================
class CodeForm(forms.Form):
    code = forms.CharField(
        required=False, strip=False,
        widget=forms.Textarea(attrs={"class": "code", "spellcheck": "false", "rows": 24, "wrap": "off",
                                     "autocomplete": "off", "autocapitalize": "off", "data-editor": "code"}),
    )
    code_format = forms.ChoiceField(
        label="Format", initial=AUTO,
        choices=[(AUTO, "Auto-detect"), (HCL, "HCL"), (JSON, "Terraform JSON")],
    )
    message = forms.CharField(
        required=False, max_length=code_services.MESSAGE_MAX_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "What changed, and why (optional)"}),
    )

    def clean_code(self):
        # Browsers submit a textarea with CRLF line ends (HTML spec); stored as typed, the
        # same code saved through the API would differ on every line (new version, full diff).
        return self.cleaned_data["code"].replace("\r\n", "\n")


@require_http_methods(["GET", "POST"])
def code_edit(request, name):
    workspace = workspace_for(request.user, name, Role.PLANNER if request.method == "POST" else Role.READER)
    current = workspace.current_code_version
    status = 200
    if request.method == "POST":
        form = CodeForm(request.POST)
        if form.is_valid():
            try:
                version, created = code_services.code_save(
                    workspace=workspace, code=form.cleaned_data["code"],
                    code_format=form.cleaned_data["code_format"], message=form.cleaned_data["message"],
                    author=request.user,
                )
            except DomainError as exc:
                for field_name, errors in (exc.errors or {"code": [exc.message]}).items():
                    for error in errors:
                        form.add_error(field_name if field_name in form.fields else None, error)
            else:
                if created:
                    messages.success(request, f"Saved as version {version.number}.")
                else:
                    messages.info(request, f"No changes: version {version.number} is still current.")
                return redirect("code_edit", name=workspace.name)
        status = 400
    else:
        form = CodeForm(initial={
            "code": current.code if current else "",
            "code_format": current.code_format if current else AUTO,
        })
    recent = code_selectors.code_versions_with_runs(code_selectors.code_version_list(workspace=workspace)[:RECENT_ON_CODE_PAGE])
    return _render(request, "workspaces/versions/code_edit.html", "content", {
        "workspace": workspace, "tab": "code", "form": form, "current": current, "recent": recent,
    }, status=status)


@require_safe
def code_history(request, name):
    workspace = workspace_for(request.user, name, Role.READER)
    page = Paginator(code_selectors.code_version_list(workspace=workspace), HISTORY_PER_PAGE).get_page(
        request.GET.get("page"))
    page.object_list = code_selectors.code_versions_with_runs(page.object_list)
    return _render(request, "workspaces/versions/code_history.html", "history", {
        "workspace": workspace, "tab": "code", "page": page,
    })


@require_safe
def code_version_detail(request, name, number):
    workspace = workspace_for(request.user, name, Role.READER)
    version = _get(code_selectors.code_version_get, workspace=workspace, number=_number(number))
    version = code_selectors.code_versions_with_runs([version])[0]
    return _render(request, "workspaces/versions/code_version.html", "content", {
        "workspace": workspace, "tab": "code", "version": version,
        "is_current": workspace.current_code_version_id == version.pk,
        "lines": version.code.split("\n"),
    })


@require_POST
def code_version_rollback(request, name, number):
    workspace = workspace_for(request.user, name, Role.PLANNER)
    number = _number(number)
    try:
        version, created = code_services.code_version_rollback(workspace=workspace, number=number, author=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    if created:
        messages.success(request, f"Rolled back: version {version.number} has the code of version {number}.")
    else:
        messages.info(request, f"Version {number} has the same code as the current version {version.number}; "
                               "nothing to roll back.")
    return redirect("code_edit", name=workspace.name)


def _compare_args(request, available: list[int], *, what: str, minimum: int):
    """(from, to, view, full, error) from the query string, with sensible defaults."""
    view = request.GET.get("view", "unified")
    if view not in VIEWS:
        view = "unified"
    full = request.GET.get("full") == "1"
    default_to = available[0] if available else None
    default_from = available[1] if len(available) > 1 else default_to
    values = {}
    for key, default in (("from", default_from), ("to", default_to)):
        raw = request.GET.get(key)
        if raw in (None, ""):
            values[key] = default
            continue
        try:
            values[key] = inputs.parse_number(raw, what=what, minimum=minimum, field_name=key)
        except DomainError as exc:
            return None, None, view, full, exc.message
    return values["from"], values["to"], view, full, ""


@require_safe
def code_compare(request, name):
    workspace = workspace_for(request.user, name, Role.READER)
    numbers = code_selectors.code_version_numbers(workspace=workspace)
    old, new, view, full, error = _compare_args(request, numbers, what="version number", minimum=1)
    comparison = None
    status = 200
    if error:
        status = 400
    elif old is not None:
        try:
            comparison = code_selectors.code_compare(workspace=workspace, from_number=old, to_number=new,
                                               context=None if full else DEFAULT_CONTEXT)
        except NotFound as exc:
            error, status = exc.message, 404
    return _render(request, "workspaces/versions/code_compare.html", "diff", {
        "workspace": workspace, "tab": "code", "numbers": numbers, "from": old, "to": new, "view": view,
        "full": full, "comparison": comparison, "error": error,
        "base_url": reverse("code_compare", args=[workspace.name]),
    }, status=status)


# ======================================================================================
# State
# ======================================================================================
@require_safe
def state_list(request, name):
    workspace = workspace_for(request.user, name, Role.READER)
    page = Paginator(state_selectors.state_version_list(workspace=workspace), HISTORY_PER_PAGE).get_page(
        request.GET.get("page"))
    return _render(request, "workspaces/versions/state_list.html", "history", {
        "workspace": workspace, "tab": "states", "page": page,
        "current_serial": state_selectors.state_current_serial(workspace=workspace),
        "can_download": state_services.can_download_state(request.user, workspace),
    })


@require_safe
def state_version_detail(request, name, serial):
    workspace = workspace_for(request.user, name, Role.READER)
    detail = _get(state_selectors.state_detail, workspace=workspace, serial=_number(serial, minimum=0, what="serial"))
    page = Paginator(detail.resources, RESOURCES_PER_PAGE).get_page(request.GET.get("page"))
    detail.mask(page.object_list)
    return _render(request, "workspaces/versions/state_version.html", "content", {
        "workspace": workspace, "tab": "states", "detail": detail, "version": detail.version, "page": page,
        "is_current": state_selectors.state_current_serial(workspace=workspace) == detail.version.serial,
        "can_download": state_services.can_download_state(request.user, workspace),
    })


@require_safe
def state_download(request, name, serial):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    try:
        filename, content = state_services.state_download(
            workspace=workspace, serial=_number(serial, minimum=0, what="serial"), user=request.user)
    except errors_mod.Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    except NotFound as exc:
        raise Http404(exc.message) from None
    response = HttpResponse(content, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def state_compare(request, name):
    workspace = workspace_for(request.user, name, Role.READER)
    serials = state_selectors.state_version_serials(workspace=workspace)
    old, new, view, _full, error = _compare_args(request, serials, what="serial", minimum=0)
    comparison, page = None, None
    status = 200
    if error:
        status = 400
    elif old is not None:
        try:
            comparison = state_compare_mod.state_compare(workspace=workspace, from_serial=old, to_serial=new)
        except NotFound as exc:
            error, status = exc.message, 404
        else:
            page = Paginator(comparison.changes, CHANGES_PER_PAGE).get_page(request.GET.get("page"))
    return _render(request, "workspaces/versions/state_compare.html", "changes", {
        "workspace": workspace, "tab": "states", "serials": serials, "from": old, "to": new,
        "comparison": comparison, "page": page, "error": error,
        "base_url": reverse("state_compare", args=[workspace.name]),
    }, status=status)


@require_http_methods(["GET", "POST"])
def state_rollback(request, name, serial):
    """GET: what the rollback will do, and a confirmation form. POST (confirmed): do it."""
    workspace = workspace_for(request.user, name, Role.ADMIN)
    serial = _number(serial, minimum=0, what="serial")
    target = _get(state_selectors.state_version_get, workspace=workspace, serial=serial)
    serials = state_selectors.state_version_serials(workspace=workspace)
    error, status = "", 200
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            error, status = "Tick the box to confirm the rollback.", 400
        else:
            try:
                version = state_services.state_rollback(workspace=workspace, serial=serial, user=request.user)
            except NotFound as exc:
                raise Http404(exc.message) from None
            except DomainError as exc:
                error, status = exc.message, exc.status
            else:
                messages.success(request, f"Rolled back: serial {version.serial} has the resources of serial "
                                          f"{serial}. The next plan compares your code with it.")
                return redirect("state_version_detail", name=workspace.name, serial=version.serial)
    comparison = None
    if serials and serials[0] != serial:
        comparison = state_compare_mod.state_compare(workspace=workspace, from_serial=serials[0], to_serial=serial)
    return _render(request, "workspaces/versions/state_rollback.html", "content", {
        "workspace": workspace, "tab": "states", "target": target, "current_serial": serials[0] if serials else None,
        "comparison": comparison, "error": error,
    }, status=status)


class StateUploadForm(forms.Form):
    file = forms.FileField(label="terraform.tfstate")
    force = forms.BooleanField(
        required=False, label="Force: accept another lineage or an older serial (replaces the history's head)",
    )


@require_http_methods(["GET", "POST"])
def state_upload(request, name):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    status = 200
    if request.method == "POST":
        form = StateUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > state_services.state_upload_max_bytes():
                    raise state_document.InvalidState(
                        f"The file is larger than {state_services.state_upload_max_bytes() // (1024 * 1024)} MB.")
                version = state_services.state_upload(
                    workspace=workspace, content=upload.read(), user=request.user, force=form.cleaned_data["force"])
            except DomainError as exc:
                form.add_error("file", exc.message)
                status = exc.status
            else:
                messages.success(request, f"Uploaded as serial {version.serial}.")
                return redirect("state_version_detail", name=workspace.name, serial=version.serial)
        else:
            status = 400
    else:
        form = StateUploadForm()
    return _render(request, "workspaces/versions/state_upload.html", "content", {
        "workspace": workspace, "tab": "states", "form": form,
    }, status=status)
