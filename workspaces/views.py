"""Workspace pages: list, create, overview, lock, variables, settings, delete.

Thin: a form checks the input, one service changes things, the page (or its HTMX
fragment, when ``request.htmx``) is rendered. Domain errors become form errors or messages.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from iacplatform.errors import DomainError
from iacplatform.pages import form_error_from, render_page, validation_error_to_form
from django.conf import settings

from workspaces import selectors
from workspaces.access import workspace_for
from workspaces.audit import ACTION_GROUPS, audit_events, parse_when
from workspaces.backend import (backend_access, cli_lock_break, cli_lock_get, cli_lock_is_stale,
                                last_refused_cli_write)
from workspaces.forms import (
    LockForm, MemberForm, TokenForm, VariableForm, WorkspaceCreateForm, WorkspaceDeleteForm, WorkspaceSettingsForm
)
from workspaces.models import Role
from workspaces.runs import runs
from workspaces.services import (
    member_remove, member_set, variable_delete, variable_set, workspace_create, workspace_delete, workspace_lock,
    workspace_unlock, workspace_update
)
from workspaces.state import selectors as state_selectors
from workspaces.state.document import RESOURCE_COUNT_HELP
from workspaces.tokens import api_token_create, api_token_get, api_token_revoke, api_tokens_of


# --- list and create ---------------------------------------------------------------------------
@require_safe
def workspace_list_view(request):
    search = request.GET.get("q", "").strip()
    filter_ = request.GET.get("filter", "")
    locked = {"locked": True, "unlocked": False}.get(filter_)
    qs = selectors.workspace_list(user=request.user, search=search, locked=locked)
    if filter_ == "attention":
        qs = qs.filter(pending_confirmations__gt=0)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render_page(request, "workspaces/list.html", {"page": page, "search": search, "filter": filter_,
                                                        "resource_count_help": RESOURCE_COUNT_HELP},
                       fragment="results")


@require_http_methods(["GET", "POST"])
def workspace_create_view(request):
    form = WorkspaceCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                workspace = workspace_create(**form.cleaned_data, user=request.user)
            except DomainError as exc:
                form_error_from(form, exc)
            except ValidationError as exc:  # the model's full_clean
                validation_error_to_form(form, exc)
            else:
                messages.success(request, f"Workspace “{workspace.name}” created. Add its code, then start a run.")
                return redirect("workspace_overview", workspace.name)
        status = 400
    return render_page(request, "workspaces/create.html", {"form": form}, fragment="form", status=status)


# --- overview and lock ---------------------------------------------------------------------
@require_safe
def workspace_overview_view(request, name):
    workspace = workspace_for(request.user, name, Role.READER, detailed=True)
    context = {
        "workspace": workspace, "tab": "overview",
        **runs().overview(workspace),
        "lock_form": LockForm(),
        "variable_count": workspace.variables.count(),
        **state_selectors.state_overview(workspace=workspace),
        **_cli_lock_context(request, workspace),
    }
    # The latest-run card polls itself while a run is active; everything else is the overview.
    fragment = "latest-run" if request.htmx and request.htmx.target == "latest-run" else "overview"
    return render_page(request, "workspaces/overview.html", context, fragment=fragment)


@require_POST
def workspace_lock_view(request, name):
    workspace = workspace_for(request.user, name, Role.APPLIER)
    form = LockForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The lock reason is too long (500 characters at most).")
    elif workspace.locked:
        messages.warning(request, "The workspace was already locked.")
    else:
        reason = form.cleaned_data["reason"] or f"Locked by {request.user.get_username()}"
        workspace_lock(workspace=workspace, reason=reason, user=request.user)
        messages.success(request, "Workspace locked: new runs are refused until it is unlocked.")
    return redirect(_next_or(request, reverse("workspace_overview", args=[name])))


@require_POST
def workspace_unlock_view(request, name):
    workspace = workspace_for(request.user, name, Role.APPLIER)
    if not workspace.locked:
        messages.warning(request, "The workspace was not locked.")
    elif cli_lock_get(workspace) is not None:
        # the CLI's lock is broken on purpose (admins, audited), never by the ordinary unlock
        return cli_lock_break_view(request, name)
    else:
        workspace_unlock(workspace=workspace, user=request.user)  # wakes its queued runs
        messages.success(request, "Workspace unlocked: runs can start again.")
    return redirect(_next_or(request, reverse("workspace_overview", args=[name])))


def _cli_lock_context(request, workspace) -> dict:
    lock = cli_lock_get(workspace)
    refused = last_refused_cli_write(workspace)
    if lock is None:
        return {"cli_lock": None, "cli_write_refused": refused}
    return {"cli_lock": lock, "cli_write_refused": refused,
            "cli_lock_stale": cli_lock_is_stale(lock, stale_seconds=settings.IAC_CLI_LOCK_STALE_SECONDS),
            "can_break_cli_lock": backend_access(request.user, workspace, "admin")}


@require_POST
def cli_lock_break_view(request, name):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    try:
        lock = cli_lock_break(workspace=workspace, user=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The terraform CLI lock of {lock.who} ({lock.operation}) was broken: "
                                  "that CLI can no longer write the state.")
    return redirect("workspace_overview", workspace.name)


def backend_block(request, workspace) -> str:
    """The ``backend "http"`` block an operator pastes into the code the CLI runs."""
    base = (settings.IAC_BACKEND_BASE_URL or request.build_absolute_uri("/")).rstrip("/")
    state = f"{base}{reverse('backend_state', args=[workspace.name])}"
    lock = f"{base}{reverse('backend_lock', args=[workspace.name])}"
    return (
        "terraform {\n"
        '  backend "http" {\n'
        f'    address        = "{state}"\n'
        f'    lock_address   = "{lock}"\n'
        f'    unlock_address = "{lock}"\n'
        '    lock_method    = "LOCK"\n'
        '    unlock_method  = "UNLOCK"\n'
        f'    username       = "{request.user.get_username()}"\n'
        "    # password: an API token, best from the environment: TF_HTTP_PASSWORD=iac_…\n"
        "  }\n"
        "}\n"
    )


def _next_or(request, default: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


# --- variables -----------------------------------------------------------------------------
def _save_variable(request, workspace, form) -> bool:
    """Call the service; a validation error from the model lands on the form."""
    data = form.cleaned_data
    instance = form.instance
    try:
        variable_set(
            workspace=workspace,
            key=instance.key if instance else data["key"],
            category=instance.category if instance else data["category"],
            value=data["value"], hcl=data["hcl"], sensitive=data["sensitive"], description=data["description"],
            create=instance is None, user=request.user,
        )
    except ValidationError as exc:
        validation_error_to_form(form, exc)
        return False
    except DomainError as exc:
        form_error_from(form, exc)
        return False
    return True


@require_http_methods(["GET", "POST"])
def variable_list_view(request, name):
    workspace = workspace_for(request.user, name, Role.ADMIN if request.method == "POST" else Role.READER)
    form = VariableForm(request.POST or None, workspace=workspace)
    status = 200
    if request.method == "POST":
        if form.is_valid() and _save_variable(request, workspace, form):
            kind = "Sensitive variable" if form.cleaned_data["sensitive"] else "Variable"
            messages.success(request, f"{kind} “{form.cleaned_data['key']}” added.")
            return redirect("variable_list", workspace.name)
        status = 400
    variables = list(selectors.variable_list(workspace=workspace))
    context = {
        "workspace": workspace, "tab": "variables", "form": form,
        "terraform_vars": [v for v in variables if v.category == "terraform"],
        "env_vars": [v for v in variables if v.category == "env"],
    }
    return render_page(request, "workspaces/variables.html", context, fragment="variables", status=status)


@require_http_methods(["GET", "POST"])
def variable_edit_view(request, name, variable_id):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    variable = selectors.variable_get(workspace=workspace, variable_id=variable_id)
    form = VariableForm(request.POST or None, workspace=workspace, instance=variable)
    status = 200
    if request.method == "POST":
        if form.is_valid() and _save_variable(request, workspace, form):
            messages.success(request, f"Variable “{variable.key}” saved.")
            return redirect("variable_list", workspace.name)
        status = 400
    context = {"workspace": workspace, "tab": "variables", "form": form, "variable": variable}
    return render_page(request, "workspaces/variable_edit.html", context, fragment="form", status=status)


@require_POST
def variable_delete_view(request, name, variable_id):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    variable = selectors.variable_get(workspace=workspace, variable_id=variable_id)
    variable_delete(variable=variable, user=request.user)
    messages.success(request, f"Variable “{variable.key}” deleted.")
    return redirect("variable_list", workspace.name)


# --- settings and delete -------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def workspace_settings_view(request, name):
    workspace = workspace_for(request.user, name, Role.ADMIN, detailed=True)
    form = WorkspaceSettingsForm.for_workspace(workspace, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                workspace_update(workspace=workspace, user=request.user, **form.cleaned_data)
            except DomainError as exc:
                form_error_from(form, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("workspace_settings", workspace.name)
        status = 400
    context = {"workspace": workspace, "tab": "settings", "form": form,
               "delete_form": WorkspaceDeleteForm(workspace=workspace),
               "backend_block": backend_block(request, workspace)}
    return render_page(request, "workspaces/settings.html", context, fragment="settings", status=status)


@require_POST
def workspace_delete_view(request, name):
    workspace = workspace_for(request.user, name, Role.ADMIN, detailed=True)
    delete_form = WorkspaceDeleteForm(request.POST, workspace=workspace)
    if delete_form.is_valid():
        try:
            workspace_delete(workspace=workspace, user=request.user)
        except DomainError as exc:
            delete_form.add_error(None, exc.message)
        else:
            messages.success(request, f"Workspace “{name}” and its runs, variables and versions were deleted.")
            return redirect("workspace_list")
    context = {"workspace": workspace, "tab": "settings",
               "form": WorkspaceSettingsForm.for_workspace(workspace), "delete_form": delete_form,
               "backend_block": backend_block(request, workspace)}
    return render_page(request, "workspaces/settings.html", context, fragment="settings", status=400)


# --- members -------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def workspace_members_view(request, name):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    form = MemberForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                member = member_set(workspace=workspace, role=data["role"], member_user=data.get("member_user"),
                                    group=data.get("member_group"), user=request.user)
            except DomainError as exc:
                form_error_from(form, exc)
            else:
                messages.success(request, f"{member.principal} is now {member.get_role_display().lower()}.")
                return redirect("workspace_members", workspace.name)
        status = 400
    members = workspace.members.select_related("user", "group").order_by("-role", "user__username", "group__name")
    context = {"workspace": workspace, "tab": "members", "form": form, "members": members}
    return render_page(request, "workspaces/members.html", context, fragment="members", status=status)


@require_POST
def workspace_member_remove_view(request, name, member_id):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    member = get_object_or_404(workspace.members.select_related("user", "group"), pk=member_id)
    try:
        member_remove(member=member, user=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{member.principal} no longer has a role here.")
    return redirect("workspace_members", workspace.name)


# --- API tokens (the user menu) ------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def token_list_view(request):
    """The user's own tokens; a new token's secret is shown once, in this response only."""
    form = TokenForm(request.POST or None)
    status, created, secret = 200, None, None
    if request.method == "POST":
        if form.is_valid():
            try:
                created, secret = api_token_create(user=request.user, name=form.cleaned_data["name"],
                                                   expires_in_days=form.cleaned_data["expires_in_days"])
            except DomainError as exc:
                form_error_from(form, exc)
                status = 400
            else:
                form = TokenForm()
                status = 201
        else:
            status = 400
    response = render_page(request, "workspaces/tokens.html",
                           {"form": form, "tokens": api_tokens_of(request.user), "created": created,
                            "secret": secret}, fragment="tokens", status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a secret
    return response


@require_POST
def token_revoke_view(request, token_id):
    try:
        token = api_token_get(user=request.user, token_id=token_id)
    except DomainError as exc:
        raise Http404(exc.message) from None
    api_token_revoke(token=token, user=request.user)
    messages.success(request, f"Token “{token.name}” revoked: requests with it now get 401.")
    return redirect("token_list")


# --- audit trail ---------------------------------------------------------------------------
def _audit_filters(request) -> tuple[dict, dict, list[str]]:
    """(service filters, the form's values, errors) from the query string."""
    values = {key: request.GET.get(key, "").strip()[:150] for key in ("actor", "action", "since", "until", "workspace")}
    filters, errors = {"actor": values["actor"], "action": values["action"]}, []
    for key, end in (("since", False), ("until", True)):
        try:
            filters[key] = parse_when(values[key], end=end)
        except ValueError as exc:
            errors.append(str(exc))
    return filters, values, errors


def _audit_page(request, events, context: dict):
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {**context, "page": page, "query": query.urlencode(), "action_groups": ACTION_GROUPS}
    # The table is a partial of the body template the page includes; an HTMX request gets only it.
    template = "workspaces/_audit_body.html#events" if request.htmx else "workspaces/audit.html"
    response = render(request, template, context, status=400 if context["errors"] else 200)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_safe
def workspace_audit_view(request, name):
    workspace = workspace_for(request.user, name, Role.READER)
    filters, values, errors = _audit_filters(request)
    events = audit_events(workspace=workspace, **filters)
    return _audit_page(request, events, {"workspace": workspace, "tab": "audit", "values": values, "errors": errors})


@require_safe
def audit_view(request):
    """Every event, for superusers: failed logins and tokens too, and deleted workspaces."""
    if not request.user.is_superuser:
        raise PermissionDenied("The global audit trail is for superusers; see a workspace's Audit tab.")
    filters, values, errors = _audit_filters(request)
    events = audit_events(**filters)
    if values["workspace"]:
        events = events.filter(workspace_name=values["workspace"])
    return _audit_page(request, events, {"workspace": None, "values": values, "errors": errors})


# --- error pages ---------------------------------------------------------------------------
def page_not_found(request, exception=None):
    return render(request, "errors/error.html", {
        "code": 404, "title": "Not found",
        "text": "There is nothing at this address: the workspace, run or version may have been deleted, "
                "or the link is mistyped.",
    }, status=404)


def permission_denied(request, exception=None):
    return render(request, "errors/error.html", {
        "code": 403, "title": "Not allowed",
        "text": str(exception) if exception and str(exception) else "Your account may not do this.",
    }, status=403)
