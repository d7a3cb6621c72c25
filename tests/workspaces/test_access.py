"""Every page needs a login; every admin page renders; the API answers 401 in the common shape."""

import re

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

PUBLIC = {"/login/", "/admin/login/", "/api/v1/docs", "/api/v1/openapi.json"}
# django-ninja registers its bare prefix as a pattern with no operation behind it.
NO_VIEW = {"/api/v1/"}
# A hook fetches the plan JSON with a short-lived token instead of a login (403 without it).
TOKEN_URLS = {"/workspaces/x/runs/1/plan.json"}


def _sample(regex_group: str) -> str:
    return regex_group.split("|")[0] if "|" in regex_group else "1"


def _to_path(pattern) -> str:
    raw = str(pattern)
    if hasattr(pattern, "_route"):
        return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x", raw)
    raw = raw.lstrip("^").rstrip("$").replace("\\Z", "")
    raw = re.sub(r"\(\?P<\w+>([^)]*)\)", lambda m: _sample(m.group(1)), raw)
    return raw.replace("\\", "")


def _walk(patterns, prefix=""):
    for p in patterns:
        path = prefix + _to_path(p.pattern)
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, path)
        elif isinstance(p, URLPattern):
            yield "/" + path


ALL_URLS = sorted(set(_walk(get_resolver().url_patterns)))


def test_urls_were_enumerated():
    assert "/" in ALL_URLS and "/api/v1/workspaces" in ALL_URLS and "/admin/" in ALL_URLS


@pytest.mark.django_db
@pytest.mark.parametrize("url", [u for u in ALL_URLS if u not in PUBLIC | NO_VIEW | TOKEN_URLS])
def test_anonymous_is_turned_away(client, url):
    response = client.get(url)
    assert response.status_code in (301, 302, 401, 405), (url, response.status_code)
    if response.status_code == 302:
        assert "login" in response["Location"]
    if url.startswith("/api/") and response.status_code == 401:
        assert "detail" in response.json() and "errors" in response.json()


@pytest.mark.django_db
def test_login_page_and_docs_are_public(client):
    assert client.get("/login/").status_code == 200
    assert client.get("/api/v1/docs").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_admin_changelist_and_add_render(admin_client_logged, model, rf, admin_user):
    opts = model._meta
    assert admin_client_logged.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code == 200
    request = rf.get("/")
    request.user = admin_user
    if not admin.site._registry[model].has_add_permission(request):
        return  # django-q's result tables are read-only by design
    assert admin_client_logged.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 200


@pytest.mark.django_db
def test_workspace_list_for_logged_in_user(auth_client, workspace):
    response = auth_client.get("/")
    assert response.status_code == 200
    assert b"demo" in response.content and b"htmx" in response.content


@pytest.mark.django_db
def test_workspace_list_htmx_fragment_and_search(auth_client, workspace):
    from workspaces.models import Workspace

    Workspace.objects.create(name="prod-network", locked=True, locked_at="2026-01-01T00:00Z")
    response = auth_client.get("/?q=prod", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"prod-network" in response.content and b"demo" not in response.content
    response = auth_client.get("/?filter=locked")
    assert b"prod-network" in response.content and b">demo<" not in response.content


@pytest.mark.django_db
def test_workspace_list_queries_are_bounded(auth_client, django_assert_max_num_queries):
    from workspaces.models import Workspace

    Workspace.objects.bulk_create([Workspace(name=f"ws-{i}") for i in range(100)])
    with django_assert_max_num_queries(8):
        assert auth_client.get("/").status_code == 200


@pytest.mark.django_db
def test_not_found_page_says_what_happened(auth_client, settings):
    settings.DEBUG = False
    response = auth_client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"There is nothing at this address" in response.content
