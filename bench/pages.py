"""Benchmark: the run page of a big plan (issue 16, point 4).

Run from the repository root:  .venv/bin/python bench/pages.py [--crafted]
Uses DATABASE_URL when set (else the local default). For 5,000 and 1,500 resources it makes a
real plan with the embedded Terraform — local modules of ``terraform_data`` resources, against a
prior state written here, so the plan mixes creates, in-place updates, replacements, deletes and
(most of it) unchanged resources — turns ``terraform show -json`` into the change summary with
the pipeline's own ``summarize_plan``, stores it on a throwaway run waiting for confirmation (with
terraform's plan output in its log, ~6 lines per changed resource), and
times the run page through Django's test Client with a logged-in user (server time, median of
several requests after a warm-up). It prints

    BENCH plan_page_5000_ms <v>
    BENCH plan_page_5000_kb <v>
    BENCH plan_page_1500_ms <v>
    BENCH plan_page_1500_kb <v>

and deletes everything it created. Targets: < 300 ms and < 500 KB. ``--crafted`` skips Terraform
and builds the same ``show -json`` document in Python (seconds instead of a minute).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import _setup  # first: sets Django up from the repository root
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from executions.executor.plan_summary import summarize_plan  # noqa: E402
from executions.models import TaskLog, WorkspaceTask  # noqa: E402
from workspaces.models import Workspace  # noqa: E402

SIZES = (5000, 1500)
MODULES = 25
REPEAT = 7
LIMIT_MS, LIMIT_KB = 300, 500

MODULE_TF = """
variable "n" { type = number }
resource "terraform_data" "item" {
  count            = var.n
  input            = { name = "item-${count.index}", gen = count.index % 10 == 1 ? "g2" : "g1" }
  triggers_replace = count.index % 40 == 3 ? "r2" : "r1"
}
"""


def _shape(total: int) -> tuple[int, int, int]:
    """Per module: items in the code, items already in the state, legacy items only in the state."""
    per_module = total // MODULES
    legacy = max(per_module * 3 // 100, 1)
    items = per_module - legacy
    return items, items * 85 // 100, legacy


def _instance(index: int) -> dict:
    value = {"name": f"item-{index}", "gen": "g1"}
    typed = {"value": value, "type": ["object", {"gen": "string", "name": "string"}]}
    return {"index_key": index, "schema_version": 0, "sensitive_attributes": [], "identity_schema_version": 0,
            "attributes": {"id": str(uuid.uuid4()), "input": typed, "output": typed,
                           "triggers_replace": {"value": "r1", "type": "string"}}}


def _state(total: int) -> dict:
    _, existing, legacy = _shape(total)
    resources = []
    for m in range(MODULES):
        for name, count in (("item", existing), ("legacy", legacy)):
            resources.append({"module": f"module.svc_{m:02d}", "mode": "managed", "type": "terraform_data",
                              "name": name, "provider": 'provider["terraform.io/builtin/terraform"]',
                              "instances": [_instance(i) for i in range(count)]})
    return {"version": 4, "terraform_version": "1.15.5", "serial": 1, "lineage": str(uuid.uuid4()),
            "outputs": {}, "resources": resources, "check_results": None}


def real_plan(total: int) -> dict:
    """``terraform show -json`` of a real plan by the embedded Terraform."""
    items, _, _ = _shape(total)
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        work = Path(tmp)
        (work / "mod").mkdir()
        (work / "mod" / "main.tf").write_text(MODULE_TF)
        modules = {f"svc_{m:02d}": {"source": "./mod", "n": items} for m in range(MODULES)}
        (work / "main.tf.json").write_text(json.dumps({"module": modules}))
        (work / "terraform.tfstate").write_text(json.dumps(_state(total)))
        (work / "cli.tfrc").write_text("")
        env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1",
               "TF_CLI_CONFIG_FILE": str(work / "cli.tfrc")}
        for args in (["init", "-input=false", "-no-color"],
                     ["plan", "-input=false", "-no-color", "-refresh=false", "-out=plan.tfplan"]):
            done = subprocess.run([settings.TERRAFORM_BIN, *args], cwd=work, env=env, capture_output=True, timeout=900)
            if done.returncode != 0:
                raise SystemExit(f"terraform {args[0]} failed: {done.stderr.decode(errors='replace')[-2000:]}")
        shown = subprocess.run([settings.TERRAFORM_BIN, "show", "-json", "plan.tfplan"], cwd=work, env=env,
                               capture_output=True, timeout=900, check=True)
        return json.loads(shown.stdout)


def crafted_plan(total: int) -> dict:
    """The same plan as ``real_plan`` would make, written directly in ``show -json``'s shape."""
    items, existing, legacy = _shape(total)
    changes = []

    def change(module, name, index, actions, before, after):
        unknown = {"id": True, "output": True} if after is not None else {}
        changes.append({
            "address": f"{module}.terraform_data.{name}[{index}]", "module_address": module, "mode": "managed",
            "type": "terraform_data", "name": name, "index": index, "provider_name": "terraform.io/builtin/terraform",
            "change": {"actions": actions, "before": before, "after": after, "after_unknown": unknown,
                       "before_sensitive": {} if before is not None else False,
                       "after_sensitive": {} if after is not None else False}})

    for m in range(MODULES):
        module = f"module.svc_{m:02d}"
        for i in range(items):
            gen, rev = ("g2" if i % 10 == 1 else "g1"), ("r2" if i % 40 == 3 else "r1")
            after = {"input": {"name": f"item-{i}", "gen": gen}, "triggers_replace": rev}
            if i >= existing:
                change(module, "item", i, ["create"], None, after)
                continue
            before = {"id": str(uuid.uuid4()), "input": {"name": f"item-{i}", "gen": "g1"},
                      "output": {"name": f"item-{i}", "gen": "g1"}, "triggers_replace": "r1"}
            actions = ["delete", "create"] if rev != "r1" else ["update"] if gen != "g1" else ["no-op"]
            change(module, "item", i, actions, before, before if actions == ["no-op"] else after)
        for i in range(legacy):
            before = {"id": str(uuid.uuid4()), "input": {"name": f"item-{i}", "gen": "g1"},
                      "output": {"name": f"item-{i}", "gen": "g1"}, "triggers_replace": "r1"}
            change(module, "legacy", i, ["delete"], before, None)
    return {"format_version": "1.2", "terraform_version": "1.15.5", "resource_changes": changes}


