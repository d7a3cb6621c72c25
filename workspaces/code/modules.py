"""Where the code's module calls point: a local ``source`` must stay inside the workspace.

Terraform resolves a local module source (``./…``, ``../…``) against the directory of the file
that calls it. The platform writes a run's files into a work directory of its own, so a source
climbing out of the workspace's files (``../../shared``) points at the platform's directories:
``init`` fails there, with the platform's paths in the error. The import warns about such a
source, the pre-execution check refuses the run with a hint (see ``escaping_module_sources``).
"""

import json
import posixpath
import re
from dataclasses import dataclass

_MODULE_WORD = re.compile(r"\bmodule\b")


@dataclass(frozen=True)
class ModuleSource:
    file: str  # the file that calls the module, relative to the workspace root
    name: str  # the module call's name
    source: str

    @property
    def is_local(self) -> bool:
        return self.source.startswith(("./", "../", ".\\", "..\\")) or self.source in (".", "..")

    @property
    def resolved(self) -> str | None:
        """The local source as a path relative to the workspace root ('..' first when outside)."""
        if self.source.startswith("/"):
            return self.source
        if not self.is_local:
            return None
        return posixpath.normpath(posixpath.join(posixpath.dirname(self.file), self.source.replace("\\", "/")))

    @property
    def escapes(self) -> bool:
        resolved = self.resolved
        return resolved is not None and (resolved.startswith("/") or resolved == ".." or resolved.startswith("../"))

    def describe(self) -> str:
        return f'{self.file}: module "{self.name}" has source "{self.source}", outside the workspace\'s files'


HINT = ("A module's files must be part of the workspace: put them in a subdirectory (in the Code tab, a "
        "'# file: modules/<name>/main.tf' section; in an import, the module's files under modules/<name>/) and use "
        'source = "./modules/<name>"; or use a registry or git source.')


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _calls(doc) -> list[tuple[str, object]]:
    """(name, body) of the module blocks of a parsed document (JSON or python-hcl2 form)."""
    modules = doc.get("module") if isinstance(doc, dict) else None
    calls = []
    for entry in modules if isinstance(modules, list) else [modules]:
        if not isinstance(entry, dict):
            continue
        for name, body in entry.items():
            for one in body if isinstance(body, list) else [body]:
                calls.append((_unquote(name), one))
    return calls


def module_sources(files: dict[str, str]) -> list[ModuleSource]:
    """Every module call with a literal ``source`` in the .tf and .tf.json files. Unparsable
    files are skipped (their syntax is another check's business)."""
    import hcl2

    found = []
    for name, text in sorted(files.items()):
        if not name.endswith((".tf", ".tf.json")) or not _MODULE_WORD.search(text or ""):
            continue
        try:
            doc = json.loads(text) if name.endswith(".json") else hcl2.loads(text)
        except Exception:  # noqa: BLE001
            continue
        for call, body in _calls(doc):
            source = _unquote(body.get("source")) if isinstance(body, dict) else None
            if isinstance(source, str):
                found.append(ModuleSource(file=name, name=str(call), source=source.strip()))
    return found


def escaping_module_sources(files: dict[str, str]) -> list[ModuleSource]:
    """The module calls whose local source points outside the workspace's files."""
    return [m for m in module_sources(files) if m.escapes]
