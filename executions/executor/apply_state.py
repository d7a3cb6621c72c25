"""After an apply: the state terraform wrote is validated and saved, or kept and the workspace locked."""


import logging


from executions.executor import checks
from executions.executor.steps import (
    StepFailed,
)
from executions.executor.state_save import leave_for_recovery, save_state, write_backup
from executions.models import WorkspaceTask
from executions.notifications import notify_emergency
from workspaces.models import sha256_hex
from workspaces.secrets import mask_outputs
from workspaces.services import workspace_lock
from workspaces.state.document import parse_state

logger = logging.getLogger("executions.pipeline")
Status = WorkspaceTask.Status
Stage = WorkspaceTask.Stage


class ApplyStateSteps:
    """The apply's last steps (a part of ``TaskRun``)."""

    def collect_state(self, *, succeeded: bool) -> dict | None:
        """Validate and save the state terraform wrote; return its (masked) outputs when saved.

        A state that cannot follow the stored one (unparsable, serial backwards, another
        lineage) is not stored: it goes to a backup file, the workspace is locked, and the
        run fails as a state conflict — nothing is lost, nothing is silently overwritten.
        """
        path = self.workdir.state_file
        if not path.exists():
            self.log.info("[platform] terraform wrote no state")
            if succeeded:
                raise StepFailed("The apply reported success but terraform wrote no state file.",
                                 category="internal")
            return None
        content = path.read_text()
        if not self.heartbeat.confirmed():
            backup = leave_for_recovery(
                self.task.workspace, self.task, content, title=f"Lost run #{self.task.pk}: its final state",
                reason=(f"The worker of run #{self.task.pk} ({self.task.worker_host} pid {self.task.worker_pid}) "
                        f"resumed after the run was taken from it and kept the state terraform wrote; it was "
                        f"stored as a recovered version if it follows the stored state."))
            raise StepFailed(f"This worker lost run #{self.task.pk} during the apply; the state terraform wrote is "
                             f"kept in {backup}, not stored (recovery decides).", category="worker_lost")
        if self.workdir.state_checksum and sha256_hex(content) == self.workdir.state_checksum:
            self.log.info("[platform] state unchanged")
            return None
        problem = checks.state_problem(content, start_serial=self.workdir.state_serial,
                                       start_lineage=self.workdir.state_lineage)
        if problem is not None:
            self.keep_rejected_state(content, problem.message)
        save_state(task=self.task, content=content, log=self.log)
        outputs = mask_outputs(parse_state(content).get("outputs", {}))
        WorkspaceTask.objects.filter(pk=self.task.pk).update(outputs=outputs)
        self.task.outputs = outputs
        return outputs

    def keep_rejected_state(self, content: str, problem: str) -> None:
        workspace = self.task.workspace
        backup = write_backup(workspace, self.task, content)
        reason = (f"The state written by run #{self.task.pk} failed validation: {problem}. It was not stored; "
                  f"it is kept in the backup file {backup}. Check it, then restore it with "
                  f"`manage.py retry_state_save {workspace.name} --backup {backup} --force` or discard it.")
        workspace_lock(workspace=workspace, reason=reason)
        notify_emergency(f"State of workspace {workspace.name} failed validation", reason, workspace=workspace,
                         task=self.task)
        self.log.info(f"[platform] {reason}")
        raise StepFailed(reason, category="state_conflict",
                         hint=f"The state terraform wrote conflicts with the stored one ({problem}): compare the "
                              f"backup with the latest state version before restoring it; the workspace stays "
                              f"locked until then.")

    def validate_after_apply(self, expected_outputs: dict | None) -> None:
        """A successful apply must leave no lock and no process behind, and its outputs recorded."""
        problems = checks.leftovers_after_run(workdir=self.workdir.path, pgids=self.pgids)
        if expected_outputs is not None:
            outputs = checks.outputs_problem(self.task, expected_outputs)
            if outputs:
                problems.append(outputs)
        if not problems:
            self.log.info("[platform] post-execution validation passed: state valid and saved, outputs recorded, "
                          "no lock file or process left")
            return
        backup = ""
        if self.workdir.state_file.exists():
            backup = str(write_backup(self.task.workspace, self.task, self.workdir.state_file.read_text()))
        message = ("The apply reported success but failed validation: " + "; ".join(problems) + "."
                   + (f" Its state is kept as a backup in {backup}." if backup else ""))
        self.log.info(f"[platform] {message}")
        raise StepFailed(message, category="internal",
                         hint="Terraform did not end cleanly: check the resources and the latest state version "
                              "before the next run.")
