"""The seed's end-to-end path in a real browser, with a real django-q2 worker and real Terraform.

log in → create workspace → write code (terraform_data resources + a local module) → plan →
plan summary → confirm & apply → log lines visible while terraform still runs → files on
disk, state version listed → edit the code → the new plan shows exactly that change.
Plus: cancel a run from its page.
"""

import re

import pytest
from playwright.sync_api import expect

from executions.models import WorkspaceTask
from tests.e2e.conftest import fill_code, shot
from workspaces.code.services import code_version_save
from workspaces.models import StateVersion, Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.worker]
Status = WorkspaceTask.Status
RUN_TIMEOUT = 90_000  # ms: a worker start, init, plan or apply


def hcl_code(out_dir, *, bucket_input="v1", page_sleep=4) -> str:
    """A root resource and a local module; their provisioners write files into ``out_dir``.

    The module's provisioner says it started, sleeps, then writes its file: while it sleeps
    terraform is running and the file does not exist yet.
    """
    return f'''resource "terraform_data" "bucket" {{
  input = "{bucket_input}"
  provisioner "local-exec" {{
    command = "echo bucket > {out_dir}/bucket.txt"
  }}
}}

module "web" {{
  source  = "./modules/web"
  out_dir = "{out_dir}"
}}

output "page_id" {{
  value = module.web.page_id
}}
# file: modules/web/main.tf
variable "out_dir" {{
  type = string
}}

resource "terraform_data" "page" {{
  input = "hello"
  provisioner "local-exec" {{
    command = "echo page-provisioner-started; sleep {page_sleep}; echo hello > ${{var.out_dir}}/page.txt"
  }}
}}

output "page_id" {{
  value = terraform_data.page.id
}}
'''


