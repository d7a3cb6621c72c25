"""Where an import's non-resource blocks go: the workspace's code and provider config.

``variable``, ``output``, ``locals``, ``terraform``, ``check``, ``moved``, ``import`` and
``removed`` blocks join the workspace's current code; ``provider`` blocks join its provider
config; module source files (paths in a subdirectory, e.g. ``modules/web/main.tf``) travel
inside the code as ``# file:`` sections (see ``workspaces.codefiles``), which needs HCL code.

* JSON code (or none) and no module files: the blocks are merged into the JSON document.
* HCL code, or module files into an empty workspace: the blocks' own HCL text is appended to
  ``main.tf`` and the module files become ``# file:`` sections.
* JSON code plus module files: the code becomes HCL carrying the (merged) JSON document as
  the section ``workspace.tf.json``, next to the module files.

A name that already exists with other content is a duplicate: reported, then kept
("skip"), replaced ("new_version"), or the whole import refused ("fail"). HCL text is
never rewritten block by block: a duplicate inside HCL code is kept and reported.
"""

import copy
import json
from dataclasses import dataclass, field

from iacplatform.errors import DomainError
from resources import fragments
from resources.fragments import Address, InvalidCode, block_address, iter_json_blocks
from resources.importer import ImportParseError, _parse_hcl, _parse_json
from workspaces.code.files import split_code_files
from workspaces.code.services import code_version_save
from workspaces.models import Workspace, WorkspaceCodeVersion

NAMED = ("variable", "output", "check")
LISTED = ("moved", "import", "removed")
CARRIED_JSON = "workspace.tf.json"


@dataclass
class CodeMerge:
    mode: str  # "json", "hcl" or "json_in_hcl"
    doc: dict | None = None  # json modes: the merged document
    main_text: str = ""  # hcl mode
    files: dict = field(default_factory=dict)  # path → content, besides main.tf / the carried JSON
    provider_config: dict | None = None
    code_changed: bool = False
    provider_changed: bool = False
    code_addresses: dict = field(default_factory=dict)  # address → where, blocks the code defines itself
    duplicates: list = field(default_factory=list)
    added: list = field(default_factory=list)
    replaced: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    providers: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    original_format: str = "json"

    def code_text(self) -> tuple[str, str]:
        """(code, code_format) of the new code version."""
        if self.mode == "json":
            return fragments.pretty(self.doc).rstrip("\n") + "\n" if self.doc else "", "json"
        main = self.main_text
        files = dict(self.files)
        if self.mode == "json_in_hcl" and self.doc:
            files = {CARRIED_JSON: fragments.pretty(self.doc), **files}
        parts = [main.rstrip("\n") + "\n" if main.strip() else ""]
        for path in sorted(files):
            parts.append(f"\n# file: {path}\n{files[path].rstrip(chr(10))}\n")
        return "".join(parts).lstrip("\n"), "hcl"

    def take_over(self, address: str) -> None:
        """A managed resource replaces the code's own block of that address (JSON modes only)."""
        address_obj = Address.parse(address)
        if address_obj.kind == "module":
            section = self.doc.get("module", {})
        else:
            section = self.doc.get(address_obj.kind, {}).get(address_obj.type, {})
        section.pop(address_obj.name, None)
        _prune(self.doc)
        self.code_changed = True

    def save(self, *, workspace, message: str, user=None) -> WorkspaceCodeVersion | None:
        if not (self.code_changed or self.provider_changed):
            return None
        current = _current(workspace)
        if self.code_changed:
            code, code_format = self.code_text()
        else:
            code = current.code if current else ""
            code_format = current.code_format if current else "json"
        provider_config = self.provider_config if self.provider_changed else None
        version, _ = code_version_save(workspace=workspace, code=code, code_format=code_format,
                                       provider_config=provider_config, message=message[:500], author=user)
        if self.provider_changed:
            Workspace.objects.filter(pk=workspace.pk).update(provider_config=self.provider_config)
        return version


def _current(workspace) -> WorkspaceCodeVersion | None:
    if not workspace.current_code_version_id:
        return None
    return WorkspaceCodeVersion.objects.filter(pk=workspace.current_code_version_id).first()


def _prune(doc: dict) -> None:
    for key in ("resource", "data"):
        for rtype in [t for t, names in doc.get(key, {}).items() if not names]:
            del doc[key][rtype]
    for key in ("resource", "data", "module"):
        if key in doc and not doc[key]:
            del doc[key]


