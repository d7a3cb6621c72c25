"""Benchmark: code history page and state compare on a big workspace.

Run from the repository root:  .venv/bin/python bench/versions.py
Uses DATABASE_URL when set (else the local default). Creates a throwaway workspace with
200 code versions (and runs that used them) and two ~5 MB states, times the pages
through Django's test Client with a logged-in user (server time, median of several
requests after a warm-up), prints

    BENCH code_history_ms <v>
    BENCH state_compare_ms <v>

and deletes everything it created. Target: each ≤ 300 ms.
"""

import json
import sys
import time
import uuid

import _setup  # first: sets Django up from the repository root
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from executions.models import WorkspaceTask  # noqa: E402
from workspaces.code.services import code_checksum
from workspaces.models import Workspace, WorkspaceCodeVersion  # noqa: E402
from workspaces.state.services import state_version_create

CODE_VERSIONS = 200
STATE_RESOURCES = 2400  # ~2.1 KB each (as Terraform writes it, indented): ~5 MB of state
REPEAT = 7
LIMIT_MS = 300


def _code(version: int) -> str:
    """About 12 KB of HCL; each version changes a few lines."""
    blocks = []
    for i in range(60):
        value = f"v{version}" if i % 20 == version % 20 else "stable"
        blocks.append(
            f'resource "terraform_data" "r{i}" {{\n  input = {{\n    name  = "r{i}"\n    value = "{value}"\n'
            f'    tags  = ["bench", "versions", "{i:04d}"]\n  }}\n}}\n'
        )
    blocks.append(f'output "version" {{\n  value = "{version}"\n}}\n')
    return "\n".join(blocks)


def _instance(i: int, generation: int, secret: str) -> dict:
    changed = generation if i % 20 == 0 else 0
    value = {"name": f"res-{i}", "generation": changed, "password": f"{secret}-{changed}",
             "blob": ("x" * 330) + f"-{i}"}
    return {
        "schema_version": 0,
        "attributes": {
            "id": str(uuid.UUID(int=i)),
            "input": {"value": value, "type": ["object", {"name": "string", "generation": "number",
                                                          "password": "string", "blob": "string"}]},
            "output": {"value": value, "type": ["object", {"name": "string", "generation": "number",
                                                           "password": "string", "blob": "string"}]},
            "triggers_replace": None,
        },
        "sensitive_attributes": [[{"type": "get_attr", "value": "input"}, {"type": "get_attr", "value": "password"}]],
        "identity_schema_version": 0,
    }


def _state(serial: int, lineage: str, generation: int) -> str:
    """Generation 2 changes every 20th resource, removes 20 and adds 20."""
    ids = range(STATE_RESOURCES) if generation == 1 else range(20, STATE_RESOURCES + 20)
    resources = [{
        "mode": "managed", "type": "terraform_data", "name": f"r{i}",
        "provider": 'provider["terraform.io/builtin/terraform"]',
        "instances": [_instance(i, generation, "bench-secret")],
    } for i in ids]
    return json.dumps({
        "version": 4, "terraform_version": "1.15.5", "serial": serial, "lineage": lineage,
        "outputs": {"token": {"value": "s3cr3t", "type": "string", "sensitive": True},
                    "count": {"value": len(resources), "type": "number"}},
        "resources": resources, "check_results": None,
    }, indent=2)


def _time(client: Client, url: str) -> tuple[float, list[float]]:
    return _setup.time_page(client, url, REPEAT)


def main() -> int:
    if "workspaces_workspace" not in connection.introspection.table_names():
        call_command("migrate", verbosity=0)
    setup_test_environment()
    tag = uuid.uuid4().hex[:8]
    user = get_user_model().objects.create_user(username=f"bench-versions-{tag}", password=uuid.uuid4().hex)
    workspace = Workspace.objects.create(name=f"bench-versions-{tag}", description="throwaway benchmark workspace")
    try:
        start = time.perf_counter()
        code_versions = []
        for n in range(1, CODE_VERSIONS + 1):
            code = _code(n)
            code_versions.append(WorkspaceCodeVersion(
                workspace=workspace, number=n, code=code, code_format="hcl", provider_config={},
                checksum=code_checksum(code, "hcl", {}), message=f"bench change {n}", author=user,
            ))
        code_versions = WorkspaceCodeVersion.objects.bulk_create(code_versions, batch_size=50)
        current = WorkspaceCodeVersion.objects.get(workspace=workspace, number=CODE_VERSIONS)
        Workspace.objects.filter(pk=workspace.pk).update(current_code_version=current)
        tasks = [
            WorkspaceTask(workspace=workspace, task_type="plan", status="planned_no_changes", code_version_id=v.pk)
            for v in WorkspaceCodeVersion.objects.filter(workspace=workspace).only("pk") for _ in range(3)
        ]
        WorkspaceTask.objects.bulk_create(tasks, batch_size=200)
        lineage = str(uuid.uuid4())
        first = state_version_create(workspace=workspace, content=_state(1, lineage, 1), source="bench")
        second = state_version_create(workspace=workspace, content=_state(2, lineage, 2), source="bench")
        setup_s = time.perf_counter() - start
        print(f"# setup {setup_s:.1f} s: {CODE_VERSIONS} code versions (~{len(_code(1)) // 1024} KB each), "
              f"{len(tasks)} runs, states of {first.size / 1e6:.1f} MB and {second.size / 1e6:.1f} MB "
              f"({STATE_RESOURCES} resources) on {connection.vendor}")

        client = Client()
        client.force_login(user)
        history_url = reverse("code_history", args=[workspace.name])
        compare_url = reverse("state_compare", args=[workspace.name]) + "?from=1&to=2"
        history_ms, history_samples = _time(client, history_url)
        compare_ms, compare_samples = _time(client, compare_url)
        extra = {
            "code_page": _time(client, reverse("code_edit", args=[workspace.name]))[0],
            "code_history_htmx_page_5": _time(client, history_url + "?page=5")[0],
            "state_list": _time(client, reverse("state_list", args=[workspace.name]))[0],
            "code_compare_1_200": _time(client, reverse("code_compare", args=[workspace.name]) + "?from=1&to=200")[0],
        }
        print("# samples code_history_ms " + " ".join(f"{s:.1f}" for s in history_samples))
        print("# samples state_compare_ms " + " ".join(f"{s:.1f}" for s in compare_samples))
        for name, value in extra.items():
            print(f"# {name}_ms {value:.1f}")
        print(f"BENCH code_history_ms {history_ms:.1f}")
        print(f"BENCH state_compare_ms {compare_ms:.1f}")
        slow = [name for name, value in (("code_history_ms", history_ms), ("state_compare_ms", compare_ms))
                if value > LIMIT_MS]
        if slow:
            print(f"# over the {LIMIT_MS} ms budget: {', '.join(slow)}")
        return 1 if slow else 0
    finally:
        WorkspaceTask.objects.filter(workspace=workspace).delete()
        workspace.delete()
        user.delete()


if __name__ == "__main__":
    sys.exit(main())
