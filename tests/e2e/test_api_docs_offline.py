"""Issue 12: /api/v1/docs renders with the network off (Swagger UI from django-ninja's static files)."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e]

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def test_api_docs_render_without_network(page):
    blocked, local = [], []

    def only_localhost(route):
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            local.append(url)
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", only_localhost)
    page.goto("/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Terraform execution platform API")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 40
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/workspaces/{name}/runs").first).to_be_visible()
    assert blocked == [], f"the docs page asked for non-local URLs: {blocked}"
    assert any("/static/ninja/swagger-ui-bundle" in url for url in local)
