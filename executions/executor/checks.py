"""Checks around a run: before terraform starts, and after an apply says it succeeded.

Pre-execution checks run in the worker right after the claim, before the work dir
exists. Each fails fast with its own message (``CheckFailed``) and nothing is written or
run: the cheap database checks come first, the terraform binary — the only check that
starts a process, ``terraform version`` — last.

Post-execution validation reads what an apply left behind: the state (parses, serial not
backwards, lineage unchanged or new), the outputs recorded, no state lock file and no
process of terraform's group alive.
"""

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from executions.executor.config import main_files
from executions.executor.runner import group_processes
from executions.executor.terraform import TerraformInfo, TerraformNotFound, terraform_info, terraform_path
from executions.models import WorkspaceTask
from executions.services import plan_staleness
from iacplatform.errors import DomainError
from workspaces.code.check import InvalidCode, check_code
from workspaces.code.modules import HINT as MODULE_SOURCE_HINT
from workspaces.code.modules import escaping_module_sources
from workspaces.models import StateVersion, Variable, Workspace
from workspaces.state.document import InvalidState, parse_state

Status = WorkspaceTask.Status
LOCK_INFO_FILE = ".terraform.tfstate.lock.info"


class CheckFailed(Exception):
    """A check refused the run: ``check`` names it, ``message`` says why, ``hint`` what to do."""

    def __init__(self, check: str, message: str, *, category: str, hint: str = ""):
        super().__init__(message)
        self.check, self.message, self.category, self.hint = check, message, category, hint


# --- processes a run leaves on this host ----------------------------------------------
def _run_record_path(workspace_id: int) -> Path:
    # Next to the work dirs (same host, same data dir), not among them.
    return Path(settings.IAC_WORK_DIR).parent / "run-processes" / f"workspace-{workspace_id}.json"


def record_run_process(*, workspace_id: int, task_id: int, pgid: int, workdir) -> None:
    """Remember terraform's process group: if this worker dies, its terraform may live on."""
    path = _run_record_path(workspace_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"task": task_id, "pgid": pgid, "workdir": str(workdir),
                               "host": settings.IAC_WORKER_HOST, "worker_pid": os.getpid()}))
    tmp.replace(path)