def bench(total: int, user, crafted: bool) -> tuple[float, float]:
    start = time.perf_counter()
    plan_doc = crafted_plan(total) if crafted else real_plan(total)
    made = time.perf_counter() - start
    summary = summarize_plan(plan_doc, [])
    workspace = Workspace.objects.create(name=f"bench-plan-{total}-{uuid.uuid4().hex[:6]}",
                                         description="throwaway benchmark workspace")
    try:
        task = WorkspaceTask.objects.create(
            workspace=workspace, task_type="plan_and_apply", status="planned", stage="awaiting_confirmation",
            has_changes=True, change_summary=summary, created_by=user, message=f"{total} resources")
        # terraform's own plan output: ~8 lines per changed resource, in chunks as the log writer stores them
        block = ("  # {a} will be created\n  + resource \"terraform_data\" \"r\" {{\n      + id     = (known after apply)\n"
                 "      + input  = \"value\"\n      + output = (known after apply)\n    }}\n")
        text = "".join(block.format(a=r["address"]) for r in summary["resources"]).splitlines()
        text.append(f"Plan: {summary['add']} to add, {summary['change']} to change, {summary['destroy']} to destroy.")
        chunks = ["\n".join(text[i:i + 500]) for i in range(0, len(text), 500)]
        for seq, chunk in enumerate(chunks, start=1):
            TaskLog.objects.create(task=task, seq=seq, stage="planning", text=chunk)
        TaskLog.objects.create(task=task, seq=len(chunks) + 1, stage="complete", text="Run finished: Needs confirmation")
        changed = len(summary["resources"])
        print(f"# {total}: {'crafted' if crafted else 'real'} plan in {made:.1f} s; +{summary['add']} "
              f"~{summary['change']} -{summary['destroy']} ({summary['replace']} replaced), "
              f"{len(summary['unchanged'])} unchanged, {changed} changed resources; "
              f"summary {len(json.dumps(summary)) // 1024} KB")
        client = Client()
        client.force_login(user)
        url = reverse("run_detail", args=[workspace.name, task.pk])
        page_ms, samples = _setup.time_page(client, url, REPEAT)
        size_kb = len(client.get(url).content) / 1024
        cpu = []
        for _ in range(REPEAT):  # this process's CPU time: what the page costs, whatever else the machine does
            begin = time.process_time()
            client.get(url)
            cpu.append((time.process_time() - begin) * 1000)
        print(f"# samples plan_page_{total}_ms " + " ".join(f"{s:.1f}" for s in samples))
        print(f"# cpu plan_page_{total}_ms {sorted(cpu)[REPEAT // 2]:.1f} (load average {os.getloadavg()[0]:.1f})")
        htmx = {"HTTP_HX_REQUEST": "true"}
        plan_url = reverse("run_plan", args=[workspace.name, task.pk])
        first = summary["resources"][0]["address"]
        for name, extra_url in (("filter", f"{plan_url}?q=svc_07"),
                                ("details", reverse("run_plan_resource", args=[workspace.name, task.pk])
                                 + f"?address={first}")):
            client.get(extra_url, **htmx)
            begin = time.perf_counter()
            response = client.get(extra_url, **htmx)
            print(f"# {name}_{total}_ms {(time.perf_counter() - begin) * 1000:.1f} "
                  f"({len(response.content) / 1024:.1f} KB, status {response.status_code})")
        return page_ms, size_kb
    finally:
        WorkspaceTask.objects.filter(workspace=workspace).delete()
        workspace.delete()


def main() -> int:
    if "workspaces_workspace" not in connection.introspection.table_names():
        call_command("migrate", verbosity=0)
    setup_test_environment()
    crafted = "--crafted" in sys.argv[1:]
    user = get_user_model().objects.create_user(username=f"bench-pages-{uuid.uuid4().hex[:8]}",
                                                password=uuid.uuid4().hex, is_superuser=True)
    over = []
    try:
        for total in SIZES:
            ms, kb = bench(total, user, crafted)
            print(f"BENCH plan_page_{total}_ms {ms:.1f}")
            print(f"BENCH plan_page_{total}_kb {kb:.1f}")
            over += [f"plan_page_{total}_ms"] if ms >= LIMIT_MS else []
            over += [f"plan_page_{total}_kb"] if kb >= LIMIT_KB else []
    finally:
        user.delete()
    if over:
        print(f"# over the budget ({LIMIT_MS} ms, {LIMIT_KB} KB): {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
