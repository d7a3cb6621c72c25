"""Issue 16, bug 9: a module whose source climbs out of the workspace is named on import and
refused before the run, with a hint — not discovered by ``init`` with the platform's paths.
"""

import pytest
from django.urls import reverse

from executions.executor.logs import log_text
from executions.services import task_queue_run
from resources.services import resources_import
from tests.executions.test_failures import assert_failed

pytestmark = pytest.mark.django_db
OUTSIDE = 'module "shared" {\n  source = "../../shared/net"\n}\n'
INSIDE = ('module "web" {\n  source = "./modules/web"\n}\n'
          '# file: modules/web/main.tf\nmodule "db" {\n  source = "../db"\n}\n'
          '# file: modules/db/main.tf\nresource "terraform_data" "d" {}\n')


def test_the_import_report_warns_about_a_source_outside_the_workspace(workspace, user):
    report = resources_import(workspace=workspace, user=user, files={"main.tf": OUTSIDE})
    assert "module.shared" in report.created  # imported, as asked, but not without a word
    warning = next(w for w in report.warnings if "../../shared/net" in w)
    assert 'module "shared"' in warning and "outside the workspace" in warning and "./modules/" in warning


def test_the_import_page_shows_the_warning(auth_client, workspace):
    response = auth_client.post(reverse("resource_import", args=["demo"]), {"text": OUTSIDE, "on_duplicate": "fail"})
    html = response.content.decode()
    assert response.status_code == 200 and "Warnings" in html and "../../shared/net" in html


def test_the_precheck_refuses_the_run_with_a_hint(workspace, save_code, run_now):
    save_code(workspace, OUTSIDE, code_format="hcl")
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    task = assert_failed(task, "configuration", "./modules/")
    assert '"../../shared/net"' in task.error_message and "outside the workspace" in task.error_message
    log = log_text(task)
    assert "pre-execution check failed" in log and "$ terraform init" not in log
    assert "/tmp" not in task.error_message and "work" not in task.error_message.lower().replace("workspace", "")


def test_sources_inside_the_workspace_pass():
    from workspaces.code.files import split_code_files
    from workspaces.code.modules import escaping_module_sources

    assert escaping_module_sources(split_code_files(INSIDE, "hcl")) == []
    assert [m.source for m in escaping_module_sources({"main.tf.json": '{"module": {"x": {"source": "../x"}}}'})] == ["../x"]
    assert escaping_module_sources({"main.tf": 'module "r" {\n  source = "hashicorp/consul/aws"\n}\n'}) == []
