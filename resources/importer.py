"""Reading existing Terraform code (HCL ``.tf`` or ``.tf.json``) into blocks of Terraform JSON.

python-hcl2's grammar (lark, LALR) parses the HCL; ``HclReader`` (``resources.hcl_reader``) turns the parse tree into
Terraform JSON directly, taking expression text from the source itself:

* literals become JSON values; a quoted string keeps its interpolations and directives as
  written (Terraform JSON strings are templates), its escapes resolved in literal text only;
* any other expression becomes ``"${<source>}"`` — Terraform evaluates a string holding one
  interpolation to the value itself — except where Terraform wants a bare static expression:
  variable ``type``, ``depends_on``, lifecycle ``ignore_changes`` / ``replace_triggered_by``,
  ``provider``, module ``providers``, dynamic ``iterator``, ``moved``/``removed``/``import``
  addresses;
* nested blocks become an object (one unlabeled block), a list of objects (several), or a
  list of ``{label: body}`` (labeled blocks such as provisioners and ``dynamic``, whose order
  matters);
* heredocs become the string Terraform builds: the lines between the markers with their final
  newline, ``<<-`` trimming the common indentation.

Nothing here touches the database: ``parse_files`` returns blocks with the file and line
they came from, or raises ``ImportParseError`` naming every file, line and column at fault.
"""

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import hcl2.parser
from hcl2.postlexer import PostLexer
from lark import Lark
from lark.exceptions import LarkError

from resources.fragments import IDENTIFIER, LABEL_COUNTS, Address, InvalidCode, block_address, iter_json_blocks
from resources.hcl_reader import HclReader, ImportParseError, body_items, first, last
from workspaces.code.modules import HINT as MODULE_SOURCE_HINT
from workspaces.code.modules import escaping_module_sources

MAX_FILES = 500
MAX_TOTAL_BYTES = 20 * 1024 * 1024
MODULE_FILE_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".tpl", ".json", ".sh", ".txt", ".yaml", ".yml")


@dataclass
class Block:
    file: str
    line: int  # 0 for .tf.json input
    end_line: int
    keyword: str
    labels: tuple
    body: dict
    text: str = ""  # the block's HCL source, for HCL workspace code ("" for JSON input)
    attribute_texts: dict = field(default_factory=dict)  # locals: name → its HCL source lines
    comments: str = ""  # the comment lines right above the block (HCL input)

    @property
    def source(self) -> str:
        """The block as written, with the comments above it ("" for .tf.json input)."""
        if not self.text:
            return ""
        return (self.comments + "\n" if self.comments else "") + self.text

    @property
    def address(self) -> Address | None:
        return block_address(self.keyword, self.labels)

    @property
    def where(self) -> str:
        return f"{self.file} line {self.line}" if self.line else self.file

    @property
    def label(self) -> str:
        """How an operator names it: terraform_data.a, variable.region, locals, terraform…"""
        address = self.address
        if address is not None:
            return address.text
        return ".".join((self.keyword, *self.labels))


@dataclass
class ParsedFiles:
    blocks: list[Block] = field(default_factory=list)
    module_files: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def resource_blocks(self) -> list[Block]:
        return [b for b in self.blocks if b.address is not None]

    @property
    def code_blocks(self) -> list[Block]:
        return [b for b in self.blocks if b.address is None and b.keyword != "provider"]

    @property
    def provider_blocks(self) -> list[Block]:
        return [b for b in self.blocks if b.keyword == "provider"]


