"""Secrets at rest and in logs: state versions encrypted in the database, multi-line and
JSON-escaped secrets redacted."""

import json

from django.db import connection

from executions.executor.logs import LogWriter
from executions.models import TaskLog, WorkspaceTask
from workspaces.models import StateVersion, Variable
from workspaces.secrets import REDACTED, variable_secret_strings
from workspaces.state.services import state_version_create

PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
       "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----")
QUOTED = 'p@ss"word\\with-backslash'


def _state(value):
    return json.dumps({"version": 4, "terraform_version": "1.15.5", "serial": 1, "lineage": "l-1", "outputs": {},
                       "resources": [{"mode": "managed", "type": "terraform_data", "name": "k",
                                      "provider": 'provider["terraform.io/builtin/terraform"]',
                                      "instances": [{"attributes": {"input": {"value": value, "type": "string"}},
                                                     "sensitive_attributes": [[{"type": "get_attr",
                                                                                "value": "input"}]]}]}]})


def test_the_state_column_holds_no_plaintext(workspace):
    version = state_version_create(workspace=workspace, content=_state(PEM), source="upload")
    with connection.cursor() as cursor:
        cursor.execute("SELECT content FROM workspaces_stateversion WHERE id = %s", [version.pk])
        [raw] = cursor.fetchone()
    assert raw.startswith("enc1:") and "BEGIN RSA" not in raw and "terraform_data" not in raw
    assert "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun" not in raw
    # Read through the model it is the state again.
    assert json.loads(StateVersion.objects.get(pk=version.pk).content)["resources"][0]["name"] == "k"
    assert StateVersion.objects.filter(pk=version.pk).values_list("content", flat=True)[0] == _state(PEM)


def _sensitive(workspace, key, value):
    var = Variable(workspace=workspace, key=key, sensitive=True)
    var.set_value(value)
    var.save()
    return var


def test_multi_line_and_escaped_secrets_never_reach_a_log_row(workspace):
    secrets = variable_secret_strings([_sensitive(workspace, "key", PEM), _sensitive(workspace, "pw", QUOTED)])
    task = WorkspaceTask.objects.create(workspace=workspace, task_type="plan")
    log = LogWriter(task, secrets)
    for line in PEM.splitlines():  # terraform prints a multi-line value line by line
        log.add(f"      {line}")
    log.add(f'  + input = {json.dumps(PEM)}')  # ... or as one JSON string with \n escapes
    log.add(f'  + password = {json.dumps(QUOTED)}')  # quotes and backslashes escaped
    log.add(f"echo {QUOTED}")
    log.flush()
    text = "\n".join(TaskLog.objects.filter(task=task).values_list("text", flat=True))
    for line in PEM.splitlines():
        assert line not in text
    assert QUOTED not in text and json.dumps(QUOTED)[1:-1] not in text
    assert text.count(REDACTED) >= 6
