"""python-hcl2's parse tree → Terraform JSON, taking expression text from the source itself.

The rules are in ``resources.importer``'s docstring; ``HclReader`` applies them to one block.
"""

import math
import re

from hcl2.utils import process_escape_sequences
from lark import Token, Tree

from iacplatform.errors import DomainError

HEREDOC = re.compile(r"\A<<(-?)([A-Za-z][A-Za-z0-9._-]*)\r?\n(.*?)^[ \t]*\2[ \t]*\Z", re.S | re.M)
HEREDOC_EMPTY = re.compile(r"\A<<(-?)([A-Za-z][A-Za-z0-9._-]*)\r?\n[ \t]*\2[ \t]*\Z")


class ImportParseError(DomainError):
    """Some input could not be read; ``errors`` maps each file to its problems."""


def is_newline(node) -> bool:
    return isinstance(node, Tree) and node.data == "new_line_or_comment"


def body_items(body) -> list:
    return [c for c in body.children if isinstance(c, Tree) and c.data in ("attribute", "block")]


def first(node):
    """The first token of a subtree, new lines and comments left out."""
    if isinstance(node, Token):
        return node
    for child in node.children:
        if child is not None and not is_newline(child):
            found = first(child)
            if found is not None:
                return found
    return None


def last(node):
    if isinstance(node, Token):
        return node
    for child in reversed(node.children):
        if child is not None and not is_newline(child):
            found = last(child)
            if found is not None:
                return found
    return None


class HclReader:
    """One file's parse tree as Terraform JSON.

    Literals (strings, numbers, bools, null, lists, objects) become JSON values; a string keeps
    its interpolations and directives as written (Terraform JSON strings are templates too);
    any other expression becomes "${<its source text>}", which Terraform evaluates to the value
    itself. Nested blocks become an object (one unlabeled block), a list (several), or a list of
    {label: body} (labeled blocks such as provisioners and dynamic, whose order counts).
    """

    def __init__(self, name: str, text: str):
        self.name, self.text = name, text

    def source(self, node) -> str:
        return self.text[first(node).start_pos:last(node).end_pos]

    def name_of(self, node) -> str:
        """An attribute name, a block type or a block label."""
        if isinstance(node, Tree) and node.data == "string":
            return self.string(node)
        return str(first(node))

    def block_parts(self, block):
        parts = [c for c in block.children if isinstance(c, Tree) and not is_newline(c)]
        body = parts.pop()
        keyword, *labels = [self.name_of(p) for p in parts]
        return keyword, labels, body

    def body(self, body, path: tuple) -> dict:
        out: dict = {}
        blocks: dict[str, list] = {}
        labeled: set[str] = set()
        for child in body_items(body):
            if child.data == "attribute":
                key = self.name_of(child.children[0])
                if key in out:
                    raise ImportParseError(f"{self.name}, line {first(child).line}: "
                                           f"the attribute {key!r} is defined twice.")
                out[key] = _convert_attribute(key, self.expression(child.children[-1]), path)
                continue
            keyword, labels, inner = self.block_parts(child)
            item = self.body(inner, (*path, keyword))
            for label in reversed(labels):
                item = {label: item}
            blocks.setdefault(keyword, []).append(item)
            if labels:
                labeled.add(keyword)
        for keyword, items in blocks.items():
            if keyword in out:
                raise ImportParseError(f"{self.name}: {keyword!r} is both an attribute and a block in "
                                       f"{'.'.join(path)}.")
            out[keyword] = items if keyword in labeled or len(items) > 1 else items[0]
        return out

    def expression(self, node):
        if isinstance(node, Tree) and node.data == "expr_term":
            parts = [c for c in node.children if c is not None and not is_newline(c)]
            if len(parts) == 1 and isinstance(parts[0], Tree):
                return self.term(parts[0], node)
        return "${" + self.source(node) + "}"

    def term(self, term, outer):
        kind = term.data
        if kind == "string":
            return self.string(term)
        if kind == "int_lit":
            return int(str(term.children[0]))
        if kind == "float_lit":
            value = float(str(term.children[0]))
            return value if math.isfinite(value) else "${" + self.source(outer) + "}"
        if kind == "literal_value":
            return {"true": True, "false": False, "null": None}[str(term.children[0])]
        if kind == "identifier":
            return str(term.children[0])  # alone, only a keyword: destroy, all, string…
        if kind == "tuple":
            return [self.expression(c) for c in term.children if isinstance(c, Tree) and not is_newline(c)]
        if kind == "object":
            return {self.object_key(elem.children[0]): self.expression(elem.children[-1])
                    for elem in term.children if isinstance(elem, Tree) and elem.data == "object_elem"}
        if kind in ("heredoc_template", "heredoc_template_trim"):
            return _heredoc(str(term.children[0]).rstrip("\n").rstrip("\r"))
        return "${" + self.source(outer) + "}"

    def object_key(self, key) -> str:
        node = key.children[0]
        if node.data == "keyword":
            return str(node.children[0])
        if node.data == "expr_term" and len(node.children) == 1 and isinstance(node.children[0], Tree):
            inner = node.children[0]
            if inner.data == "identifier":
                return str(inner.children[0])
            if inner.data == "string":
                return self.string(inner)
        return "${" + self.source(node) + "}"

    def string(self, node) -> str:
        """A quoted string as a template: escapes resolved in its literal text only."""
        out = []
        for part in node.children:
            if not (isinstance(part, Tree) and part.data == "string_part"):
                continue
            inner = part.children[0]
            if isinstance(inner, Token):
                out.append(process_escape_sequences(str(inner)) if inner.type == "STRING_CHARS" else str(inner))
            else:
                out.append(self.source(inner))
        return "".join(out)


def _static(value):
    """A bare expression where Terraform JSON wants one (a type, a reference, a keyword)."""
    if isinstance(value, list):
        return [_static(item) for item in value]
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1].strip()
    return value


def _convert_attribute(key: str, value, path: tuple):
    block = path[-1]
    if key == "depends_on":
        return _static(value)
    if block == "lifecycle" and key in ("ignore_changes", "replace_triggered_by"):
        return _static(value)
    if (block, key) in {("variable", "type"), ("dynamic", "iterator"), ("moved", "from"), ("moved", "to"),
                        ("removed", "from"), ("import", "to")}:
        return _static(value)
    if key == "provider" and block in ("resource", "data", "import", "removed"):
        return _static(value)
    if block == "module" and key == "providers" and isinstance(value, dict):
        return {k: _static(v) for k, v in value.items()}
    return value


def _heredoc(text: str) -> str:
    if HEREDOC_EMPTY.match(text):
        return ""
    match = HEREDOC.match(text)
    if not match:
        return text
    trim, _, content = match.groups()
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if trim:
        indents = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
        cut = min(indents) if indents else 0
        lines = [line[cut:] for line in lines]
    return "\n".join(lines) + "\n"
