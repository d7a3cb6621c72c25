"""Issue 16, point 3: the effective configuration page shows what the next run writes and where
each part comes from, with the executor's own function, and never a sensitive value."""

import json

import pytest
from django.urls import reverse

from executions.effective_config import effective_configuration
from executions.executor.config import prepare_workdir
from executions.services import task_queue_run
from resources.services.dependencies import dependencies_set
from resources.services.resources import resource_create
from workspaces.models import Variable, Workspace
from workspaces.services import variable_set

pytestmark = pytest.mark.django_db
SECRET = "hunter2-very-secret-token"
HCL_CODE = '''# The web tier: kept as written, comments included.
variable "greeting" {
  type = string
}

resource "terraform_data" "code_side" {
  input = var.greeting # inline comment
}
'''
WEB = {"resource": {"terraform_data": {"web": {"input": "v1"}}}}
DB = {"resource": {"terraform_data": {"db": {"input": "db"}}}}


def _page(client, name="demo", **headers):
    return client.get(reverse("effective_configuration", args=[name]), **headers)


def _files(response) -> dict:
    return {f.name: f for f in response.context["config"].files}


@pytest.fixture
def mixed(workspace, save_code):
    """HCL code, two managed resources (one depending on the other), variables of both kinds."""
    save_code(workspace, HCL_CODE, code_format="hcl", message="hcl code")
    resource_create(workspace=workspace, code=WEB)
    resource_create(workspace=workspace, code=DB)
    web = workspace.resources.get(resource_id="terraform_data.web")
    dependencies_set(resource=web, depends_on=["terraform_data.db"])
    variable_set(workspace=workspace, key="greeting", value="hello")
    variable_set(workspace=workspace, key="api_token", value=SECRET, sensitive=True)
    variable_set(workspace=workspace, key="TF_LOG_PATH", value="/tmp/x", category=Variable.Category.ENV)
    variable_set(workspace=workspace, key="AWS_SECRET_ACCESS_KEY", value=SECRET + "-env", sensitive=True,
                 category=Variable.Category.ENV)
    return Workspace.objects.get(pk=workspace.pk)


def test_the_page_lists_code_and_resources_with_their_origins(auth_client, mixed):
    response = _page(auth_client)
    assert response.status_code == 200
    files = _files(response)
    assert list(files) == ["main.tf", "main.tf.json", "provider.tf.json", "variables.tf.json", "variables.tfvars"]
    # The HCL code is shown as HCL, as written, comments included; its origin is the code version.
    assert files["main.tf"].content == HCL_CODE
    assert [(p.source, p.text) for p in files["main.tf"].parts] == [("code", "code version 1")]
    assert [e.label for e in files["main.tf"].outline] == ["variable.greeting", "terraform_data.code_side"]
    # The resources' aggregate: each block names its managed resource and version; the edge its depends_on.
    origins = {p.label: p.text for p in files["main.tf.json"].parts}
    assert origins["terraform_data.web"] == "managed resource terraform_data.web v1"
    assert origins["terraform_data.db"] == "managed resource terraform_data.db v1"
    assert "terraform_data.db" in origins["terraform_data.web.depends_on"]
    body = response.content.decode()
    assert "# The web tier: kept as written, comments included." in body
    assert "managed resource terraform_data.web v1" in body and "code version 1" in body
    assert reverse("code_version_detail", args=["demo", 1]) in body
    assert 'id="config-sources"' in body  # which source wins, said plainly


def test_the_page_shows_what_the_executor_writes(auth_client, mixed):
    """The same function: every file but the secret-bearing tfvars is byte for byte the work dir's."""
    shown = {f.name: f.content for f in effective_configuration(mixed).files}
    task = task_queue_run(workspace=mixed, kind="plan")
    workdir = prepare_workdir(task, code_version=task.code_version)
    written = {p.name: p.read_text() for p in workdir.path.iterdir() if p.name in shown}
    assert set(written) == set(shown)
    for name in shown:
        if name != "variables.tfvars":
            assert shown[name] == written[name], name
    assert json.loads(written["main.tf.json"])["resource"]["terraform_data"]["web"]["depends_on"] == [
        "terraform_data.db"]
    assert SECRET in written["variables.tfvars"]  # the run gets the value…
    assert SECRET not in shown["variables.tfvars"]  # …the page never does
    assert 'api_token = "(sensitive)"' in shown["variables.tfvars"]


def test_a_sensitive_value_never_reaches_the_page(auth_client, mixed, save_code):
    # Even code that happens to contain the secret shows it masked.
    save_code(mixed, HCL_CODE + f'\n# leaked here: {SECRET}\n', code_format="hcl")
    response = _page(auth_client)
    body = response.content.decode()
    assert response.status_code == 200
    assert SECRET not in body
    assert "leaked here: (sensitive)" in body
    assert "AWS_SECRET_ACCESS_KEY" in body and "TF_LOG_PATH" in body  # names of the environment, no values
    assert "/tmp/x" not in body


def test_json_code_and_resources_merge_into_one_file(auth_client, workspace, save_code):
    code = {"resource": {"terraform_data": {"from_code": {"input": "c"}}}, "output": {"o": {"value": "x"}}}
    save_code(workspace, json.dumps(code))
    resource_create(workspace=workspace, code=WEB)
    files = _files(_page(auth_client))
    assert "main.tf" not in files
    origins = {p.label: (p.source, p.text) for p in files["main.tf.json"].parts}
    assert origins["terraform_data.from_code"] == ("code", "code version 1")
    assert origins["output"] == ("code", "code version 1")
    assert origins["terraform_data.web"] == ("resource", "managed resource terraform_data.web v1")
    merged = json.loads(files["main.tf.json"].content)
    assert set(merged["resource"]["terraform_data"]) == {"from_code", "web"}


def test_an_address_in_both_sources_is_explained_not_a_server_error(auth_client, workspace, save_code):
    save_code(workspace, json.dumps(WEB))
    resource_create(workspace=workspace, code={"resource": {"terraform_data": {"web": {"input": "other"}}}})
    response = _page(auth_client)
    assert response.status_code == 200
    assert "terraform_data.web is defined twice" in response.context["config"].error
    assert 'id="config-error"' in response.content.decode()


def test_a_workspace_without_code_says_so(auth_client, workspace):
    response = _page(auth_client)
    assert response.status_code == 200
    assert "no code yet" in response.context["config"].error


def test_the_htmx_request_gets_the_fragment(auth_client, mixed):
    response = _page(auth_client, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<div id="content">')
    assert "<html" not in body


def test_code_and_resources_tabs_say_which_source_wins(auth_client, mixed):
    link = reverse("effective_configuration", args=["demo"])
    for page in ("code_edit", "resource_list"):
        body = auth_client.get(reverse(page, args=["demo"])).content.decode()
        assert 'id="config-sources"' in body and "neither overrides the other" in body, page
        assert link in body, page


def test_the_api_answers_the_same_files_and_origins(auth_client, mixed):
    response = auth_client.get("/api/v1/workspaces/demo/effective-configuration")
    assert response.status_code == 200
    data = response.json()
    assert data["code_version"] == 1 and data["resource_count"] == 2 and data["error"] == ""
    files = {f["name"]: f for f in data["files"]}
    assert files["main.tf"]["content"] == HCL_CODE and files["main.tf"]["language"] == "hcl"
    origins = {p["label"]: (p["source"], p["number"]) for p in files["main.tf.json"]["parts"]}
    assert origins["terraform_data.web"] == ("resource", 1)
    assert SECRET not in response.content.decode()
    assert auth_client.get("/api/v1/workspaces/nope/effective-configuration").status_code == 404
