"""The plan on the run page at scale: grouped by action and module/type, unchanged resources
collapsed, filtered by address (?q=, with and without HTMX), collapsed groups and attribute
changes loaded on demand — with sensitive values masked in what is loaded."""

import re
from urllib.parse import quote

import pytest
from django.urls import reverse

from executions.executor.plan_summary import summarize_plan
from executions.models import WorkspaceTask
from executions.plan_view import GROUP_ROWS, PAGE_ROWS, group_key
from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import tf_json
from tests.executions.plan_fixtures import big_plan_doc, big_plan_task
from workspaces.code.services import code_version_save
from workspaces.models import Workspace
from workspaces.services import variable_set

HTMX = {"HTTP_HX_REQUEST": "true"}


def _urls(workspace, task):
    args = [workspace.name, task.pk]
    return reverse("run_detail", args=args), reverse("run_plan", args=args), reverse("run_plan_resource", args=args)


def _addresses(html: str) -> list[str]:
    return re.findall(r'<span class="mono address">([^<]+)</span>', html)


# --- grouping -----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_big_plan_is_grouped_by_action_and_module_type_with_unchanged_collapsed(auth_client, workspace):
    task = big_plan_task(workspace, 1500)
    run_url, _, resource_url = _urls(workspace, task)
    response = auth_client.get(run_url)
    html = response.content.decode()
    assert response.status_code == 200
    assert len(response.content) < 300_000, len(response.content)
    # one section per action, with its count; the unchanged ones in a closed <details>
    for action, count, label in (("create", 160, "will be created"), ("update", 160, "will be updated in-place"),
                                 ("replace", 80, "must be replaced"), ("delete", 80, "will be destroyed"),
                                 ("no-op", 1020, "unchanged")):
        assert re.search(rf'id="plan-section-{action}">\s*(<summary>)?\s*<h3><span class="plan-symbol">[^<]*</span> '
                         rf'{count} {label}</h3>', html), action
    assert '<details class="plan-group plan-no-op" id="plan-section-no-op">' in html
    assert "1020 unchanged." in html and re.search(r'id="plan-counts">.*\+240.*~160.*-160', html, re.S)
    # module/type groups with their counts; the first ones open, later ones collapsed and lazy
    assert re.search(r'id="plan-create-0" open>\s*<summary><span class="mono">module\.svc_00</span>.*?'
                     r'<span class="mono">terraform_data</span> <span class="plan-count" title="resources">16</span>',
                     html, re.S)
    lazy = re.search(r'<details class="plan-subgroup" id="plan-delete-9" hx-get="([^"]+)"', html)
    assert lazy and "group=delete%7Cmodule.svc_09%7Cterraform_data" in lazy.group(1)
    # bounded: no more rows than the budget, no unchanged resource listed, details not inline
    rows = _addresses(html)
    assert 0 < len(rows) <= PAGE_ROWS
    assert "module.svc_00.terraform_data.item[6]" not in html  # unchanged
    assert 'class="attr-table"' not in html
    assert f'hx-get="{resource_url}?address=module.svc_00.terraform_data.item%5B0%5D"' in html


@pytest.mark.django_db
def test_a_small_plan_keeps_its_attributes_inline_and_lists_unchanged_resources_collapsed(auth_client, workspace):
    doc = big_plan_doc(20, modules=1)  # 2 created, 2 updated, 1 replaced, 1 destroyed, 14 unchanged
    task = big_plan_task(workspace, 0, change_summary=summarize_plan(doc, []))
    html = auth_client.get(_urls(workspace, task)[0]).content.decode()
    assert "2 will be created" in html and "1 must be replaced" in html and "14 unchanged" in html
    assert 'class="attr-table"' in html and "&quot;v2-2&quot;" in html  # inline, as before
    assert 'id="plan-filter"' not in html  # nothing to filter
    assert "module.svc_00.terraform_data.item[6]" not in html  # unchanged: loaded when opened
    assert '<details class="plan-group plan-no-op" id="plan-section-no-op">' in html