def save_code_in_editor(page, workspace: str, code: str, message: str):
    page.goto(f"/workspaces/{workspace}/code/")
    fill_code(page, code)
    page.fill("input[name=message]", message)
    page.click(".code-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text(re.compile("Saved as version"))


def start_run(page, workspace: str, message: str, kind: str = "plan_and_apply") -> int:
    page.goto(f"/workspaces/{workspace}/")
    page.click(".ws-actions >> text=New run")
    page.check(f"input[name=kind][value={kind}]")
    page.fill("#id_message", message)
    page.click("button:has-text('Start run')")
    page.wait_for_url(re.compile(rf"/workspaces/{workspace}/runs/\d+/$"))
    return int(re.search(r"/runs/(\d+)/$", page.url).group(1))


def test_plan_confirm_apply_edit_and_replan(logged_in, live_worker, tmp_path):
    page = logged_in
    out = tmp_path / "out"
    out.mkdir()

    # create the workspace in the browser
    page.click("text=New workspace")
    page.fill("#id_name", "e2e-web")
    page.fill("#id_description", "terraform_data resources and a local module")
    page.click("button:has-text('Create workspace')")
    page.wait_for_url("**/workspaces/e2e-web/")

    # write the code in the Code tab
    save_code_in_editor(page, "e2e-web", hcl_code(out), "first version")

    # plan
    plan_id = start_run(page, "e2e-web", "Create bucket and page")
    expect(page.locator("#run-status")).to_contain_text("Needs confirmation", timeout=RUN_TIMEOUT)
    expect(page.locator("#plan-counts")).to_contain_text("+2")
    expect(page.locator("#plan-counts")).to_contain_text("~0")
    expect(page.locator("#plan-counts")).to_contain_text("-0")
    plan_card = page.locator("#run-plan")
    expect(plan_card).to_contain_text("2 will be created")
    expect(plan_card).to_contain_text("terraform_data.bucket")
    expect(plan_card).to_contain_text("module.web.terraform_data.page")
    expect(page.locator("#log-lines")).to_contain_text("$ terraform plan")
    expect(page.locator("#log-lines")).to_contain_text("Plan: 2 to add, 0 to change, 0 to destroy.")
    expect(page.locator(".step[data-stage=awaiting_confirmation]")).to_have_class(re.compile("step-waiting"))
    assert not list(out.iterdir()), "a plan must not run provisioners"
    shot(page, "plan-view")

    # confirm & apply: the apply page streams the log while terraform still runs
    page.fill("#confirm-form textarea[name=comment]", "reviewed in e2e")
    page.click("#confirm-button")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    apply_id = int(re.search(r"/runs/(\d+)/$", page.url).group(1))
    assert apply_id != plan_id
    expect(page.locator(".flash-success")).to_contain_text(f"apply run #{apply_id} queued")
    expect(page.locator("#log-lines")).to_contain_text("page-provisioner-started", timeout=RUN_TIMEOUT)
    # the line is on screen and terraform has not finished: the provisioner still sleeps
    assert not (out / "page.txt").exists()
    assert WorkspaceTask.objects.get(pk=apply_id).status == Status.RUNNING
    expect(page.locator("#run-status")).to_contain_text("Running")
    expect(page.locator(".step[data-stage=applying]")).to_have_class(re.compile("step-current"))
    shot(page, "run-page-running")

    expect(page.locator("#run-status")).to_contain_text("Applied", timeout=RUN_TIMEOUT)
    expect(page.locator("#log-lines")).to_contain_text("Apply complete! Resources: 2 added, 0 changed, 0 destroyed.")
    expect(page.locator("#log-poller")).to_be_empty()  # polling stopped
    line_numbers = page.locator("#log-lines .ln").all_inner_texts()
    assert line_numbers == [str(n) for n in range(1, len(line_numbers) + 1)], "each line once, numbered in order"
    assert (out / "bucket.txt").read_text().strip() == "bucket"
    assert (out / "page.txt").read_text().strip() == "hello"
    state = StateVersion.objects.get(workspace__name="e2e-web")
    expect(page.locator("#state-link")).to_have_text(f"Serial {state.serial}")
    expect(page.locator("#plan-link")).to_have_text(f"Run #{plan_id}")
    shot(page, "run-page-finished")

    # the state version is listed
    page.click(".tabs >> text=States")
    expect(page.locator(f"#state-{state.serial}")).to_contain_text(f"run #{apply_id}")
    assert StateVersion.objects.filter(workspace__name="e2e-web").count() == 1

    # the overview now shows resources and the output
    page.click(".tabs >> text=Overview")
    expect(page.locator("#overview")).to_contain_text("module.web.terraform_data.page")
    expect(page.locator("#latest-run")).to_contain_text("Applied")
    shot(page, "workspace-overview")

    # edit the code: only the bucket's input changes
    save_code_in_editor(page, "e2e-web", hcl_code(out, bucket_input="v2"), "bump bucket")
    start_run(page, "e2e-web", "Bump the bucket")
    expect(page.locator("#run-status")).to_contain_text("Needs confirmation", timeout=RUN_TIMEOUT)
    expect(page.locator("#plan-counts")).to_have_text(re.compile(r"\+0\s*~1\s*-0"))
    plan_card = page.locator("#run-plan")
    expect(plan_card).to_contain_text("1 will be updated in-place")
    expect(plan_card.locator(".plan-resource")).to_have_count(1)
    resource = plan_card.locator(".plan-resource")
    expect(resource).to_contain_text("terraform_data.bucket")
    expect(resource.locator("tr", has_text="input")).to_contain_text('"v1" → "v2"')
    expect(plan_card).not_to_contain_text("module.web.terraform_data.page")

    # the runs tab: newest first, the waiting plan flagged
    page.click(".tabs >> text=Runs")
    expect(page.locator(".run-table tbody tr").first).to_contain_text("Bump the bucket")
    page.click(".filters >> text=Needs attention")
    expect(page.locator(".run-table tbody tr")).to_have_count(1)

    page.goto("/")
    expect(page.locator("#results")).to_contain_text("1 needs confirmation")
    shot(page, "workspace-list")


def test_cancel_an_apply_from_its_run_page(logged_in, live_worker, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    ws = Workspace.objects.create(name="e2e-cancel")
    code_version_save(workspace=ws, code=hcl_code(out, page_sleep=120), code_format="hcl")
    page = logged_in
    start_run(page, "e2e-cancel", "Will be cancelled")
    expect(page.locator("#confirm-button")).to_be_visible(timeout=RUN_TIMEOUT)
    page.click("#confirm-button")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    apply_id = int(re.search(r"/runs/(\d+)/$", page.url).group(1))
    expect(page.locator("#log-lines")).to_contain_text("page-provisioner-started", timeout=RUN_TIMEOUT)

    page.click("#cancel-button")  # the confirm() dialog is accepted by the page fixture
    expect(page.locator(".flash")).to_contain_text(f"Cancelling run #{apply_id}")
    expect(page.locator("#run-status")).to_contain_text("Cancelled", timeout=RUN_TIMEOUT)
    expect(page.locator("#cancel-button")).to_have_count(0)
    expect(page.locator(".step[data-stage=applying]")).to_have_class(re.compile("step-cancelled"))
    task = WorkspaceTask.objects.get(pk=apply_id)
    assert task.status == Status.CANCELLED and task.cancel_requested
    assert not (out / "page.txt").exists()
    shot(page, "run-page-cancelled")
