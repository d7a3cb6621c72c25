"""Issue 12: docs/examples/api-walkthrough.sh, run as documented against a live server and a real
worker: curl only, with a token from ``manage.py create_token``."""

import io
import os
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

from executions.models import WorkspaceTask
from workspaces.models import Role, StateVersion, Workspace, WorkspaceMember

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "examples" / "api-walkthrough.sh"
SECRET = "pw-walkthrough-Zq8!x'y\"z"

pytestmark = [pytest.mark.worker]


def test_api_walkthrough_script(live_server, live_worker, django_user_model, tmp_path):
    user = django_user_model.objects.create_user(username="alice", password="pw-alice-123")  # no role anywhere
    out = io.StringIO()
    call_command("create_token", "alice", "--name", "walkthrough", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip()
    target = tmp_path / "walkthrough-out" / "hello.txt"
    target.parent.mkdir()

    env = {**os.environ, "IAC_URL": live_server.url, "IAC_TOKEN": token, "IAC_SECRET": SECRET,
           "IAC_WAIT_SECONDS": "240"}
    result = subprocess.run(["bash", str(SCRIPT), "walkthrough", str(target)], env=env, capture_output=True,
                            text=True, timeout=400)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output + "\n--- worker ---\n" + live_worker.output()[-4000:]

    assert target.read_text().strip() == "hello from the API"  # the apply's local-exec ran
    ws = Workspace.objects.get(name="walkthrough")
    assert WorkspaceMember.objects.filter(workspace=ws, user=user, role=Role.ADMIN).exists()  # its creator
    state = StateVersion.objects.filter(workspace=ws).order_by("-serial").first()
    assert state is not None
    apply = WorkspaceTask.objects.get(workspace=ws, status=WorkspaceTask.Status.APPLIED)
    assert state.task_id == apply.pk
    assert f"state serial {state.serial} from run #{apply.pk}: terraform_data.hello" in output
    assert "db_password = None (sensitive: True)" in output
    assert SECRET not in output and SECRET.split("!")[0] not in output
    assert token not in output
