"""Terraform runs as an unprivileged OS user when the worker is root (``IAC_RUN_AS_USER``).

A run's terraform and its provisioners get the user's uid and a group of their own (a gid
derived from the run, with no other member), so that:

- its work dir is ``root:<run gid>`` with mode 2770: terraform reads and writes it, no other
  run can enter it (another run has another gid);
- the data directory is traversable but not listable (0711), and what is in it is the
  worker's alone: the secret key and the SQLite files (0600), state backups and the process
  records (0700);
- the shared provider plugin cache belongs to the run user (terraform fills it); providers are
  verified against the lock file, so a planted binary is refused.

Without ``IAC_RUN_AS_USER`` (or when the worker is not root) terraform runs as the worker's
user and can read what it can: the README says so.
"""

import os
import pwd
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from executions.embedded_terraform import DROP_GID, DROP_UID
from executions.executor.terraform import terraform_path
from iacplatform.errors import DomainError

RUN_GID_BASE = 2_000_000
RUN_GID_SPAN = 1_000_000


class IsolationError(DomainError):
    pass


@lru_cache(maxsize=4)
def _uid(name: str) -> int:
    try:
        return int(name) if name.isdigit() else pwd.getpwnam(name).pw_uid
    except KeyError:
        raise IsolationError(f"IAC_RUN_AS_USER names no user {name!r}: create it (useradd --system {name}) "
                             "or unset the setting.") from None


def run_as_uid() -> int | None:
    """The uid terraform runs as, or None (not configured, or the worker is not root)."""
    name = str(getattr(settings, "IAC_RUN_AS_USER", "") or "")
    if not name or os.geteuid() != 0:
        return None
    uid = _uid(name)
    if uid == 0:
        raise IsolationError("IAC_RUN_AS_USER must not be root.")
    return uid


def run_gid(task_id: int) -> int:
    return RUN_GID_BASE + task_id % RUN_GID_SPAN


def process_credentials(task) -> dict:
    """``subprocess.Popen`` arguments that drop a run's terraform to its user and group.

    The embedded ``iac-terraform`` drops root itself once loaded (``embedded_terraform``): its
    interpreter may live where the run user cannot read. A terraform binary is started as the
    user directly.
    """
    uid = run_as_uid()
    if uid is None:
        return {}
    gid = run_gid(task.pk)
    if os.path.basename(terraform_path()) == "iac-terraform":
        return {"env_extra": {DROP_UID: str(uid), DROP_GID: str(gid)}}
    return {"user": uid, "group": gid, "extra_groups": [], "umask": 0o007}


def _chmod(path: Path, mode: int) -> None:
    if path.exists():
        path.chmod(mode)


def harden_data_dir() -> None:
    """The modes above, applied to the data directory (idempotent, cheap)."""
    if run_as_uid() is None:
        return
    data = Path(settings.DATA_DIR)
    _chmod(data, 0o711)
    for name in ("secret_key", "db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "db.sqlite3-journal",
                 "test_db.sqlite3", "test_db.sqlite3-wal", "test_db.sqlite3-shm"):
        _chmod(data / name, 0o600)
    for path in (Path(settings.IAC_STATE_BACKUP_DIR), data / "run-processes"):
        _chmod(path, 0o700)
    work = Path(settings.IAC_WORK_DIR)
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o711)
    cache = Path(settings.IAC_PLUGIN_CACHE_DIR)
    cache.mkdir(parents=True, exist_ok=True)
    os.chown(cache, run_as_uid(), 0)
    cache.chmod(0o700)
    for parent in (work.parent, cache.parent):
        if parent != data and parent.exists() and parent.stat().st_uid == 0:
            parent.chmod(parent.stat().st_mode | 0o111)


def hand_over(path: Path, task) -> None:
    """Give a prepared work dir to the run's group (root stays its owner)."""
    if run_as_uid() is None:
        return
    gid = run_gid(task.pk)
    for root, dirs, files in os.walk(path):
        os.chown(root, 0, gid)
        os.chmod(root, 0o2770)
        for name in files:
            file = os.path.join(root, name)
            os.chown(file, 0, gid, follow_symlinks=False)
            if not os.path.islink(file):
                os.chmod(file, 0o660)