# --- filter ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_address_filter_narrows_the_page_without_javascript(auth_client, workspace):
    task = big_plan_task(workspace, 1500)
    run_url, _, _ = _urls(workspace, task)
    html = auth_client.get(run_url, {"q": "SVC_07.terraform_data.item[1"}).content.decode()
    rows = _addresses(html)
    assert rows and all("svc_07.terraform_data.item[1" in r for r in rows)
    # item[1], [10]..[19], [100]..[149] of module svc_07 but [105], [125], [145] ("old"): 58, unchanged included
    assert "58 of 1500 resources match" in html and 'value="SVC_07.terraform_data.item[1"' in html
    assert "module.svc_07.terraform_data.item[16]" in html  # an unchanged one: a search shows them
    nothing = auth_client.get(run_url, {"q": "no-such-thing"}).content.decode()
    assert 'id="plan-no-match"' in nothing and not _addresses(nothing)


@pytest.mark.django_db
def test_the_filter_over_htmx_answers_the_plan_body_and_keeps_the_address(auth_client, workspace):
    task = big_plan_task(workspace, 1500)
    run_url, plan_url, _ = _urls(workspace, task)
    response = auth_client.get(plan_url, {"q": "svc_03"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="plan-body">')
    assert "<html" not in html and 'id="plan-filter"' not in html  # the input being typed in stays
    assert response["HX-Replace-Url"] == f"{run_url}?q=svc_03"
    assert _addresses(html) and all("svc_03" in r for r in _addresses(html))
    # without HTMX the same URL is the filtered plan on a page of its own
    plain = auth_client.get(plan_url, {"q": "svc_03"}).content.decode()
    assert "<html" in plain and 'value="svc_03"' in plain and f'action="{run_url}#run-plan"' in plain
    assert _addresses(plain) and all("svc_03" in r for r in _addresses(plain))


@pytest.mark.django_db
def test_the_run_pages_own_refresh_keeps_the_filter_of_the_address_bar(auth_client, workspace):
    """The header's "run-updated" refresh asks the bare run URL; the plan it re-renders keeps ?q=."""
    task = big_plan_task(workspace, 1500)
    run_url, _, _ = _urls(workspace, task)
    html = auth_client.get(run_url, HTTP_HX_CURRENT_URL=f"http://testserver{run_url}?q=svc_05", **HTMX).content.decode()
    assert 'id="run-plan" hx-swap-oob="true"' in html and "<html" not in html
    assert _addresses(html) and all("svc_05" in r for r in _addresses(html))


# --- on demand: a collapsed group, more rows, one resource's changes ---------------------------------
@pytest.mark.django_db
def test_a_collapsed_group_loads_its_rows_and_more_rows_on_demand(auth_client, workspace):
    task = big_plan_task(workspace, 3000)  # 300 per module: 30 created each
    run_url, plan_url, _ = _urls(workspace, task)
    key = group_key("no-op", "module.svc_02", "terraform_data")
    response = auth_client.get(plan_url, {"group": key}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    rows = _addresses(html)
    assert len(rows) == 200 and all(r.startswith("module.svc_02.terraform_data.item[") for r in rows)
    assert "Show more (10 left)" in html  # 210 unchanged in that module
    more = re.search(r'hx-get="([^"]+offset=200)"', html).group(1).replace("&amp;", "&")
    last = auth_client.get(more, **HTMX).content.decode()
    assert len(_addresses(last)) == 10 and "Show more" not in last
    # without JavaScript: the run page with that group open, from an offset
    page = auth_client.get(run_url, {"group": group_key("create", "module.svc_01", "terraform_data"),
                                     "offset": GROUP_ROWS}).content.decode()
    assert "Resources 21–30 of 30" in page and "module.svc_01.terraform_data.item[281]<" in page
    assert "module.svc_01.terraform_data.item[0]<" not in page
    # bad input: an unknown group is a 404 fragment, a bad offset is the start
    assert auth_client.get(plan_url, {"group": "create|nowhere|x"}, **HTMX).status_code == 404
    assert auth_client.get(plan_url, {"group": key, "offset": "abc"}, **HTMX).status_code == 200


@pytest.mark.django_db
def test_a_resource_attribute_changes_load_on_demand(auth_client, workspace):
    task = big_plan_task(workspace, 1500)
    run_url, _, resource_url = _urls(workspace, task)
    address = "module.svc_04.terraform_data.item[22]"  # updated: v1-22 -> v2-22
    response = auth_client.get(resource_url, {"address": address}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert re.search(r'<th class="mono">input</th>\s*<td class="mono"><span class="before">&quot;v1-22&quot;</span> '
                     r'<span class="arrow" aria-label="becomes">→</span> <span class="after">&quot;v2-22&quot;</span>',
                     html)
    # without JavaScript: a page of its own, with the way back
    page = auth_client.get(resource_url, {"address": address})
    assert page.status_code == 200 and b"<html" in page.content and run_url.encode() in page.content
    # a resource the plan does not change: a clear 404, not a 500
    missing = auth_client.get(resource_url, {"address": "module.svc_04.terraform_data.item[6]"}, **HTMX)
    assert missing.status_code == 404 and "changes no resource" in missing.content.decode()
    assert auth_client.get(resource_url, **HTMX).status_code == 404


@pytest.mark.django_db
def test_an_apply_run_loads_details_from_its_plan_and_other_workspaces_runs_are_not_found(auth_client, workspace):
    plan = big_plan_task(workspace, 1500, status="confirmed", stage="done")
    apply = WorkspaceTask.objects.create(workspace=workspace, task_type="apply", status="applied", plan_task=plan)
    _, _, resource_url = _urls(workspace, apply)
    html = auth_client.get(resource_url, {"address": "module.svc_00.terraform_data.item[0]"}, **HTMX).content.decode()
    assert "&quot;v1-0&quot;" in html
    apply_page = auth_client.get(_urls(workspace, apply)[0]).content.decode()
    assert "Plan being applied" in apply_page and f'{resource_url}?address=' in apply_page
    other = Workspace.objects.create(name="other")
    theirs = big_plan_task(other, 100)
    wrong = reverse("run_plan_resource", args=[workspace.name, theirs.pk])
    assert auth_client.get(wrong, {"address": "module.svc_00.terraform_data.item[0]"}, **HTMX).status_code == 404


@pytest.mark.django_db
def test_details_mask_a_secret_even_if_a_stored_summary_holds_it(auth_client, workspace):
    """An older summary, or one made before the variable became sensitive: masked when served."""
    variable_set(workspace=workspace, key="db_password", value="hunter2-very-secret", sensitive=True)
    summary = {"add": 1, "change": 0, "destroy": 0, "replace": 0, "outputs": [], "resources": [{
        "address": "terraform_data.db", "type": "terraform_data", "name": "db", "module": None, "action": "create",
        "changed_attributes": [{"name": "input", "before": None, "after": "url=pg://u:hunter2-very-secret@h",
                                "sensitive": False}]}]}
    task = big_plan_task(workspace, 0, change_summary=summary)
    html = auth_client.get(_urls(workspace, task)[2], {"address": "terraform_data.db"}, **HTMX).content.decode()
    assert "hunter2" not in html and "pg://u:(sensitive)@h" in html


# --- a real plan: unchanged resources recorded, sensitive values masked in the details ---------------
SECRET_OLD, SECRET_NEW = "s3cret-first-Value", "s3cret-second-Value"


def test_a_real_plans_details_mask_sensitive_values_and_list_unchanged(transactional_db, run_now, admin_client_logged):
    ws = Workspace.objects.create(name="masked-plan", auto_apply=False)
    variable_set(workspace=ws, key="pw", value=SECRET_OLD, sensitive=True)

    def code(user):
        return tf_json({"db": {"input": {"user": user, "password": "${var.pw}"}}, "web": {"input": "plain"}},
                       extra={"variable": {"pw": {"type": "string", "sensitive": True}}})

    code_version_save(workspace=ws, code=code("app"))
    plan = run_now(task_queue_run(workspace=ws, kind="plan_and_apply"))
    assert run_now(task_confirm(task=plan)).status == WorkspaceTask.Status.APPLIED
    variable_set(workspace=ws, key="pw", value=SECRET_NEW, sensitive=True)
    code_version_save(workspace=ws, code=code("app-v2"))
    task = run_now(task_queue_run(workspace=ws, kind="plan"))
    assert task.change_summary["unchanged"] == [{"address": "terraform_data.web", "type": "terraform_data",
                                                 "module": None}]
    run_url, _, resource_url = _urls(ws, task)
    page = admin_client_logged.get(run_url).content.decode()
    assert "1 will be updated in-place" in page and "1 unchanged" in page
    response = admin_client_logged.get(resource_url, {"address": "terraform_data.db"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "(sensitive)" in html
    assert re.search(r'<th class="mono">input</th>.*&quot;app&quot;.*&quot;app-v2&quot;', html, re.S)
    assert SECRET_OLD not in html and SECRET_NEW not in html and "s3cret" not in html
    assert quote(SECRET_NEW) not in admin_client_logged.get(resource_url, {"address": "terraform_data.db"}).content.decode()
