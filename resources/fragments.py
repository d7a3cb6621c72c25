"""Terraform JSON fragments: the code of one managed resource.

A fragment defines exactly one block, the resource's own address::

    {"resource": {"terraform_data": {"a": {...}}}}   -> terraform_data.a
    {"data": {"terraform_remote_state": {"net": {...}}}} -> data.terraform_remote_state.net
    {"module": {"web": {"source": "./modules/web"}}}  -> module.web

Fragments are normalised before they are stored (one-element lists unwrapped, several
provisioners as a list so their order survives a jsonb column) and compared by the sha256
of their canonical JSON (sorted keys), so equal code always has one checksum.
"""

import hashlib
import json
import re
from dataclasses import dataclass

from iacplatform.errors import DomainError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
KIND_KEYS = ("resource", "data", "module")
MAX_CODE_BYTES = 512 * 1024


class InvalidCode(DomainError):
    def __init__(self, message: str, *, field: str = "code"):
        super().__init__(message, errors={field: [message]})


@dataclass(frozen=True)
class Address:
    kind: str  # resource, data or module
    type: str  # "" for a module
    name: str

    @property
    def text(self) -> str:
        if self.kind == "module":
            return f"module.{self.name}"
        if self.kind == "data":
            return f"data.{self.type}.{self.name}"
        return f"{self.type}.{self.name}"

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> "Address":
        parts = str(text or "").strip().split(".")
        if len(parts) == 2 and parts[0] == "module":
            address = cls("module", "", parts[1])
        elif len(parts) == 3 and parts[0] == "data":
            address = cls("data", parts[1], parts[2])
        elif len(parts) == 2 and parts[0] not in ("data", "module"):
            address = cls("resource", parts[0], parts[1])
        else:
            raise InvalidCode(
                f"{text!r} is not a block address: use <type>.<name>, data.<type>.<name> or module.<name>.",
                field="resource_id",
            )
        for part in (address.type, address.name) if address.kind != "module" else (address.name,):
            if not IDENTIFIER.match(part):
                raise InvalidCode(f"{part!r} in {text!r} is not a Terraform identifier.", field="resource_id")
        return address

    def wrap(self, body: dict) -> dict:
        """The fragment defining this address with ``body``."""
        if self.kind == "module":
            return {"module": {self.name: body}}
        return {self.kind: {self.type: {self.name: body}}}


def _single(value, what: str):
    """Terraform JSON allows a list of objects where one object is meant; accept one."""
    if isinstance(value, list):
        if len(value) != 1:
            raise InvalidCode(f"{what} must define exactly one block, not {len(value)}.")
        value = value[0]
    if not isinstance(value, dict):
        raise InvalidCode(f"{what} must be a JSON object.")
    return value


def _only_key(mapping: dict, what: str) -> str:
    if len(mapping) != 1:
        found = ", ".join(sorted(map(str, mapping))) or "nothing"
        raise InvalidCode(f"{what} must define exactly one block; found {found}. Add each block as its own resource.")
    return next(iter(mapping))


def normalize_body(body: dict) -> dict:
    """Several provisioners given as one object become a list: jsonb does not keep key order."""
    provisioners = body.get("provisioner")
    if isinstance(provisioners, dict) and len(provisioners) > 1:
        body = {**body, "provisioner": [{kind: spec} for kind, spec in provisioners.items()]}
    return body