def read_run_record(workspace_id: int) -> dict | None:
    try:
        record = json.loads(_run_record_path(workspace_id).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pgid"), int) else None


def clear_run_record(*, workspace_id: int, task_id: int) -> None:
    record = read_run_record(workspace_id)
    if record is not None and record.get("task") == task_id:
        _run_record_path(workspace_id).unlink(missing_ok=True)


def leftover_processes(record: dict) -> list[int]:
    return group_processes(record["pgid"], record.get("workdir") or None)


# --- pre-execution checks ---------------------------------------------------------------
def check_workspace_unlocked(task: WorkspaceTask) -> None:
    workspace = Workspace.objects.get(pk=task.workspace_id)
    if workspace.locked:
        raise CheckFailed(
            "workspace_unlocked", f"The workspace is locked: {workspace.lock_reason or 'no reason given'}",
            category="state_lock",
            hint="Unlock the workspace when the reason for the lock is resolved, then start the run again.")


def check_no_other_run(task: WorkspaceTask) -> None:
    other = (WorkspaceTask.objects.filter(workspace_id=task.workspace_id, status=Status.RUNNING)
             .exclude(pk=task.pk).order_by("id").first())
    if other is not None:
        raise CheckFailed(
            "no_other_run", f"Run #{other.pk} is already running on this workspace.", category="state_lock",
            hint=f"Wait for run #{other.pk} to finish or cancel it; one run at a time changes a workspace.")
    record = read_run_record(task.workspace_id)
    if record is None or record.get("task") == task.pk:
        return
    alive = leftover_processes(record)
    if alive:
        raise CheckFailed(
            "no_other_run",
            f"Terraform of run #{record.get('task')} is still running on this host (process group "
            f"{record['pgid']}, pids {', '.join(map(str, alive[:5]))}) although that run is no longer tracked.",
            category="state_lock",
            hint=f"Let it end or stop it (kill -INT -- -{record['pgid']}); two terraforms must never change the "
                 f"same infrastructure at once.")
    _run_record_path(task.workspace_id).unlink(missing_ok=True)


def check_plan_fresh(task: WorkspaceTask) -> None:
    plan = task.plan_task
    if plan is None or not plan.plan_file:
        raise CheckFailed("plan_fresh", "The plan file of the approved plan is missing; plan again.",
                          category="stale_plan")
    reason = plan_staleness(plan)
    if reason:
        raise CheckFailed("plan_fresh", f"The plan is stale: {reason}. Plan again.", category="stale_plan")


def code_files(task: WorkspaceTask) -> dict[str, str]:
    code_version = task.plan_task.code_version if task.task_type == "apply" else task.code_version
    try:
        return main_files(task.workspace, code_version)
    except DomainError as exc:  # no code, a bad file path in the code
        raise CheckFailed("code_parses", exc.message, category="configuration",
                          hint="Save code (or add resources) that Terraform can read, then run again.") from None


def check_code_parses(files: dict[str, str]) -> None:
    for name, text in sorted(files.items()):
        if not name.endswith((".tf", ".tf.json")) or not text.strip():
            continue
        try:
            check_code(text, "json" if name.endswith(".json") else "hcl")
        except InvalidCode as exc:
            problem = exc.problem
            raise CheckFailed(
                "code_parses", f"{name}: {exc.message}", category="configuration",
                hint=f"Fix {name} at line {problem.line}, column {problem.column} ({problem.reason.rstrip('.')}), "
                     f"then save a new code version.") from None


def check_module_sources(files: dict[str, str]) -> None:
    """A local module source must stay inside the workspace's files: one climbing out of them
    would point at the platform's own directories and fail at ``init`` with their paths."""
    escaping = escaping_module_sources(files)
    if escaping:
        raise CheckFailed("module_sources", "; ".join(m.describe() for m in escaping) + ".",
                          category="configuration", hint=MODULE_SOURCE_HINT)


def required_variables(files: dict[str, str]) -> list[str]:
    """Root-module variables declared without a default (terraform refuses to run without them)."""
    import hcl2

    required: list[str] = []

    def collect(blocks):
        for block in blocks if isinstance(blocks, list) else [blocks]:
            if not isinstance(block, dict):
                continue
            for name, body in block.items():
                name = name.strip('"')
                if isinstance(body, list):  # JSON's list form: "x": [{...}]
                    body = body[0] if body and isinstance(body[0], dict) else {}
                if not isinstance(body, dict) or "default" not in body:
                    required.append(name)

    for name, text in sorted(files.items()):
        if "/" in name or not text.strip():
            continue  # a module's variables are set by its caller
        try:
            if name.endswith(".tf.json"):
                doc = json.loads(text)
            elif name.endswith(".tf"):
                doc = hcl2.loads(text)
            else:
                continue
        except Exception:  # noqa: BLE001 — unparsable code is check_code_parses' business
            continue
        if isinstance(doc, dict) and "variable" in doc:
            collect(doc["variable"])
    return sorted(set(required))


def check_required_variables(task: WorkspaceTask, files: dict[str, str]) -> None:
    variables = Variable.objects.filter(workspace_id=task.workspace_id)
    provided = set()
    for var in variables:
        if var.category == Variable.Category.TERRAFORM:
            provided.add(var.key)
        elif var.key.startswith("TF_VAR_"):
            provided.add(var.key[len("TF_VAR_"):])
    missing = [name for name in required_variables(files) if name not in provided]
    if missing:
        names = ", ".join(f'"{n}"' for n in missing)
        plural = "s" if len(missing) > 1 else ""
        raise CheckFailed(
            "required_variables",
            f"Variable{plural} {names} {'are' if plural else 'is'} declared without a default and "
            f"{'have' if plural else 'has'} no value in the workspace.",
            category="variable",
            hint=f"Set variable{plural} {names} in the workspace's variables (or give "
                 f"{'them' if plural else 'it'} a default in the code).")


def check_workdir() -> None:
    root = Path(settings.IAC_WORK_DIR)
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise CheckFailed("workdir", f"The work directory {root} is not writable: {exc.strerror or exc}.",
                          category="internal",
                          hint="Make IAC_DATA_DIR writable for the worker (and on a mounted disk), then run "
                               "again.") from None
    free_mb = shutil.disk_usage(root).free // (1024 * 1024)
    if free_mb < settings.IAC_MIN_FREE_DISK_MB:
        raise CheckFailed(
            "free_disk", f"Only {free_mb} MB are free in {root}; a run needs at least "
                         f"{settings.IAC_MIN_FREE_DISK_MB} MB (IAC_MIN_FREE_DISK_MB).",
            category="internal", hint="Free disk space on the worker (old work dirs, plugin cache), then run again.")


_terraform_versions: dict[tuple, TerraformInfo] = {}


def worker_terraform() -> TerraformInfo:
    """``terraform version`` of the configured binary, remembered while the file is unchanged."""
    path = terraform_path()
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _terraform_versions:
        _terraform_versions[key] = terraform_info()
    return _terraform_versions[key]


def version_matches(pin: str, version: str) -> bool:
    """A pin "1.15" matches every 1.15.x; "1.15.5" only itself (pre-release suffixes ignored)."""
    wanted = pin.strip().lstrip("v").split(".")
    have = re.split(r"[-+]", version.strip().lstrip("v"), maxsplit=1)[0].split(".")
    return bool(pin.strip()) and have[: len(wanted)] == wanted


def check_terraform(task: WorkspaceTask) -> TerraformInfo:
    try:
        info = worker_terraform()
    except (TerraformNotFound, OSError) as exc:
        raise CheckFailed("terraform_binary", f"The terraform binary does not run: {exc}", category="internal",
                          hint="Install Terraform on the worker or point TERRAFORM_BIN at it "
                               "(`manage.py terraform_info` shows what the worker finds).") from None
    pin = (task.workspace.terraform_version or "").strip()
    if pin and not version_matches(pin, info.version):
        raise CheckFailed(
            "terraform_version", f"The workspace pins Terraform {pin}, but this worker runs Terraform "
                                 f"{info.version}.",
            category="configuration",
            hint=f"Change the workspace's Terraform version to match {info.version}, or give the workers a "
                 f"Terraform {pin} binary (TERRAFORM_BIN).")
    return info


def run_prechecks(task: WorkspaceTask, *, log=None) -> list[str]:
    """Run every pre-execution check in order; raise ``CheckFailed`` at the first that trips."""
    passed = []
    check_workspace_unlocked(task)
    passed.append("workspace unlocked")
    check_no_other_run(task)
    passed.append("no other run")
    if task.task_type == WorkspaceTask.TaskType.APPLY:
        check_plan_fresh(task)
        passed.append("plan present and fresh")
    files = code_files(task)
    check_code_parses(files)
    passed.append("code parses")
    check_module_sources(files)
    passed.append("module sources inside the workspace")
    check_required_variables(task, files)
    passed.append("required variables set")
    check_workdir()
    passed.append("work dir writable with free disk")
    info = check_terraform(task)
    passed.append(f"terraform {info.version}"
                  + (f" matches pin {task.workspace.terraform_version}" if task.workspace.terraform_version else ""))
    if log is not None:
        log.info(f"[platform] pre-execution checks passed: {', '.join(passed)}")
    return passed


# --- post-execution validation ----------------------------------------------------------
@dataclass
class StateProblem:
    message: str
    data: dict | None = None


def state_problem(content: str, *, start_serial: int | None, start_lineage: str | None) -> StateProblem | None:
    """Why the state terraform wrote cannot follow the one it started from, or None."""
    try:
        data = parse_state(content)
    except InvalidState as exc:
        return StateProblem(f"terraform wrote a state that is not a valid Terraform state ({exc.message})")
    if start_lineage and data["lineage"] != start_lineage:
        return StateProblem(f"the state's lineage changed from {start_lineage} to {data['lineage']}", data)
    if start_serial is not None and data["serial"] < start_serial:
        return StateProblem(f"the state's serial went backwards, from {start_serial} to {data['serial']}", data)
    if start_serial is not None and data["serial"] == start_serial:
        return StateProblem(f"the state changed but its serial stayed at {start_serial}", data)
    return None


def leftovers_after_run(*, workdir: Path, pgids: list[int]) -> list[str]:
    """What a finished terraform must not leave behind: its state lock, live processes."""
    import time

    problems = []
    if (workdir / LOCK_INFO_FILE).exists():
        problems.append(f"terraform left its state lock file ({LOCK_INFO_FILE}) behind")
    deadline = time.monotonic() + 2  # killed processes take a moment to disappear
    alive: list[int] = []
    while True:
        alive = sorted({pid for pgid in set(pgids) for pid in group_processes(pgid, workdir)})
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if alive:
        problems.append(f"processes of terraform's group are still alive (pids {', '.join(map(str, alive[:5]))})")
    return problems


def outputs_problem(task: WorkspaceTask, expected: dict) -> str | None:
    """Are the state's outputs recorded on the task and its state version?"""
    stored = WorkspaceTask.objects.filter(pk=task.pk).values_list("outputs", flat=True).first()
    if stored != expected:
        return "the outputs terraform wrote are not recorded on the run"
    version = StateVersion.objects.filter(task_id=task.pk).defer("content").order_by("-serial").first()
    if version is not None and version.outputs != expected:
        return f"the outputs of state serial {version.serial} differ from what terraform wrote"
    return None

