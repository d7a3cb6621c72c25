from django.core.paginator import Paginator
from django.shortcuts import render

from workspaces.selectors import workspace_list


def workspace_list_view(request):
    search = request.GET.get("q", "").strip()
    locked = {"locked": True, "unlocked": False}.get(request.GET.get("filter", ""))
    page = Paginator(workspace_list(search=search, locked=locked), 50).get_page(request.GET.get("page"))
    template = "workspaces/list.html#results" if request.htmx else "workspaces/list.html"
    return render(request, template, {"page": page, "search": search, "filter": request.GET.get("filter", "")})


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
