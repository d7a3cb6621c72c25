"""A soft-mandatory policy stops a plan; an admin overrides it in the browser with a reason,
and the apply proceeds (real worker, real Terraform, real regopy)."""

import json
import re

import pytest
from playwright.sync_api import expect

from executions.models import PolicyOverride, WorkspaceTask
from executions.policies import policy_set_save
from executions.services import task_queue_run
from tests.e2e.conftest import PASSWORD, shot
from tests.executions.test_policies import OWNER_POLICY
from workspaces.code.services import code_version_save
from workspaces.models import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.worker]
RUN_TIMEOUT = 90_000


@pytest.fixture
def admin_page(page, django_user_model, transactional_db):
    admin = django_user_model.objects.create_superuser(username="admin-e2e", password=PASSWORD)
    page.goto("/login/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return page


def test_admin_overrides_a_soft_mandatory_policy_and_the_apply_proceeds(admin_page, live_worker, tmp_path):
    page = admin_page
    marker = tmp_path / "web.txt"
    workspace = Workspace.objects.create(name="policy-e2e")
    code_version_save(workspace=workspace, code_format="json", code=json.dumps({"resource": {"terraform_data": {
        "web": {"input": {"env": "prod"}, "provisioner": {"local-exec": {"command": f"echo made > {marker}"}}}}}}))
    workspace.refresh_from_db()
    policy_set_save(workspace=workspace, name="owners", enforcement="soft_mandatory", rego=OWNER_POLICY)
    plan = task_queue_run(workspace=workspace, kind="plan_and_apply")

    page.goto(f"/workspaces/{workspace.name}/runs/{plan.pk}/")
    expect(page.locator("#run-status")).to_contain_text("Policy override needed", timeout=RUN_TIMEOUT)
    expect(page.locator("#policy-results")).to_contain_text("terraform_data.web: env prod needs an owner")
    expect(page.locator("#stage-durations")).to_contain_text("Policy check")
    shot(page, "policy-override-needed")
    page.fill("#override-form textarea[name=reason]", "Owner is assigned in TICKET-7")
    page.click("#override-button")
    expect(page.locator("#run-status")).to_contain_text("Needs confirmation")
    expect(page.locator("#policy-override-note")).to_contain_text("Owner is assigned in TICKET-7")
    page.click("#confirm-button")
    expect(page.locator("#run-status")).to_contain_text("Applied", timeout=RUN_TIMEOUT)
    assert marker.read_text().strip() == "made"
    entry = PolicyOverride.objects.get(task=plan)
    assert entry.username == "admin-e2e" and entry.reason == "Owner is assigned in TICKET-7"
    assert WorkspaceTask.objects.get(pk=plan.pk).status == WorkspaceTask.Status.CONFIRMED
