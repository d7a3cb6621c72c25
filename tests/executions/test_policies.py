"""OPA Rego policy checks after every plan (issue 13, part 3)."""

import json

import pytest

from executions.models import PolicyOverride, PolicyResult, PolicySet, WorkspaceTask
from executions.policies import PolicyError, evaluate, policy_override, policy_set_save
from executions.services import task_confirm, task_discard, task_queue_run
from iacplatform.errors import Forbidden
from workspaces.models import AuditEvent, Role

Status = WorkspaceTask.Status

OWNER_POLICY = """package terraform.owner

import rego.v1

deny contains msg if {
  some rc in input.plan.resource_changes
  rc.type == "terraform_data"
  rc.change.after.input.env == "prod"
  not rc.change.after.input.owner
  msg := sprintf("%s: env prod needs an owner", [rc.address])
}

warn contains msg if {
  some rc in input.plan.resource_changes
  rc.change.after.input.env == "dev"
  msg := sprintf("%s is a dev resource", [rc.address])
}
"""

COST_CAP = """package terraform.cost

import rego.v1

deny contains msg if {
  input.cost.diff > 20
  msg := sprintf("monthly cost rises by %v (limit 20)", [input.cost.diff])
}
"""


@pytest.fixture(autouse=True)
def _slow_heartbeat(settings):
    """The run is in the test's transaction, which the heartbeat thread's own connection cannot
    see: a beat during a long run (hooks with timeouts, a loaded machine) would find no row and
    give the run up. Beat less often than these runs last."""
    settings.IAC_HEARTBEAT_SECONDS = 120


def code(resources: dict) -> str:
    return json.dumps({"resource": {"terraform_data": resources}})


@pytest.fixture
def prod_without_owner(workspace, save_code, tmp_path):
    marker = tmp_path / "created.txt"
    save_code(workspace, code({
        "web": {"input": {"env": "prod"}, "provisioner": {"local-exec": {"command": f"echo made > {marker}"}}},
        "ok": {"input": {"env": "prod", "owner": "team-a"}},
        "tmp": {"input": {"env": "dev"}},
    }))
    return marker


def test_hard_mandatory_denies_fail_the_run(workspace, prod_without_owner, run_now):
    policy_set_save(workspace=workspace, name="owners", enforcement="hard_mandatory", rego=OWNER_POLICY)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.FAILED and plan.error_category == "policy"
    assert "terraform_data.web: env prod needs an owner" in plan.error_message
    result = PolicyResult.objects.get(task=plan)
    assert result.outcome == "denied" and result.denies == ["terraform_data.web: env prod needs an owner"]
    assert result.warnings == ["terraform_data.tmp is a dev resource"]


def test_advisory_denies_only_warn(workspace, prod_without_owner, run_now, admin_client_logged):
    policy_set_save(workspace=None, name="owners", enforcement="advisory", rego=OWNER_POLICY)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED, plan.error_message
    page = admin_client_logged.get(f"/workspaces/{workspace.name}/runs/{plan.pk}/").content.decode()
    assert "deny: terraform_data.web: env prod needs an owner" in page
    assert "warn: terraform_data.tmp is a dev resource" in page
    api = admin_client_logged.get(f"/api/v1/tasks/{plan.pk}").json()
    assert api["policy_results"][0]["denies"] == ["terraform_data.web: env prod needs an owner"]


def test_soft_mandatory_stops_at_override_needed_and_an_admins_override_lets_the_apply_proceed(
        workspace, prod_without_owner, run_now, admin_user, member):
    user = member(workspace, Role.APPLIER, username="applier")
    policy_set_save(workspace=workspace, name="owners", enforcement="soft_mandatory", rego=OWNER_POLICY)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.POLICY_OVERRIDE and plan.get_status_display() == "Policy override needed"
    assert plan.stage == WorkspaceTask.Stage.AWAITING_POLICY_OVERRIDE
    # a later plan waits behind it, like behind a plan awaiting confirmation
    with pytest.raises(Forbidden):
        policy_override(task=plan, user=user, reason="because")
    with pytest.raises(PolicyError.__mro__[1], match="reason"):
        policy_override(task=plan, user=admin_user, reason="  ")
    plan = policy_override(task=plan, user=admin_user, reason="owner is being assigned in JIRA-12")
    assert plan.status == Status.PLANNED
    entry = PolicyOverride.objects.get(task=plan)
    assert entry.username == admin_user.get_username() and entry.reason == "owner is being assigned in JIRA-12"
    assert entry.policies[0]["denies"] == ["terraform_data.web: env prod needs an owner"]
    event = AuditEvent.objects.get(action="run.policy_override")
    assert event.actor == admin_user.get_username() and event.details["reason"] == "owner is being assigned in JIRA-12"
    apply = run_now(task_confirm(task=plan, user=admin_user))
    assert apply.status == Status.APPLIED, apply.error_message
    assert prod_without_owner.read_text().strip() == "made"


def test_soft_mandatory_plan_can_be_discarded(workspace, prod_without_owner, run_now):
    policy_set_save(workspace=workspace, name="owners", enforcement="soft_mandatory", rego=OWNER_POLICY)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert task_discard(task=plan).status == Status.DISCARDED