# --- entry points ---------------------------------------------------------------------------
def parse_files(files: dict[str, str]) -> ParsedFiles:
    """Parse every file; root files give blocks, files in a subdirectory are module sources."""
    if not files:
        raise ImportParseError("Nothing to import: add at least one .tf file.", errors={"files": ["no files"]})
    if len(files) > MAX_FILES:
        raise ImportParseError(f"Too many files ({len(files)}); import at most {MAX_FILES} at once.",
                               errors={"files": ["too many files"]})
    if sum(len(text) for text in files.values()) > MAX_TOTAL_BYTES:
        raise ImportParseError(f"The files are larger than {MAX_TOTAL_BYTES // (1024 * 1024)} MiB in total.",
                               errors={"files": ["too large"]})
    parsed = ParsedFiles()
    errors: dict[str, list[str]] = {}
    named: dict[str, str] = {}
    for raw_name, text in files.items():
        try:
            name = _checked_name(raw_name)
            named[name] = text
            if "/" in name:
                if name.endswith(".tf"):
                    _parse_hcl(name, text)  # syntax check only: modules are stored as they are
                elif name.endswith(".tf.json"):
                    _parse_json(name, text)
                parsed.module_files[name] = text
            elif name.endswith(".tf.json"):
                parsed.blocks.extend(_parse_json(name, text))
            else:
                parsed.blocks.extend(_parse_hcl(name, text, warnings=parsed.warnings))
        except ImportParseError as exc:
            for key, messages in (exc.errors or {raw_name: [exc.message]}).items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        summary = "; ".join(f"{msg}" for messages in errors.values() for msg in messages)
        raise ImportParseError(f"Nothing was imported: {summary}", errors=errors)
    _refuse_duplicates(parsed.blocks)
    parsed.warnings += [f"{m.describe()}: a run would fail at init. {MODULE_SOURCE_HINT}"
                        for m in escaping_module_sources(named)]
    return parsed


def hcl_to_json(text: str, *, name: str = "main.tf") -> dict:
    """A whole HCL text as one Terraform JSON document (used for single-block editing)."""
    doc: dict = {}
    for block in _parse_hcl(name, text):
        if block.keyword in ("resource", "data"):
            doc.setdefault(block.keyword, {}).setdefault(block.labels[0], {})[block.labels[1]] = block.body
        elif LABEL_COUNTS[block.keyword] == 1:
            doc.setdefault(block.keyword, {})[block.labels[0]] = block.body
        else:
            doc.setdefault(block.keyword, []).append(block.body)
    return doc


# --- files ----------------------------------------------------------------------------------
def _checked_name(raw: str) -> str:
    name = str(raw or "").strip().replace("\\", "/")
    path = PurePosixPath(name)

    def refuse(message):
        key = name or "(unnamed)"
        raise ImportParseError(f"{key}: {message}", errors={key: [f"{key}: {message}"]})

    if not name or path.is_absolute() or ".." in path.parts:
        refuse("a file name must be a relative path inside the workspace.")
    name = str(path)
    if "/" in name:
        if not name.endswith(MODULE_FILE_SUFFIXES):
            refuse(f"unsupported file type for a module file ({', '.join(MODULE_FILE_SUFFIXES)}).")
    elif not name.endswith((".tf", ".tf.json")):
        refuse("only .tf and .tf.json files can be imported (module files go in a subdirectory).")
    return name


def _parse_json(name: str, text: str) -> list[Block]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        where = f"line {exc.lineno}, column {exc.colno}" if hasattr(exc, "lineno") else "?"
        raise ImportParseError(f"{name}, {where}: {getattr(exc, 'msg', exc)}.",
                               errors={name: [f"{name}, {where}: {getattr(exc, 'msg', exc)}."]}) from None
    try:
        return [Block(file=name, line=0, end_line=0, keyword=kw, labels=tuple(labels), body=body)
                for kw, labels, body in iter_json_blocks(doc, where=name)]
    except InvalidCode as exc:
        raise ImportParseError(exc.message, errors={name: [exc.message]}) from None


_PARSER = None


def _lark_parser():
    """python-hcl2's grammar, without position propagation: the reader below takes lines and
    source text from the tokens, and not propagating positions saves a quarter of the parse."""
    global _PARSER
    if _PARSER is None:
        _PARSER = Lark.open("hcl2.lark", parser="lalr", rel_to=hcl2.parser.__file__, propagate_positions=False,
                            postlex=PostLexer(), cache=True)
    return _PARSER


def _parse_hcl(name: str, text: str, *, warnings: list | None = None) -> list[Block]:
    try:
        tree = _lark_parser().parse(text + "\n")  # the grammar wants a final newline (as python-hcl2 does)
    except LarkError as exc:
        message = f"{name}, {_describe_lark_error(exc)}"
        raise ImportParseError(message, errors={name: [message]}) from None
    except Exception as exc:  # the post-lexer's own checks raise plain errors
        message = f"{name}: {exc}"
        raise ImportParseError(message, errors={name: [message]}) from None
    reader = HclReader(name, text)
    lines = text.split("\n")
    blocks: list[Block] = []
    problems: list[str] = []
    for child in body_items(tree.children[0]):
        if child.data == "attribute":
            problems.append(f"{name}, line {first(child).line}: an attribute at the top level is "
                            "not valid Terraform; put it inside a block (locals, variable…).")
            continue
        try:
            blocks.append(_hcl_block(reader, child, lines, warnings))
        except (ImportParseError, InvalidCode) as exc:
            problems.append(exc.message)
    if problems:
        raise ImportParseError("; ".join(problems), errors={name: problems})
    return blocks


