"""The console in a real browser, without runs: log in, create a workspace, validation, variables."""

import re

import pytest
from playwright.sync_api import expect

from executions.models import WorkspaceTask
from tests.e2e.conftest import shot
from workspaces.models import Variable, Workspace

pytestmark = pytest.mark.e2e
SECRET = "s3cr3t-e2e-value-never-shown"


def test_log_in_and_create_a_workspace(logged_in):
    page = logged_in
    expect(page.locator("h1")).to_have_text("Workspaces")
    page.click("text=New workspace")
    page.fill("#id_name", "web-e2e")
    page.fill("#id_description", "Web tier, created from the browser")
    page.fill("#id_terraform_version", "1.15")
    page.click("button:has-text('Create workspace')")
    page.wait_for_url("**/workspaces/web-e2e/")
    expect(page.locator(".flash-success")).to_contain_text("Workspace “web-e2e” created")
    expect(page.locator(".tabs a.active")).to_have_text("Overview")
    ws = Workspace.objects.get(name="web-e2e")
    assert ws.terraform_version == "1.15" and ws.description == "Web tier, created from the browser"

    page.click(".topnav >> text=Workspaces")
    expect(page.locator("#results")).to_contain_text("web-e2e")
    page.fill("input[name=q]", "nothing-like-this")
    expect(page.locator("#results")).to_contain_text("No workspaces match")
    assert "q=nothing-like-this" in page.url  # the search is in the address bar, shareable


def test_a_bad_workspace_name_is_shown_next_to_the_field(logged_in):
    page = logged_in
    page.goto("/new/")
    page.fill("#id_name", "bad name!")
    page.click("button:has-text('Create workspace')")
    error = page.locator("#field-name .errorlist")
    expect(error).to_contain_text("Use only letters, digits, '-' and '_'.")
    expect(page.locator("#id_name")).to_have_value("bad name!")
    assert page.url.endswith("/new/")
    shot(page, "workspace-create-validation-error")
    assert not Workspace.objects.exists()


def test_a_sensitive_variable_is_never_shown_back(logged_in):
    Workspace.objects.create(name="secrets")
    page = logged_in
    page.goto("/workspaces/secrets/variables/")
    page.select_option("#id_category", "env")
    page.fill("#id_key", "API_TOKEN")
    page.fill("#id_value", SECRET)
    page.check("#id_sensitive")
    page.click("button:has-text('Add variable')")
    expect(page.locator(".flash-success")).to_contain_text("Sensitive variable “API_TOKEN” added.")
    row = page.locator("tr", has_text="API_TOKEN")
    expect(row).to_contain_text("Sensitive — write only")
    assert SECRET not in page.content()
    assert Variable.objects.get(key="API_TOKEN").get_value() == SECRET

    # a mistake on a sensitive value does not echo it either
    page.fill("#id_key", "1-bad")
    page.fill("#id_value", SECRET)
    page.check("#id_sensitive")
    page.click("button:has-text('Add variable')")
    expect(page.locator("#field-key .errorlist")).to_be_visible()
    assert SECRET not in page.content()

    row = page.locator("tr", has_text="API_TOKEN")
    row.locator("text=Edit").click()
    expect(page.locator("#id_value")).to_have_value("")
    expect(page.locator("#id_value")).to_have_attribute("placeholder", re.compile("leave empty to keep"))
    page.fill("#id_description", "CI token")
    page.click("button:has-text('Save variable')")
    expect(page.locator(".flash-success")).to_contain_text("Variable “API_TOKEN” saved.")
    var = Variable.objects.get(key="API_TOKEN")
    assert var.get_value() == SECRET and var.description == "CI token"
    assert SECRET not in page.content()
    shot(page, "variables")


def test_lock_blocks_new_runs_and_unlock_frees_them(logged_in):
    Workspace.objects.create(name="frozen")
    page = logged_in
    page.goto("/workspaces/frozen/")
    page.fill("input[name=reason]", "Maintenance window")
    page.click("button:has-text('Lock workspace')")
    expect(page.locator(".banner-red")).to_contain_text("Maintenance window")
    expect(page.locator(".ws-actions .btn")).to_have_attribute("aria-disabled", "true")
    page.goto("/workspaces/frozen/runs/new/")
    expect(page.locator("button:has-text('Start run')")).to_be_disabled()
    page.goto("/workspaces/frozen/")
    page.click("button:has-text('Unlock workspace')")
    expect(page.locator(".flash-success")).to_contain_text("Workspace unlocked")
    assert not Workspace.objects.get(name="frozen").locked
    assert not WorkspaceTask.objects.exists()


def test_delete_workspace_needs_its_name(logged_in):
    Workspace.objects.create(name="doomed")
    page = logged_in
    page.goto("/workspaces/doomed/settings/")
    page.fill("#id_confirm_name", "doom")
    page.click("button:has-text('Delete this workspace')")
    expect(page.locator("#field-confirm_name .errorlist")).to_contain_text("Type “doomed” exactly")
    page.fill("#id_confirm_name", "doomed")
    page.click("button:has-text('Delete this workspace')")
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator(".flash-success")).to_contain_text("“doomed”")
    assert not Workspace.objects.exists()
