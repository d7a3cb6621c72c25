"""Roles in a real browser: a planner sees no Confirm button and a forged confirm is refused;
a reader never sees a sensitive value and cannot download the raw state."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from executions.models import WorkspaceTask
from tests.e2e.conftest import PASSWORD
from tests.workspaces import version_helpers as vh
from workspaces.code.services import code_version_save
from workspaces.models import Role, Workspace, WorkspaceMember
from workspaces.services import variable_set, variables_checksum
from workspaces.state.services import state_upload

pytestmark = pytest.mark.e2e
PEM = "-----BEGIN KEY-----\nMIIEsecretline\n-----END KEY-----"


@pytest.fixture
def shared(django_user_model, transactional_db):
    ws = Workspace.objects.create(name="shared")
    code_version_save(workspace=ws, code='{"resource": {"terraform_data": {}}}')
    variable_set(workspace=ws, key="DEPLOY_KEY", value=PEM, category="env", sensitive=True)
    state_upload(workspace=ws, content=vh.two_states()[0])
    ws.refresh_from_db()
    task = WorkspaceTask.objects.create(
        workspace=ws, task_type="plan_and_apply", status="planned", stage="awaiting_confirmation",
        started_at=timezone.now(), code_version=ws.current_code_version, plan_file=b"plan", has_changes=True,
        change_summary={"resources": [], "outputs": []},
        context={"code_version": ws.current_code_version.number, "variables_checksum": variables_checksum(ws),
                 "state_serial": 1, "resource_versions": {}},
    )
    for name, role in (("planner", Role.PLANNER), ("reader", Role.READER)):
        user = django_user_model.objects.create_user(username=name, password=PASSWORD)
        WorkspaceMember.objects.create(workspace=ws, user=user, role=role)
    return ws, task


def _log_in(page, username):
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def test_a_planner_cannot_confirm_even_by_a_forged_post(page, shared):
    ws, task = shared
    _log_in(page, "planner")
    page.goto(f"/workspaces/shared/runs/{task.pk}/")
    expect(page.locator("h1")).to_contain_text("shared")
    expect(page.locator("#confirm-button")).to_have_count(0)
    expect(page.locator("#discard-button")).to_have_count(0)
    status = page.evaluate("""async (url) => {
        const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
        const body = new URLSearchParams({csrfmiddlewaretoken: csrf, comment: 'forged'});
        const response = await fetch(url, {method: 'POST', body, redirect: 'manual'});
        return response.status;
    }""", f"/workspaces/shared/runs/{task.pk}/confirm/")
    assert status == 403
    task.refresh_from_db()
    assert task.status == "planned" and not WorkspaceTask.objects.filter(plan_task=task).exists()


def test_a_reader_sees_no_sensitive_value_and_cannot_download_state(page, shared):
    _log_in(page, "reader")
    expect(page.locator("body")).to_contain_text("shared")
    page.goto("/workspaces/shared/variables/")
    expect(page.locator("body")).to_contain_text("DEPLOY_KEY")
    expect(page.locator("body")).to_contain_text("Sensitive — write only")
    assert "MIIEsecretline" not in page.content()
    expect(page.locator("#add-variable")).to_have_count(0)
    page.goto("/workspaces/shared/states/1/")
    assert vh.SECRET not in page.content()
    expect(page.get_by_role("link", name="Download")).to_have_count(0)
    response = page.request.get("/workspaces/shared/states/1/download/")
    assert response.status == 403 and vh.SECRET not in response.text()
