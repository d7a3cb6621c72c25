"""Big plans for the plan page's tests: ``terraform show -json`` documents of terraform_data
resources in modules, with every kind of action, turned into a change summary by the pipeline's
own ``summarize_plan``."""

from django.utils import timezone

from executions.executor.plan_summary import summarize_plan
from executions.models import WorkspaceTask

MODULES = 10


def _change(module, name, index, actions, before, after):
    return {
        "address": f"{module}.terraform_data.{name}[{index}]", "module_address": module, "mode": "managed",
        "type": "terraform_data", "name": name, "index": index, "provider_name": "terraform.io/builtin/terraform",
        "change": {"actions": actions, "before": before, "after": after,
                   "after_unknown": {"id": True, "output": True} if after is not None else {},
                   "before_sensitive": {} if before is not None else False,
                   "after_sensitive": {} if after is not None else False},
    }


def big_plan_doc(total: int, modules: int = MODULES) -> dict:
    """Per module: 10% created, 10% updated, 5% replaced, 5% destroyed, the rest unchanged."""
    changes = []
    for m in range(modules):
        module = f"module.svc_{m:02d}"
        for i in range(total // modules):
            before = {"id": f"id-{m}-{i}", "input": f"v1-{i}", "output": f"v1-{i}", "triggers_replace": "r1"}
            kind = i % 20
            if kind in (0, 1):
                changes.append(_change(module, "item", i, ["create"], None, {"input": f"v1-{i}",
                                                                            "triggers_replace": "r1"}))
            elif kind in (2, 3):
                changes.append(_change(module, "item", i, ["update"], before, {**before, "input": f"v2-{i}"}))
            elif kind == 4:
                changes.append(_change(module, "item", i, ["delete", "create"], before,
                                       {"input": f"v1-{i}", "triggers_replace": "r2"}))
            elif kind == 5:
                changes.append(_change(module, "old", i, ["delete"], before, None))
            else:
                changes.append(_change(module, "item", i, ["no-op"], before, before))
    return {"format_version": "1.2", "resource_changes": changes}


def big_plan_task(workspace, total: int, **fields) -> WorkspaceTask:
    """A plan waiting for confirmation whose change summary has ``total`` resources."""
    defaults = {"task_type": "plan_and_apply", "status": "planned", "stage": "awaiting_confirmation",
                "started_at": timezone.now(), "has_changes": True, "message": f"{total} resources",
                "change_summary": summarize_plan(big_plan_doc(total), [])}
    return WorkspaceTask.objects.create(workspace=workspace, **{**defaults, **fields})
