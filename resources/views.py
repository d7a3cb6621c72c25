"""Pages of the Resources tab. Thin: parse the request, call a service or selector, render.

Each view serves its page and, for an HTMX request, the fragment that changes
(``template.html#fragment``); responses vary on HX-Request. Domain errors become form
errors (400) or flash messages; a missing id is a 404 page.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from iacplatform.errors import DomainError, NotFound
from iacplatform.pages import render_page
from resources import fragments, selectors, services
from resources.forms import ImportForm, ResourceEditForm, ResourceForm, SnapshotForm
from resources.models import WorkspaceResource
from workspaces.code.files import split_code_files
from workspaces.diffs import DEFAULT_CONTEXT
from workspaces.access import workspace_for
from workspaces.models import Role

PER_PAGE = 50
VERSIONS_PER_PAGE = 25
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
VIEWS = ("unified", "split")
TAB = "resources"


def _render(request, template: str, fragment: str | None, context: dict, status: int = 200) -> HttpResponse:
    return render_page(request, template, {"tab": TAB, **context}, fragment=fragment, status=status)


def _resource(workspace, pk) -> WorkspaceResource:
    try:
        return selectors.resource_get(workspace=workspace, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _snapshot(workspace, pk):
    try:
        return selectors.snapshot_get(workspace=workspace, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _add_errors(form, exc: DomainError) -> None:
    errors = exc.errors or {}
    placed = False
    for field_name, field_errors in errors.items():
        if field_name in form.fields:
            for error in field_errors:
                form.add_error(field_name, error)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# --- list, create, deploy ---------------------------------------------------------------------
@require_safe
def resource_list(request, name):
    workspace = workspace_for(request.user, name, Role.READER)
    filters = {
        "search": request.GET.get("q", "").strip(),
        "status": request.GET.get("status", "active"),
        "kind": request.GET.get("kind", ""),
        "sort": request.GET.get("sort", "address"),
    }
    error, status = "", 200
    try:
        qs = selectors.resource_list(workspace=workspace, **filters)
    except DomainError as exc:
        error, status, qs = exc.message, 400, WorkspaceResource.objects.none()
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    return _render(request, "resources/list.html", "results", {
        "workspace": workspace, "page": page, "filters": filters, "error": error,
        "query": _query_without_page(request), "counts": selectors.resource_counts(workspace=workspace),
        "sorts": list(selectors.SORTS), "kinds": WorkspaceResource.Kind.choices,
    }, status=status)


@require_http_methods(["GET", "POST"])
def resource_create(request, name):
    workspace = workspace_for(request.user, name, Role.PLANNER)
    form = ResourceForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                resource = services.resource_create(
                    workspace=workspace, code=form.cleaned_data["code"], description=form.cleaned_data["description"],
                    tags=form.cleaned_data["tags"], user=request.user)
            except DomainError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Added {resource.resource_id} (version 1).")
                return redirect("resource_detail", name=workspace.name, pk=resource.pk)
        status = 400
    return _render(request, "resources/form.html", "form", {
        "workspace": workspace, "form": form, "resource": None,
    }, status=status)


@require_POST
def resource_deploy(request, name):
    workspace = workspace_for(request.user, name, Role.PLANNER)
    try:
        task = services.resources_deploy(
            workspace=workspace, resource_ids=request.POST.getlist("resource_ids"),
            kind=request.POST.get("kind", "plan"), message=request.POST.get("message", ""), user=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("resource_list", name=workspace.name)
    messages.success(request, f"Run #{task.pk} queued: {task.get_task_type_display().lower()} of "
                              f"{', '.join(task.targets)}.")
    return redirect("run_detail", name=workspace.name, task_id=task.pk)


def _shown_code(version) -> str:
    """A version as its author wrote it: the HCL text (comments included) when it came from HCL."""
    return version.source_text or fragments.pretty(version.code)


# --- one resource -----------------------------------------------------------------------------
@require_safe
def resource_detail(request, name, pk):
    workspace = workspace_for(request.user, name, Role.READER)
    resource = _resource(workspace, pk)
    page = Paginator(selectors.version_list(resource=resource), VERSIONS_PER_PAGE).get_page(request.GET.get("page"))
    code = _shown_code(resource.current_version) if resource.current_version_id else ""
    return _render(request, "resources/detail.html", "history", {
        "workspace": workspace, "resource": resource, "page": page, "code_lines": code.rstrip("\n").split("\n"),
        "source_is_hcl": bool(resource.current_version_id and resource.current_version.source_text),
        "dependencies": selectors.dependencies_get(resource=resource),
    })


@require_http_methods(["GET", "POST"])
def resource_edit(request, name, pk):
    workspace = workspace_for(request.user, name, Role.PLANNER)
    resource = _resource(workspace, pk)
    if request.method == "POST":
        form = ResourceEditForm(request.POST)
        if form.is_valid():
            try:
                resource, version = services.resource_update(
                    resource=resource, code=form.cleaned_data["code"], description=form.cleaned_data["description"],
                    tags=form.cleaned_data["tags"], change_summary=form.cleaned_data["change_summary"],
                    user=request.user)
            except DomainError as exc:
                _add_errors(form, exc)
            else:
                if version is not None:
                    messages.success(request, f"Saved {resource.resource_id} as version {version.version}.")
                else:
                    messages.info(request, "The code is unchanged: no new version.")
                return redirect("resource_detail", name=workspace.name, pk=resource.pk)
        status = 400
    else:
        form = ResourceEditForm(initial={
            "code": _shown_code(resource.current_version) if resource.current_version_id else "",
            "description": resource.description, "tags": ", ".join(resource.tags),
        })
        status = 200
    return _render(request, "resources/form.html", "form", {
        "workspace": workspace, "form": form, "resource": resource,
    }, status=status)


def _resource_action(request, name, pk, action, success: str):
    """Soft delete or restore: run the service, say what happened, back to the resource."""
    workspace = workspace_for(request.user, name, Role.PLANNER)
    resource = _resource(workspace, pk)
    try:
        action(resource=resource, user=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success.format(address=resource.resource_id))
    return redirect("resource_detail", name=workspace.name, pk=resource.pk)


@require_POST
def resource_delete(request, name, pk):
    return _resource_action(request, name, pk, services.resource_delete,
                            "Deleted {address}: the next apply destroys it. "
                            "Its history stays; restore it to bring it back.")


@require_POST
def resource_restore(request, name, pk):
    return _resource_action(request, name, pk, services.resource_restore, "Restored {address}.")


# --- versions ---------------------------------------------------------------------------------
@require_safe
def resource_version_detail(request, name, pk, version):
    workspace = workspace_for(request.user, name, Role.READER)
    resource = _resource(workspace, pk)
    try:
        found = selectors.version_get(resource=resource, version=version)
    except NotFound as exc:
        raise Http404(exc.message) from None
    return _render(request, "resources/version.html", "content", {
        "workspace": workspace, "resource": resource, "version": found,
        "code_lines": _shown_code(found).rstrip("\n").split("\n"), "source_is_hcl": bool(found.source_text),
        "json_lines": fragments.pretty(found.code).rstrip("\n").split("\n") if found.source_text else None,
        "is_current": found.pk == resource.current_version_id,
    })


def _positive(raw, key: str) -> int:
    text = str(raw).strip()
    if not text.isdigit() or int(text) < 1:
        raise DomainError(f"{raw!r} is not a valid version number for '{key}': use a whole number of at least 1.")
    return int(text)


@require_safe
def resource_compare(request, name, pk):
    workspace = workspace_for(request.user, name, Role.READER)
    resource = _resource(workspace, pk)
    numbers = list(resource.versions.order_by("-version").values_list("version", flat=True))
    view = request.GET.get("view") if request.GET.get("view") in VIEWS else "unified"
    full = request.GET.get("full") == "1"
    comparison, error, status = None, "", 200
    try:
        new = _positive(request.GET["to"], "to") if request.GET.get("to") else numbers[0]
        old = _positive(request.GET["from"], "from") if request.GET.get("from") else numbers[min(1, len(numbers) - 1)]
        comparison = selectors.version_compare(resource=resource, from_version=old, to_version=new,
                                               context=None if full else DEFAULT_CONTEXT)
    except NotFound as exc:
        error, status, old, new = exc.message, 404, None, None
    except DomainError as exc:
        error, status, old, new = exc.message, 400, None, None
    return _render(request, "resources/compare.html", "diff", {
        "workspace": workspace, "resource": resource, "numbers": numbers, "from": old, "to": new,
        "view": view, "full": full, "comparison": comparison, "error": error,
        "base_url": reverse("resource_compare", args=[workspace.name, resource.pk]),
    }, status=status)


@require_POST
def resource_rollback(request, name, pk, version):
    workspace = workspace_for(request.user, name, Role.PLANNER)
    resource = _resource(workspace, pk)
    try:
        resource, new = services.version_rollback(resource=resource, version=version, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if new is None:
            messages.info(request, f"Version {version} has the same code as the current version; nothing to roll back.")
        else:
            messages.success(request, f"Rolled back: version {new.version} has the code of version {version}.")
    return redirect("resource_detail", name=workspace.name, pk=resource.pk)


# --- dependencies -----------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def resource_dependencies(request, name, pk):
    workspace = workspace_for(request.user, name, Role.PLANNER if request.method == "POST" else Role.READER)
    resource = _resource(workspace, pk)
    error, status = "", 200
    if request.method == "POST":
        try:
            services.dependencies_set(resource=resource, depends_on=request.POST.getlist("depends_on"),
                                      user=request.user)
        except DomainError as exc:
            error, status = exc.message, exc.status if exc.status in (400, 404, 409) else 400
        else:
            messages.success(request, f"Saved the dependencies of {resource.resource_id}.")
            return redirect("resource_dependencies", name=workspace.name, pk=resource.pk)
    deps = selectors.dependencies_get(resource=resource)
    chosen = ({int(v) for v in request.POST.getlist("depends_on") if str(v).isdigit()} if error
              else {r.pk for r in deps.depends_on})
    candidates = (WorkspaceResource.objects.filter(workspace=workspace, is_active=True)
                  .exclude(pk=resource.pk).order_by("resource_id").only("pk", "resource_id"))
    return _render(request, "resources/dependencies.html", "deps", {
        "workspace": workspace, "resource": resource, "deps": deps, "candidates": candidates,
        "chosen": chosen, "error": error,
    }, status=status)


@require_safe
def dependency_graph(request, name):
    workspace = workspace_for(request.user, name, Role.READER)
    return _render(request, "resources/graph.html", None, {
        "workspace": workspace, "edges": selectors.dependency_edges(workspace=workspace),
    })


# --- snapshots --------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def snapshot_list(request, name):
    workspace = workspace_for(request.user, name, Role.PLANNER if request.method == "POST" else Role.READER)
    form = SnapshotForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                snapshot = services.snapshot_create(workspace=workspace, name=form.cleaned_data["name"],
                                                    description=form.cleaned_data["description"], user=request.user)
            except DomainError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Snapshot {snapshot.name!r} pins {snapshot.resource_count} resource "
                                          "version(s).")
                return redirect("snapshot_list", name=workspace.name)
        status = 400
    page = Paginator(selectors.snapshot_list(workspace=workspace), PER_PAGE).get_page(request.GET.get("page"))
    return _render(request, "resources/snapshots.html", "snapshots", {
        "workspace": workspace, "form": form, "page": page,
    }, status=status)


@require_safe
def snapshot_detail(request, name, pk):
    workspace = workspace_for(request.user, name, Role.READER)
    snapshot = _snapshot(workspace, pk)
    try:
        changes, problem = services.snapshot_changes(snapshot), ""
    except DomainError as exc:
        changes, problem = [], exc.message
    counts = {}
    for change in changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    return _render(request, "resources/snapshot.html", "preview", {
        "workspace": workspace, "snapshot": snapshot, "changes": changes, "problem": problem, "counts": counts,
        "has_changes": any(c.action != "unchanged" for c in changes),
    })


@require_POST
def snapshot_restore(request, name, pk):
    workspace = workspace_for(request.user, name, Role.PLANNER)
    snapshot = _snapshot(workspace, pk)
    try:
        changes = services.snapshot_restore(snapshot=snapshot, user=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("snapshot_detail", name=workspace.name, pk=snapshot.pk)
    changed = [c for c in changes if c.action != "unchanged"]
    messages.success(request, f"Restored snapshot {snapshot.name!r}: {len(changed)} resource(s) changed.")
    return redirect("resource_list", name=workspace.name)


@require_POST
def snapshot_delete(request, name, pk):
    workspace = workspace_for(request.user, name, Role.PLANNER)
    snapshot = _snapshot(workspace, pk)
    services.snapshot_delete(snapshot=snapshot, user=request.user)
    messages.success(request, f"Deleted snapshot {snapshot.name!r} (the resources are unchanged).")
    return redirect("snapshot_list", name=workspace.name)


# --- import -----------------------------------------------------------------------------------
def _import_files(form, request) -> dict[str, str]:
    """{file name: text} from the pasted text (with ``# file:`` markers) and the uploads."""
    files: dict[str, str] = {}
    text = form.cleaned_data.get("text") or ""
    if text.strip():
        if text.lstrip().startswith("{"):
            files["main.tf.json"] = text
        else:
            files.update({path: body for path, body in split_code_files(text, "hcl").items()
                          if path != "main.tf" or body.strip()})
    for upload in request.FILES.getlist("files"):
        if upload.size > MAX_UPLOAD_BYTES:
            raise DomainError(f"{upload.name} is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB.")
        try:
            content = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise DomainError(f"{upload.name} is not UTF-8 text.") from None
        if upload.name in files:
            raise DomainError(f"{upload.name} is given twice (pasted and uploaded).")
        files[upload.name] = content
    if not files:
        raise DomainError("Paste some Terraform code or choose .tf files to import.")
    return files


@require_http_methods(["GET", "POST"])
def resource_import(request, name):
    workspace = workspace_for(request.user, name, Role.PLANNER)
    form = ImportForm(request.POST or None, request.FILES or None)
    report, problems, status = None, [], 200
    if request.method == "POST":
        if form.is_valid():
            try:
                report = services.resources_import(
                    workspace=workspace, files=_import_files(form, request),
                    on_duplicate=form.cleaned_data["on_duplicate"], message=form.cleaned_data["message"],
                    user=request.user)
            except DomainError as exc:
                status = exc.status if exc.status in (400, 409) else 400
                problems = [message for messages_ in (exc.errors or {}).values() for message in messages_
                            if isinstance(message, str)]
                form.add_error(None, exc.message)
        else:
            status = 400
    return _render(request, "resources/import.html", "result", {
        "workspace": workspace, "form": form, "report": report, "problems": problems,
    }, status=status)
