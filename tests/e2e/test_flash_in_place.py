"""Issue 16, bugs 1 and 6 in a real browser: the dependency form answers in place — a refused
cycle as a styled error inside the page, a save with its message — and old messages go.
"""

import re

import pytest
from playwright.sync_api import expect

from resources.models import ResourceDependency
from resources.services import resource_create
from tests.e2e.conftest import shot
from workspaces.models import Workspace

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_dependency_form_answers_in_place(logged_in, settings, debug):
    settings.DEBUG = debug
    page = logged_in
    ws = Workspace.objects.create(name="e2e-deps")
    a = resource_create(workspace=ws, code={"resource": {"terraform_data": {"a": {"input": "a"}}}})
    b = resource_create(workspace=ws, code={"resource": {"terraform_data": {"b": {"input": "b"}}}})

    page.goto(f"/workspaces/e2e-deps/resources/{b.pk}/dependencies/")
    page.check(f"input[name=depends_on][value='{a.pk}']")
    page.click("button:has-text('Save dependencies')")
    expect(page.locator("#messages .flash-success")).to_have_text("Saved the dependencies of terraform_data.b.")
    assert ResourceDependency.objects.filter(resource=b, depends_on=a).exists()

    page.goto(f"/workspaces/e2e-deps/resources/{a.pk}/dependencies/")
    expect(page.locator("#messages")).to_be_empty()  # shown once, not again on the next page
    page.evaluate("document.getElementById('messages').innerHTML = '<div class=\"flash\">old news</div>'")
    page.check(f"input[name=depends_on][value='{b.pk}']")
    page.click("button:has-text('Save dependencies')")
    error = page.locator("#deps .flash-error")
    expect(error).to_contain_text("terraform_data.a → terraform_data.b → terraform_data.a")
    expect(page.locator("#messages")).to_be_empty()  # the old message went with the action
    # still the whole, styled page around the fragment (not the bare fragment as the document)
    expect(page.locator("header.topbar")).to_be_visible()
    expect(page.locator(".tabs")).to_be_visible()
    assert re.search(r"rgb\(", error.evaluate("e => getComputedStyle(e).backgroundColor"))
    assert error.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    shot(page, f"dependency-cycle-in-place-{'debug' if debug else 'production'}")
