import json

import pytest

from executions.models import WorkspaceTask
from executions.tasks import run_task
from workspaces.code.services import code_version_save
from workspaces.services import variable_set


def tf_json(resources: dict, outputs: dict | None = None, extra: dict | None = None) -> str:
    doc = {"resource": {"terraform_data": resources}}
    if outputs:
        doc["output"] = outputs
    doc.update(extra or {})
    return json.dumps(doc, indent=2)


def file_resource(path, content="created", sleep=0):
    """A terraform_data resource whose provisioner creates a real file (and may sleep first)."""
    command = (f"sleep {sleep}; " if sleep else "") + f"echo {content} > {path}"
    return {"input": content, "provisioner": {"local-exec": {"command": command}}}


@pytest.fixture
def save_code():
    def _save(workspace, code, code_format="json", message=""):
        version, _ = code_version_save(workspace=workspace, code=code, code_format=code_format, message=message)
        workspace.refresh_from_db()
        return version

    return _save


@pytest.fixture
def run_now():
    """Run a queued task in this process, as a worker would (no broker in unit tests)."""

    def _run(task):
        run_task(task.pk)
        return WorkspaceTask.objects.get(pk=task.pk)

    return _run


@pytest.fixture
def set_var():
    def _set(workspace, key, value, **kwargs):
        return variable_set(workspace=workspace, key=key, value=value, **kwargs)

    return _set