def plan_code_merge(*, workspace, parsed, on_duplicate: str) -> CodeMerge:
    current = _current(workspace)
    has_code = current is not None and current.code.strip() != ""
    if has_code and current.code_format == "hcl":
        merge = _hcl_merge(current, parsed, on_duplicate)
    else:
        base = _load_json(current) if has_code else {}
        if parsed.module_files and not has_code:
            merge = _hcl_merge(None, parsed, on_duplicate)
        else:
            merge = _json_merge(base, parsed, on_duplicate,
                                mode="json_in_hcl" if parsed.module_files else "json")
            if parsed.module_files:
                merge.files.update(parsed.module_files)
                merge.code_changed = True
    merge.original_format = current.code_format if current else "json"
    _merge_providers(merge, workspace, current, parsed, on_duplicate)
    return merge


# --- JSON -----------------------------------------------------------------------------------
def _load_json(current) -> dict:
    try:
        return json.loads(current.code)
    except ValueError as exc:
        raise DomainError(f"The workspace code (version {current.number}) is not valid JSON, so the import cannot "
                          f"be merged into it: {exc}") from None


def _duplicate(merge, label, block, existing, on_duplicate) -> bool:
    """Record a duplicate; True when the imported content should replace what exists."""
    merge.duplicates.append({"address": label, "where": block.where, "existing": existing,
                             "action": {"fail": "none", "skip": "skipped"}.get(on_duplicate, "replaced")})
    if on_duplicate == "new_version":
        merge.replaced.append(label)
        return True
    merge.skipped.append(label)
    return False


def _json_merge(base: dict, parsed, on_duplicate: str, *, mode: str) -> CodeMerge:
    try:
        blocks = list(iter_json_blocks(base, where="the workspace code"))
    except InvalidCode as exc:
        raise DomainError(f"The import cannot be merged into the workspace code: {exc.message}") from None
    doc: dict = {}
    merge = CodeMerge(mode=mode, doc=doc)
    for keyword, labels, body in blocks:  # normalise the current code to the object forms
        address = block_address(keyword, labels)
        if address is not None:
            _set_address(doc, address, body)
            merge.code_addresses[address.text] = "the workspace code"
        elif keyword in NAMED:
            doc.setdefault(keyword, {})[labels[0]] = body
        elif keyword in ("locals", "terraform"):
            _deep_update(doc.setdefault(keyword, {}), body)
        elif keyword in LISTED:
            doc.setdefault(keyword, []).append(body)
    for block in parsed.code_blocks:
        if block.keyword in NAMED:
            section = doc.setdefault(block.keyword, {})
            name = block.labels[0]
            _put(merge, section, name, block.body, f"{block.keyword}.{name}", block, on_duplicate)
        elif block.keyword == "locals":
            section = doc.setdefault("locals", {})
            for name, value in block.body.items():
                _put(merge, section, name, value, f"local.{name}", block, on_duplicate)
        elif block.keyword == "terraform":
            section = doc.setdefault("terraform", {})
            for key, value in block.body.items():
                if key == "required_providers" and isinstance(value, dict):
                    providers = section.setdefault("required_providers", {})
                    for pname, spec in value.items():
                        _put(merge, providers, pname, spec, f"terraform.required_providers.{pname}", block,
                             on_duplicate)
                else:
                    _put(merge, section, key, value, f"terraform.{key}", block, on_duplicate)
        elif block.keyword in LISTED:
            items = doc.setdefault(block.keyword, [])
            if any(fragments.canonical(i) == fragments.canonical(block.body) for i in items):
                merge.unchanged.append(block.label)
            else:
                items.append(copy.deepcopy(block.body))
                merge.added.append(block.label)
                merge.code_changed = True
    for key in [k for k, v in doc.items() if v in ({}, [])]:
        del doc[key]
    return merge


def _put(merge, section: dict, name: str, value, label: str, block, on_duplicate: str) -> None:
    if name in section:
        if fragments.canonical(section[name]) == fragments.canonical(value):
            merge.unchanged.append(label)
            return
        if not _duplicate(merge, label, block, "defined differently in the workspace code", on_duplicate):
            return
    else:
        merge.added.append(label)
    section[name] = copy.deepcopy(value)
    merge.code_changed = True


def _set_address(doc: dict, address: Address, body: dict) -> None:
    if address.kind == "module":
        doc.setdefault("module", {})[address.name] = body
    else:
        doc.setdefault(address.kind, {}).setdefault(address.type, {})[address.name] = body


def _deep_update(target: dict, source: dict) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


