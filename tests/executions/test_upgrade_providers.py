"""Issue 16, bug 11: provider versions stay those of the stored lock file, unless a run asks to
"upgrade providers" (form checkbox, API flag): that run's init takes -upgrade and stores the new
lock file, which the runs after it keep.

Before, every plan ran `init` without a lock file: each plan silently took the newest provider
versions the code allowed, and nothing could ask for -upgrade.
"""

import json
import re
import shutil

import pytest
from django.urls import reverse

from executions.executor.logs import log_text
from executions.models import WorkspaceTask
from executions.services import task_queue_run
from tests.fixtures.provider_mirror import NAME, PLATFORM, SOURCE, VERSION, install_provider_mirror

Status = WorkspaceTask.Status
NEWER = "1.1.0"


def _locked_version(task) -> str:
    match = re.search(r'provider "[^"]*' + NAME + r'" \{\s*version\s*=\s*"([^"]+)"', task.lock_file)
    assert match, task.lock_file
    return match.group(1)


def _add_version(mirror, version):
    old = next(mirror.rglob(f"terraform-provider-{NAME}_v{VERSION}"))
    package = old.parents[2] / version / PLATFORM
    package.mkdir(parents=True, exist_ok=True)
    shutil.copy2(old, package / f"terraform-provider-{NAME}_v{version}")


@pytest.fixture
def mirror(tmp_path, settings):
    settings.IAC_PROVIDER_MIRROR = str(install_provider_mirror(tmp_path / "mirror"))
    return tmp_path / "mirror"


def test_the_stored_lock_file_is_kept_until_a_run_upgrades(workspace, save_code, run_now, mirror, tmp_path):
    save_code(workspace, json.dumps({
        "terraform": {"required_providers": {NAME: {"source": SOURCE, "version": f">= {VERSION}"}}},
        "resource": {"localfile_file": {"a": {"path": str(tmp_path / "a.txt"), "content": "x"}}}}))
    first = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert first.status == Status.PLAN_FINISHED, first.error_message
    assert _locked_version(first) == VERSION

    _add_version(mirror, NEWER)  # a newer provider the code allows appears
    kept = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert kept.status == Status.PLAN_FINISHED, kept.error_message
    assert _locked_version(kept) == VERSION
    assert f"the lock file stored by run #{first.pk} is kept" in log_text(kept)
    assert "-upgrade" not in log_text(kept)

    upgraded = run_now(task_queue_run(workspace=workspace, kind="plan", upgrade_providers=True))
    assert upgraded.status == Status.PLAN_FINISHED, upgraded.error_message
    assert "$ terraform init -input=false -no-color -upgrade" in log_text(upgraded)
    assert _locked_version(upgraded) == NEWER

    after = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert _locked_version(after) == NEWER
    assert f"the lock file stored by run #{upgraded.pk} is kept" in log_text(after)


def test_the_form_and_the_api_offer_it(auth_client, workspace, save_code):
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"a": {}}}}))
    page = auth_client.get(reverse("run_new", args=["demo"])).content.decode()
    assert 'name="upgrade_providers"' in page and "Upgrade providers" in page
    response = auth_client.post(reverse("run_new", args=["demo"]), {"kind": "plan", "upgrade_providers": "on"})
    assert response.status_code == 302
    assert WorkspaceTask.objects.latest("pk").upgrade_providers is True
    response = auth_client.post(reverse("run_new", args=["demo"]), {"kind": "plan"})
    assert WorkspaceTask.objects.latest("pk").upgrade_providers is False
    body = auth_client.post("/api/v1/workspaces/demo/runs", {"kind": "plan", "upgrade_providers": True},
                            content_type="application/json").json()
    assert body["upgrade_providers"] is True and WorkspaceTask.objects.get(pk=body["id"]).upgrade_providers
    body = auth_client.post("/api/v1/workspaces/demo/runs", {"kind": "plan"}, content_type="application/json").json()
    assert body["upgrade_providers"] is False


def test_a_constraint_the_lock_file_does_not_meet_says_upgrade(workspace, save_code, run_now, mirror, tmp_path):
    def code(constraint):
        save_code(workspace, json.dumps({
            "terraform": {"required_providers": {NAME: {"source": SOURCE, "version": constraint}}},
            "resource": {"localfile_file": {"a": {"path": str(tmp_path / "a.txt"), "content": "x"}}}}))

    code(f"= {VERSION}")
    assert run_now(task_queue_run(workspace=workspace, kind="plan")).status == Status.PLAN_FINISHED
    _add_version(mirror, NEWER)
    code(f">= {NEWER}")
    refused = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert refused.status == Status.FAILED and refused.error_category == "configuration", refused.error_message
    assert '"upgrade providers"' in refused.error_hint
    upgraded = run_now(task_queue_run(workspace=workspace, kind="plan", upgrade_providers=True))
    assert upgraded.status == Status.PLAN_FINISHED, upgraded.error_message
    assert _locked_version(upgraded) == NEWER