def test_a_compliant_plan_passes_every_mode(workspace, save_code, run_now):
    save_code(workspace, code({"ok": {"input": {"env": "prod", "owner": "me"}}}))
    for mode in ("advisory", "soft_mandatory", "hard_mandatory"):
        policy_set_save(workspace=workspace, name=mode, enforcement=mode, rego=OWNER_POLICY)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED
    assert {r.outcome for r in PolicyResult.objects.filter(task=plan)} == {"passed"}


def test_a_policy_denying_a_cost_increase_over_a_limit_uses_input_cost(workspace, save_code, run_now, tmp_path,
                                                                      settings):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"prices": {"terraform_data": {"attribute": "input.size",
                                                                "monthly": {"small": 10, "large": 50}}}}))
    settings.IAC_PRICING_FILE = str(prices)
    policy_set_save(workspace=workspace, name="cost-cap", enforcement="hard_mandatory", rego=COST_CAP)
    save_code(workspace, code({"a": {"input": {"size": "small"}}}))
    small = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert small.status == Status.PLAN_FINISHED, small.error_message
    save_code(workspace, code({"a": {"input": {"size": "large"}}}))
    large = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert large.status == Status.FAILED and large.error_category == "policy"
    assert "monthly cost rises by 50 (limit 20)" in large.error_message


def test_a_rego_syntax_error_is_refused_when_saved_with_its_line(workspace):
    bad = "package bad\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n"
    with pytest.raises(PolicyError) as caught:
        policy_set_save(workspace=workspace, name="bad", enforcement="advisory", rego=bad)
    assert "line" in caught.value.message and caught.value.line in (5, 6, 7)
    assert not PolicySet.objects.exists()
    with pytest.raises(PolicyError, match="package"):
        policy_set_save(workspace=workspace, name="bad", enforcement="advisory", rego="deny := 1")


def test_policy_text_is_versioned(workspace, admin_user):
    policy_set = policy_set_save(workspace=workspace, name="p", enforcement="advisory", rego=OWNER_POLICY)
    policy_set_save(policy_set=policy_set, name="p", enforcement="advisory", rego=OWNER_POLICY)
    assert policy_set.versions.count() == 1
    policy_set_save(policy_set=policy_set, name="p", enforcement="hard_mandatory", rego=COST_CAP, user=admin_user)
    assert [v.number for v in policy_set.versions.all()] == [2, 1]
    assert policy_set.current.rego == COST_CAP and policy_set.current.created_by == admin_user


def test_evaluate_reports_deny_and_warn(workspace):
    result = evaluate(OWNER_POLICY, {"plan": {"resource_changes": [
        {"address": "x.a", "type": "terraform_data", "change": {"after": {"input": {"env": "prod"}}}}]}})
    assert result.denies == ["x.a: env prod needs an owner"] and result.outcome == "denied"


def test_policy_pages_playground_and_api(workspace, prod_without_owner, run_now, admin_client_logged, member):
    from django.test import Client

    user = member(workspace, Role.APPLIER, username="applier")
    url = f"/workspaces/{workspace.name}/settings/policies/"
    outsider = Client()
    outsider.force_login(user)
    assert outsider.get(url).status_code == 403 and outsider.get("/policies/playground/").status_code == 403
    bad = admin_client_logged.post(url, {"name": "x", "enforcement": "advisory", "rego": "package x\ndeny[ {"})
    assert bad.status_code == 400 and "line 2" in bad.content.decode()
    good = admin_client_logged.post(url, {"name": "owners", "enforcement": "advisory", "rego": OWNER_POLICY,
                                          "enabled": "on"})
    assert good.status_code == 302 and PolicySet.objects.get().current.number == 1
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    page = admin_client_logged.post("/policies/playground/", {"rego": OWNER_POLICY, "run": plan.pk})
    assert page.status_code == 200 and "terraform_data.web: env prod needs an owner" in page.content.decode()
    api = admin_client_logged.post("/api/v1/policy-sets", {"name": "g", "rego": "package g\ndeny[ {"},
                                   content_type="application/json")
    assert api.status_code == 400 and "line 2" in api.json()["detail"]
    listed = admin_client_logged.get(f"/api/v1/workspaces/{workspace.name}/policy-sets").json()
    assert listed[0]["name"] == "owners" and listed[0]["version"] == 1


def test_a_speculative_plan_only_reports_a_soft_mandatory_deny(workspace, prod_without_owner, run_now):
    policy_set_save(workspace=workspace, name="owners", enforcement="soft_mandatory", rego=OWNER_POLICY)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.PLAN_FINISHED
    assert PolicyResult.objects.get(task=plan).outcome == "denied"


def test_sensitive_values_quoted_by_a_policy_are_redacted(workspace, save_code, run_now, set_var):
    set_var(workspace, "token", "tok-very-secret-9", sensitive=True)
    save_code(workspace, json.dumps({"variable": {"token": {"type": "string", "sensitive": True}},
                                     "resource": {"terraform_data": {"a": {"input": "${var.token}"}}}}))
    policy_set_save(workspace=workspace, name="leaky", enforcement="advisory", rego="""package leaky

import rego.v1

deny contains msg if {
  some rc in input.plan.resource_changes
  msg := sprintf("input is %v", [rc.change.after.input])
}
""")
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    result = PolicyResult.objects.get(task=plan)
    assert result.denies and "tok-very-secret-9" not in json.dumps(result.denies)
    assert "tok-very-secret-9" not in "\n".join(log.text for log in plan.logs.all())