# --- HCL ------------------------------------------------------------------------------------
def _hcl_merge(current, parsed, on_duplicate: str) -> CodeMerge:
    files = split_code_files(current.code, "hcl") if current is not None else {"main.tf": ""}
    main_text = files.pop("main.tf", "")
    merge = CodeMerge(mode="hcl", main_text=main_text, files=files)
    existing: dict[str, str] = {}  # label → where
    try:
        for path, text in [("main.tf", main_text), *sorted(files.items())]:
            if "/" in path:
                continue
            if path.endswith(".tf.json"):
                blocks = _parse_json(path, text)
            elif path.endswith(".tf"):
                blocks = _parse_hcl(path, text)
            else:
                continue
            for block in blocks:
                where = f"the workspace code ({block.where})"
                if block.address is not None:
                    merge.code_addresses[block.address.text] = where
                elif block.keyword == "locals":
                    for name in block.body:
                        existing[f"local.{name}"] = where
                elif block.keyword == "terraform":
                    for key, value in block.body.items():
                        if key == "required_providers" and isinstance(value, dict):
                            for pname in value:
                                existing[f"terraform.required_providers.{pname}"] = where
                        else:
                            existing[f"terraform.{key}"] = where
                elif block.keyword in NAMED:
                    existing[block.label] = where
    except ImportParseError as exc:
        raise DomainError(f"The workspace's HCL code could not be read to merge the import into it: "
                          f"{exc.message}") from None
    appended: list[str] = []
    for block in parsed.code_blocks:
        if not block.text:
            raise DomainError(f"{block.where}: the workspace code is HCL; import {block.label} from a .tf file "
                              "rather than .tf.json.")
        if block.keyword == "locals":
            keep = []
            for name in block.body:
                label = f"local.{name}"
                if label in existing:
                    _hcl_duplicate(merge, label, block, existing[label], on_duplicate)
                else:
                    keep.append(name)
                    merge.added.append(label)
            if keep:
                appended.append("locals {\n" + "\n".join(block.attribute_texts[n] for n in keep) + "\n}")
            continue
        if block.keyword == "terraform":
            labels = []
            for key, value in block.body.items():
                if key == "required_providers" and isinstance(value, dict):
                    labels += [f"terraform.required_providers.{p}" for p in value]
                else:
                    labels.append(f"terraform.{key}")
            clashes = [label for label in labels if label in existing]
            if clashes:
                for label in clashes:
                    _hcl_duplicate(merge, label, block, existing[label], on_duplicate)
                continue
            merge.added += labels
            appended.append(block.source)
            continue
        if block.keyword in NAMED and block.label in existing:
            _hcl_duplicate(merge, block.label, block, existing[block.label], on_duplicate)
            continue
        merge.added.append(block.label)
        appended.append(block.source)
    for path, content in sorted(parsed.module_files.items()):
        if path in merge.files:
            if merge.files[path] == content:
                merge.unchanged.append(f"file {path}")
                continue
            merge.duplicates.append({"address": f"file {path}", "where": path, "existing": "in the workspace code",
                                     "action": {"fail": "none", "skip": "skipped"}.get(on_duplicate, "replaced")})
            if on_duplicate != "new_version":
                merge.skipped.append(f"file {path}")
                continue
            merge.replaced.append(f"file {path}")
        else:
            merge.added.append(f"file {path}")
        merge.files[path] = content
        merge.code_changed = True
    if appended:
        head = merge.main_text.rstrip("\n")
        merge.main_text = (head + "\n\n" if head else "") + "\n\n".join(appended) + "\n"
        merge.code_changed = True
    return merge


def _hcl_duplicate(merge, label, block, where, on_duplicate) -> None:
    merge.duplicates.append({"address": label, "where": block.where, "existing": f"defined in {where}",
                             "action": "none" if on_duplicate == "fail" else "skipped"})
    merge.skipped.append(label)
    if on_duplicate == "new_version":
        merge.warnings.append(f"{label} was kept as it is in the HCL code (HCL code is not rewritten block by "
                              "block); edit it in the Code tab.")


# --- providers ------------------------------------------------------------------------------
def _merge_providers(merge: CodeMerge, workspace, current, parsed, on_duplicate: str) -> None:
    if not parsed.provider_blocks:
        return
    config = copy.deepcopy(workspace.provider_config or {})  # the settings are the one source
    if config and "provider" not in config and "terraform" not in config:
        config = {"provider": config}
    providers = config.setdefault("provider", {})
    for block in parsed.provider_blocks:
        name = block.labels[0]
        alias = block.body.get("alias")
        label = f"provider.{name}" + (f".{alias}" if alias else "")
        entries = providers.get(name, [])
        entries = list(entries) if isinstance(entries, list) else [entries]
        index = next((i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("alias") == alias), None)
        if index is None:
            entries.append(copy.deepcopy(block.body))
            merge.added.append(label)
        elif fragments.canonical(entries[index]) == fragments.canonical(block.body):
            merge.unchanged.append(label)
            continue
        elif _duplicate(merge, label, block, "configured differently in the provider config", on_duplicate):
            entries[index] = copy.deepcopy(block.body)
        else:
            continue
        providers[name] = entries[0] if len(entries) == 1 else entries
        merge.provider_changed = True
        merge.providers.append(label)
    merge.provider_config = config