def _describe_lark_error(exc) -> str:
    line, column = getattr(exc, "line", "?"), getattr(exc, "column", "?")
    token = getattr(exc, "token", None)
    if token is not None:
        what = "unexpected end of file" if token.type == "$END" else f"unexpected {str(token).strip()[:40]!r}"
    elif getattr(exc, "char", None):
        what = f"unexpected character {exc.char!r}"
    else:
        what = str(exc).splitlines()[0][:200]
    expected = sorted(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or [])
    hint = f" (expected one of: {', '.join(expected[:8])}{'…' if len(expected) > 8 else ''})" if expected else ""
    return f"line {line}, column {column}: {what}{hint}"


def _hcl_block(reader, block, lines, warnings) -> Block:
    keyword, labels, body_tree = reader.block_parts(block)
    line, end_line = first(block).line, last(block).end_line
    where = f"{reader.name}, line {line}"
    if keyword not in LABEL_COUNTS:
        raise ImportParseError(f"{where}: unsupported block type {keyword!r}.")
    if len(labels) != LABEL_COUNTS[keyword]:
        raise ImportParseError(f"{where}: a {keyword} block takes {LABEL_COUNTS[keyword]} label(s), "
                               f"not {len(labels)}.")
    for label in labels if keyword != "provider" else ():
        if not IDENTIFIER.match(label):
            raise ImportParseError(f"{where}: {label!r} is not a valid name.")
    body = reader.body(body_tree, (keyword,))
    source: list = lines[line - 1:end_line]
    attribute_texts = {}
    if keyword == "locals":
        for child in body_items(body_tree):
            if child.data == "attribute":
                attribute_texts[reader.name_of(child.children[0])] = "\n".join(
                    lines[first(child).line - 1:last(child).end_line])
    if keyword == "terraform":
        dropped = []
        for child in body_items(body_tree):
            kind = reader.name_of(child.children[0])
            if child.data == "block" and kind in ("backend", "cloud"):
                body.pop(kind, None)
                dropped.append(kind)
                for i in range(first(child).line - line, last(child).end_line - line + 1):
                    source[i] = None
        for kind in dropped:
            if warnings is not None:
                warnings.append(f"{where}: the {kind!r} block was left out: the platform keeps the state itself.")
        source = [text for text in source if text is not None]
    return Block(file=reader.name, line=line, end_line=end_line, keyword=keyword,
                 labels=tuple(labels), body=body, text="\n".join(source), attribute_texts=attribute_texts,
                 comments=_comments_above(lines, line))


def _comments_above(lines: list[str], line: int) -> str:
    """The comment lines (# or //) just above ``line`` (1-based), up to a blank or other line."""
    start = line - 1
    while start > 0 and lines[start - 1].lstrip().startswith(("#", "//")):
        start -= 1
    return "\n".join(lines[start:line - 1])


def _refuse_duplicates(blocks: list[Block]) -> None:
    """Terraform refuses a name defined twice; say where both are instead of keeping one."""
    seen: dict[str, Block] = {}
    problems = []
    for block in blocks:
        if block.keyword in ("locals", "terraform", "moved", "import", "removed", "provider"):
            continue
        key = block.label
        if key in seen:
            problems.append(f"{key} is defined twice: {seen[key].where} and {block.where}.")
        else:
            seen[key] = block
    local_names: dict[str, Block] = {}
    for block in blocks:
        if block.keyword == "locals":
            for local in block.body:
                if local in local_names:
                    problems.append(f"local.{local} is defined twice: {local_names[local].where} and {block.where}.")
                local_names[local] = block
    if problems:
        raise ImportParseError("Nothing was imported: " + " ".join(problems), errors={"duplicates": problems})
