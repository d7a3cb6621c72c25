"""Benchmark: HCL import of 1,000 blocks, and the resource list of a 1,000-resource workspace.

Run from the repository root:  .venv/bin/python bench/resources.py
Uses DATABASE_URL when set (else the local default). Creates a throwaway workspace, imports
one HCL file of 1,000 blocks (resources of one type with nested blocks and heredocs, data
sources, module calls, plus variables and outputs) through ``resources_import`` — parse,
convert, bulk insert — then times the resource list page through Django's test Client with a
logged-in user (server time, median of several requests after a warm-up), prints

    BENCH import_1000_s <v>
    BENCH resource_list_1000_ms <v>

and deletes everything it created. Targets: import ≤ 5 s, list ≤ 300 ms.
"""

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

from resources.aggregation import aggregate_main_tf  # noqa: E402
from resources.models import WorkspaceResource  # noqa: E402
from resources.services import resources_import  # noqa: E402
from workspaces.models import Workspace  # noqa: E402

BLOCKS = 1000
REPEAT = 7
IMPORT_LIMIT_S = 5.0
LIST_LIMIT_MS = 300


def _block(i: int) -> str:
    if i % 50 == 0:
        return f'module "svc{i}" {{\n  source = "./modules/svc"\n  name   = "svc-{i}"\n  size   = {i % 7}\n}}\n'
    if i % 25 == 0:
        return (f'data "terraform_remote_state" "net{i}" {{\n  backend = "local"\n'
                f'  config = {{\n    path = "${{path.module}}/net-{i}.tfstate"\n  }}\n}}\n')
    return (
        f'resource "terraform_data" "r{i}" {{\n'
        f'  input = {{\n    name  = "r{i}-${{var.environment}}"\n    index = {i}\n'
        f'    tags  = ["bench", "resources", "{i:04d}"]\n  }}\n'
        f'  triggers_replace = [var.environment, {i % 3} > 1 ? "a" : "b"]\n'
        f'  provisioner "local-exec" {{\n    command = <<-EOT\n      echo "r{i}" > /dev/null\n    EOT\n  }}\n'
        f'  lifecycle {{\n    create_before_destroy = true\n  }}\n}}\n'
    )


def _file() -> str:
    head = 'variable "environment" {\n  type    = string\n  default = "bench"\n}\n\n'
    tail = '\noutput "first" {\n  value = terraform_data.r1.output\n}\n'
    return head + "\n".join(_block(i) for i in range(1, BLOCKS + 1)) + tail


def _time(client: Client, url: str) -> tuple[float, list[float]]:
    return _setup.time_page(client, url, REPEAT)


def main() -> int:
    call_command("migrate", verbosity=0)  # the bench needs the current schema; a no-op when up to date
    setup_test_environment()
    tag = uuid.uuid4().hex[:8]
    user = get_user_model().objects.create_user(username=f"bench-resources-{tag}", password=uuid.uuid4().hex)
    workspace = Workspace.objects.create(name=f"bench-resources-{tag}", description="throwaway benchmark workspace")
    try:
        text = _file()
        import hcl2

        hcl2.loads('variable "warm" {}\n')  # the grammar loads once per process; not part of an import
        start = time.perf_counter()
        report = resources_import(workspace=workspace, files={"main.tf": text}, user=user)
        import_s = time.perf_counter() - start
        count = WorkspaceResource.objects.filter(workspace=workspace, is_active=True).count()
        assert count == BLOCKS == len(report.created), (count, len(report.created))
        print(f"# imported {len(text) // 1024} KB of HCL: {count} resources, code version {report.code_version} "
              f"on {connection.vendor}")

        start = time.perf_counter()
        doc = aggregate_main_tf(workspace)
        aggregate_ms = (time.perf_counter() - start) * 1000
        assert len(doc["resource"]["terraform_data"]) == BLOCKS - BLOCKS // 25

        client = Client()
        client.force_login(user)
        list_url = reverse("resource_list", args=[workspace.name])
        list_ms, list_samples = _time(client, list_url)
        extra = {
            "resource_list_search": _time(client, list_url + "?q=r99&sort=-address")[0],
            "resource_list_htmx_page_10": _time(client, list_url + "?page=10")[0],
            "resource_detail": _time(client, reverse("resource_detail", args=[
                workspace.name, WorkspaceResource.objects.filter(workspace=workspace).first().pk]))[0],
            "aggregate_main_tf": aggregate_ms,
        }
        print("# samples resource_list_1000_ms " + " ".join(f"{s:.1f}" for s in list_samples))
        for name, value in extra.items():
            print(f"# {name}_ms {value:.1f}")
        print(f"BENCH import_1000_s {import_s:.2f}")
        print(f"BENCH resource_list_1000_ms {list_ms:.1f}")
        slow = [name for name, over in (("import_1000_s", import_s > IMPORT_LIMIT_S),
                                        ("resource_list_1000_ms", list_ms > LIST_LIMIT_MS)) if over]
        if slow:
            print(f"# over budget: {', '.join(slow)}")
        return 1 if slow else 0
    finally:
        workspace.delete()
        user.delete()


if __name__ == "__main__":
    sys.exit(main())