def parse_fragment(code) -> tuple[Address, dict]:
    """Validate a fragment (a dict, or its JSON text). Returns (address, normalised fragment)."""
    if isinstance(code, (bytes, str)):
        code = loads_json(code)
    if not isinstance(code, dict):
        raise InvalidCode('The code must be a JSON object like {"resource": {"<type>": {"<name>": {...}}}}.')
    if not code:
        raise InvalidCode("The code is empty.")
    kind = _only_key(code, "The code")
    if kind not in KIND_KEYS:
        raise InvalidCode(
            f"The code's top-level key is {kind!r}; a managed resource is a 'resource', 'data' or 'module' block. "
            "Variables, outputs, locals and providers belong to the workspace's code."
        )
    section = _single(code[kind], f"{kind!r}")
    if kind == "module":
        name = _only_key(section, "The module section")
        address = Address("module", "", str(name))
        body = section[name]
    else:
        rtype = _only_key(section, f"The {kind!r} section")
        names = _single(section[rtype], f"{kind}.{rtype}")
        name = _only_key(names, f"{kind}.{rtype}")
        address = Address(kind, str(rtype), str(name))
        body = names[name]
    for part in (address.name,) if kind == "module" else (address.type, address.name):
        if not IDENTIFIER.match(part):
            raise InvalidCode(f"{part!r} is not a Terraform identifier (letters, digits, '_' and '-').")
    body = normalize_body(_single(body, address.text))
    if kind == "module" and not isinstance(body.get("source"), str):
        raise InvalidCode(f"{address.text} needs a 'source' string (e.g. \"./modules/web\").")
    fragment = address.wrap(body)
    if len(canonical(fragment)) > MAX_CODE_BYTES:
        raise InvalidCode(f"The code of {address.text} is larger than {MAX_CODE_BYTES // 1024} KiB.")
    return address, fragment


def loads_json(text: str | bytes):
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            raise InvalidCode("The code is not UTF-8 text.") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        where = f" (line {line}, column {col})" if line else ""
        raise InvalidCode(f"The code is not valid JSON{where}: {getattr(exc, 'msg', exc)}.") from None


def body_of(fragment: dict) -> dict:
    kind = next(iter(fragment))
    section = fragment[kind]
    if kind == "module":
        return next(iter(section.values()))
    return next(iter(next(iter(section.values())).values()))


def canonical(code) -> str:
    return json.dumps(code, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checksum(code) -> str:
    return hashlib.sha256(canonical(code).encode()).hexdigest()


def pretty(code) -> str:
    """The text shown and diffed: stable, one key per line."""
    return json.dumps(code, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def change_summary(old: dict | None, new: dict) -> str:
    """A one-line human summary of what changed between two fragments' bodies."""
    if old is None:
        return "Created"
    before, after = body_of(old), body_of(new)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if canonical(before[k]) != canonical(after[k]))
    parts = []
    if changed:
        parts.append("changed " + ", ".join(changed))
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    return ("; ".join(parts) or "No change")[:500]


# --- whole Terraform JSON documents ---------------------------------------------------------
LABEL_COUNTS = {
    "resource": 2, "data": 2, "module": 1, "variable": 1, "output": 1, "provider": 1, "check": 1,
    "locals": 0, "terraform": 0, "moved": 0, "import": 0, "removed": 0,
}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def iter_json_blocks(doc: dict, *, where: str = "the code"):
    """Yield (keyword, labels, body) for every block of a Terraform JSON document, whichever
    of the object/array forms Terraform JSON allows it uses."""
    if not isinstance(doc, dict):
        raise InvalidCode(f"{where} must be a JSON object.")
    for keyword, section in doc.items():
        if keyword == "//":
            continue
        if keyword not in LABEL_COUNTS:
            raise InvalidCode(f"{where}: unknown top-level block type {keyword!r}.")
        yield from _walk_labels(keyword, section, LABEL_COUNTS[keyword], (), where)


def _walk_labels(keyword, value, remaining, labels, where):
    for item in _as_list(value):
        if not isinstance(item, dict):
            raise InvalidCode(f"{where}: {'.'.join((keyword, *labels))} must be a JSON object.")
        if remaining == 0:
            yield keyword, labels, item
            continue
        for label, inner in item.items():
            if label == "//":
                continue
            yield from _walk_labels(keyword, inner, remaining - 1, (*labels, label), where)


def block_address(keyword: str, labels: tuple) -> Address | None:
    if keyword == "module":
        return Address("module", "", labels[0])
    if keyword in ("resource", "data"):
        return Address(keyword, labels[0], labels[1])
    return None
