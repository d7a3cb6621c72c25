"""terraform init is skipped when it has nothing to do, and only then."""

import json

import pytest

from executions.executor import pipeline
from executions.executor.init_skip import asks_for_init, init_needed
from executions.models import TaskLog, WorkspaceTask
from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import file_resource, tf_json

Status = WorkspaceTask.Status
BUILTIN_HCL = '''
terraform {
  required_version = ">= 1.5"
}
variable "who" {
  default = "me"
  validation {
    condition     = length(var.who) > 0
    error_message = "empty"
  }
}
locals { tags = { owner = var.who } }
resource "terraform_data" "a" {
  input = { nested = local.tags }
  lifecycle { create_before_destroy = true }
  provisioner "local-exec" {
    command = "echo a"
  }
}
data "terraform_remote_state" "other" {
  backend = "local"
  config  = { path = "other.tfstate" }
}
# module "commented" { source = "./m" }
output "a" { value = terraform_data.a.output }
'''


def workdir_with(tmp_path, **files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_builtin_only_configurations_need_no_init(tmp_path):
    assert init_needed(workdir_with(tmp_path, **{"main.tf": BUILTIN_HCL, "provider.tf.json": "{}",
                                                  "variables.tfvars": 'provider = "x"',
                                                  "main.tf.json": tf_json({"b": {"input": "x"}})})) == ""


@pytest.mark.parametrize("name, text, reason", [
    ("main.tf", 'module "m" {\n  source = "./m"\n}\n', "a module block"),
    ("main.tf", 'resource "aws_instance" "x" {}\n', "resource type aws_instance"),
    ("main.tf", 'resource aws_s3_bucket x {}\n', "resource type aws_s3_bucket"),
    ("main.tf", 'data "http" "x" {\n  url = "http://a"\n}\n', "data type http"),
    ("main.tf", 'resource "terraform_data" "x" {\n  provider = terraform.other\n}\n', "a provider argument"),
    ("main.tf", 'terraform {\n  backend "s3" {}\n}\n', "a backend block"),
    ("main.tf", 'terraform {\n  required_providers {\n  }\n}\n', "a required_providers block"),
    ("main.tf", 'provider "aws" {\n  region = "x"\n}\n', "a provider block"),
    ("main.tf", 'check "c" {\n}\n', "a check block"),
    ("main.tf.json", json.dumps({"module": {"m": {"source": "./m"}}}), "a module block"),
    ("main.tf.json", json.dumps({"resource": {"null_resource": {"x": {}}}}), "resource type null_resource"),
    ("main.tf.json", json.dumps({"resource": [{"terraform_data": {"x": [{"provider": "terraform.a"}]}}]}),
     "a provider argument"),
    ("main.tf.json", json.dumps({"terraform": {"backend": {"local": {}}}}),
     "terraform settings other than required_version"),
    ("provider.tf.json", json.dumps({"provider": {"aws": {"region": "eu-west-1"}}}), "a provider block"),
    ("main.tf.json", "{not json", "not valid JSON"),
])
def test_anything_else_needs_init(tmp_path, name, text, reason):
    assert init_needed(workdir_with(tmp_path, **{name: text})) == f"{name}: {reason}"


def test_a_kept_lock_file_needs_init(tmp_path):
    assert "lock file" in init_needed(workdir_with(tmp_path, **{".terraform.lock.hcl": "# lock",
                                                                 "main.tf": BUILTIN_HCL}))


def test_terraforms_own_requests_for_init_are_recognised():
    assert asks_for_init("\u2502 Error: Module not installed\n\u2502 \n")
    assert asks_for_init("Error: Inconsistent dependency lock file\n")
    assert not asks_for_init('echo "run terraform init first"\nError: local-exec provisioner error\n')


def test_a_plan_and_apply_skip_init_and_still_create_the_file(workspace, user, tmp_path, save_code, run_now):
    target = tmp_path / "made.txt"
    save_code(workspace, tf_json({"a": file_resource(target, "made")}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply", user=user))
    assert plan.status == Status.PLANNED, plan.error_message
    apply = run_now(task_confirm(task=plan, user=user))
    assert apply.status == Status.APPLIED, apply.error_message
    assert target.read_text().strip() == "made"
    for task in (plan, apply):
        text = "\n".join(TaskLog.objects.filter(task=task).values_list("text", flat=True))
        assert "terraform init skipped" in text and "$ terraform init" not in text
        assert "terraform_init" not in task.context["timings"]


def test_init_runs_when_the_setting_is_off(workspace, tmp_path, save_code, run_now, settings):
    settings.IAC_SKIP_NOOP_INIT = False
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.PLAN_FINISHED, plan.error_message
    text = "\n".join(TaskLog.objects.filter(task=plan).values_list("text", flat=True))
    assert "$ terraform init" in text and "IAC_SKIP_NOOP_INIT is off" in text


def test_init_runs_after_all_when_terraform_asks_for_it(workspace, save_code, run_now, monkeypatch):
    """A fault the reading cannot make on demand: it is told a module-using configuration needs no
    init. terraform's plan then asks for init; the run runs it and plans again."""
    save_code(workspace, 'module "m" {\n  source = "./modules/m"\n}\n'
                         '# file: modules/m/main.tf\nresource "terraform_data" "in_module" {}\n', code_format="hcl")
    monkeypatch.setattr(pipeline, "init_needed", lambda path: "")
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.PLAN_FINISHED, plan.error_message
    assert plan.change_summary["add"] == 1
    text = "\n".join(TaskLog.objects.filter(task=plan).values_list("text", flat=True))
    assert "Error: Module not installed" in text
    assert "terraform plan asks for init: running it, then plan again" in text
    assert text.index("Module not installed") < text.index("$ terraform init") < text.rindex("$ terraform plan")
