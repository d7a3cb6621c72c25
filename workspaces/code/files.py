"""Several files in one code version.

A workspace's HCL code may carry more than one file — typically local modules — in a
single, diffable text: a line ``# file: <relative path>`` starts a new file; text before
the first marker is ``main.tf``::

    module "web" { source = "./modules/web" }
    # file: modules/web/main.tf
    resource "terraform_data" "page" { input = "hello" }

JSON code is always the single file ``main.tf.json``.
"""

import re
from pathlib import PurePosixPath

from iacplatform.errors import DomainError

FILE_MARKER = re.compile(r"^#\s*file:\s*(\S+)\s*$", re.MULTILINE)
ALLOWED_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".tpl", ".json", ".sh", ".txt", ".yaml", ".yml")
RESERVED = {"provider.tf.json", "variables.tf.json", "variables.tfvars", "terraform.tfstate", "plan.tfplan"}


def split_code_files(code: str, code_format: str) -> dict[str, str]:
    """``{relative path: content}`` for a code version's text."""
    if code_format == "json":
        return {"main.tf.json": code}
    files: dict[str, str] = {}
    matches = list(FILE_MARKER.finditer(code))
    head = code[: matches[0].start()] if matches else code
    files["main.tf"] = head
    for i, match in enumerate(matches):
        path = _checked_path(match.group(1))
        end = matches[i + 1].start() if i + 1 < len(matches) else len(code)
        body = code[match.end():end].lstrip("\n")
        if path in files:
            raise DomainError(f"File {path} appears twice in the code.")
        files[path] = body
    return files


def _checked_path(raw: str) -> str:
    path = PurePosixPath(raw)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise DomainError(f"File path {raw!r} must be relative and stay inside the workspace.")
    if not raw.endswith(ALLOWED_SUFFIXES):
        raise DomainError(f"File {raw!r} has an unsupported extension ({', '.join(ALLOWED_SUFFIXES)}).")
    if str(path) in RESERVED:
        raise DomainError(f"File name {raw!r} is reserved for the files the platform generates.")
    return str(path)
