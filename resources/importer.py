"""Reading existing Terraform code (HCL ``.tf`` or ``.tf.json``) into blocks of Terraform JSON.

python-hcl2 (8.x) parses the HCL; its serialized form is close to Terraform JSON once
asked to strip string quotes, with these differences handled here:

* expressions come as ``"${expr}"`` strings — right for Terraform JSON (a string holding
  one interpolation evaluates to the value itself), except where Terraform wants a bare
  static expression: variable ``type``, ``depends_on``, lifecycle ``ignore_changes`` /
  ``replace_triggered_by``, ``provider``, module ``providers``, dynamic ``iterator``,
  ``moved``/``removed``/``import`` addresses. Those are unwrapped.
* blocks are lists of dicts marked ``__is_block__`` (labels as nested keys); they become
  an object (one unlabeled block), a list of objects (several), or a list of
  ``{label: body}`` (labeled nested blocks such as provisioners and ``dynamic``, whose
  order matters).
* heredocs stay as ``<<EOT ... EOT`` text; they become the string Terraform would build:
  the lines between the markers with their final newline, ``<<-`` trimming the common
  indentation.

Nothing here touches the database: ``parse_files`` returns blocks with the file and line
they came from, or raises ``ImportParseError`` naming every file, line and column at fault.
"""

import json
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from iacplatform.errors import DomainError
from resources.fragments import IDENTIFIER, LABEL_COUNTS, Address, InvalidCode, block_address, iter_json_blocks

MAX_FILES = 500
MAX_TOTAL_BYTES = 20 * 1024 * 1024
MODULE_FILE_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".tpl", ".json", ".sh", ".txt", ".yaml", ".yml")
HEREDOC = re.compile(r"\A<<(-?)([A-Za-z][A-Za-z0-9._-]*)\r?\n(.*?)^[ \t]*\2[ \t]*\Z", re.S | re.M)
HEREDOC_EMPTY = re.compile(r"\A<<(-?)([A-Za-z][A-Za-z0-9._-]*)\r?\n[ \t]*\2[ \t]*\Z")


class ImportParseError(DomainError):
    """Some input could not be read; ``errors`` maps each file to its problems."""


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
    for raw_name, text in files.items():
        try:
            name = _checked_name(raw_name)
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


# python-hcl2 needs ~2-4 s per 1,000 blocks in one process. A big file is cut between its
# top-level blocks and the pieces are parsed on every core. A cut in the wrong place (inside a
# heredoc or a comment) always leaves a piece that does not parse, and then the whole file is
# parsed in one go instead, so the result (and any error's line and column) never depends on it.
PARALLEL_MIN_BYTES = 64 * 1024
TOP_LEVEL_START = re.compile(r"^(resource|data|module|variable|output|locals|provider|terraform|moved|import|"
                             r"removed|check)\b")


def _split_top_level(text: str, pieces: int) -> list[tuple[int, str]]:
    """[(first line number - 1, text)] cut where a line "}" is followed by a top-level block."""
    lines = text.split("\n")
    cuts = [0]
    target = len(text) / pieces
    size = 0
    for i, line in enumerate(lines):
        size += len(line) + 1
        if size >= target * len(cuts) and line == "}" and i + 1 < len(lines):
            nxt = i + 1
            while nxt < len(lines) and not lines[nxt].strip():
                nxt += 1
            if nxt < len(lines) and TOP_LEVEL_START.match(lines[nxt]) and len(cuts) < pieces:
                cuts.append(i + 1)
    cuts.append(len(lines))
    return [(start, "\n".join(lines[start:end])) for start, end in zip(cuts, cuts[1:]) if start < end]


def _parse_piece(args):
    name, offset, piece = args
    warnings: list[str] = []
    blocks = _parse_hcl_here(name, piece, warnings=warnings, line_offset=offset)
    return blocks, warnings


def _parse_workers() -> int:
    """Processes for one big file: settings.IAC_IMPORT_PARSE_PROCESSES if set (1 turns it off), else the cores."""
    from django.conf import settings

    configured = getattr(settings, "IAC_IMPORT_PARSE_PROCESSES", None)
    return max(1, int(configured)) if configured else (os.cpu_count() or 1)


def _parse_hcl(name: str, text: str, *, warnings: list | None = None) -> list[Block]:
    workers = _parse_workers()
    if len(text) >= PARALLEL_MIN_BYTES and workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        pieces = _split_top_level(text, workers)
        if len(pieces) > 1:
            import hcl2.parser

            hcl2.parser.parser()  # load the grammar once, before forking
            try:
                with ProcessPoolExecutor(max_workers=len(pieces),
                                         mp_context=multiprocessing.get_context("fork")) as pool:
                    results = list(pool.map(_parse_piece, [(name, offset, piece) for offset, piece in pieces]))
            except (ImportParseError, BrokenProcessPool, OSError):
                pass  # parse the whole file in one go: exact errors, no dependence on the cut
            else:
                blocks = []
                for piece_blocks, piece_warnings in results:
                    blocks.extend(piece_blocks)
                    if warnings is not None:
                        warnings.extend(piece_warnings)
                return blocks
    return _parse_hcl_here(name, text, warnings=warnings)


def _parse_hcl_here(name: str, text: str, *, warnings: list | None = None, line_offset: int = 0) -> list[Block]:
    import hcl2
    from hcl2.rules.base import AttributeRule, BlockRule
    from lark.exceptions import LarkError

    try:
        tree = hcl2.parses(text, discard_comments=True)
    except LarkError as exc:
        message = f"{name}, {_describe_lark_error(exc)}"
        raise ImportParseError(message, errors={name: [message]}) from None
    except Exception as exc:  # the parser's own checks (heredoc, escapes) raise plain errors
        message = f"{name}: {exc}"
        raise ImportParseError(message, errors={name: [message]}) from None
    lines = text.splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    for child in tree.body.children:
        meta = getattr(child, "_meta", None)
        line = getattr(meta, "line", 0) or 0
        end_line = getattr(meta, "end_line", line) or line
        if isinstance(child, AttributeRule):
            problems.append(f"{name}, line {line}: an attribute at the top level is not valid Terraform; "
                            "put it inside a block (locals, variable…).")
            continue
        if not isinstance(child, BlockRule):
            continue
        try:
            blocks.append(_hcl_block(name, child, line, end_line, lines, warnings, line_offset))
        except (ImportParseError, InvalidCode) as exc:
            problems.append(exc.message)
        except Exception as exc:  # python-hcl2 serialization refusing the block
            problems.append(f"{name}, line {line}: {exc}")
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


def _hcl_block(name, block_rule, line, end_line, lines, warnings, offset: int = 0) -> Block:
    from hcl2.rules.base import BlockRule
    from hcl2.utils import SerializationOptions

    options = SerializationOptions(with_comments=False, strip_string_quotes=True, preserve_heredocs=True)
    keyword, *labels = [str(label.serialize(options)) for label in block_rule.labels]
    where = f"{name}, line {line + offset}"
    if keyword not in LABEL_COUNTS:
        raise ImportParseError(f"{where}: unsupported block type {keyword!r}.")
    if len(labels) != LABEL_COUNTS[keyword]:
        raise ImportParseError(f"{where}: a {keyword} block takes {LABEL_COUNTS[keyword]} label(s), "
                               f"not {len(labels)}.")
    for label in labels if keyword != "provider" else ():
        if not IDENTIFIER.match(label):
            raise ImportParseError(f"{where}: {label!r} is not a valid name.")
    body = convert_body(block_rule.body.serialize(options), (keyword,))
    source = lines[line - 1:end_line] if line else []
    attribute_texts = {}
    if keyword == "locals":
        from hcl2.rules.base import AttributeRule

        for child in block_rule.body.children:
            if isinstance(child, AttributeRule) and child._meta and not child._meta.empty:
                attribute_texts[str(child.identifier.serialize(options))] = "\n".join(
                    lines[child._meta.line - 1:child._meta.end_line])
    if keyword == "terraform":
        dropped = []
        for child in block_rule.body.children:
            if isinstance(child, BlockRule) and str(child.labels[0].serialize(options)) in ("backend", "cloud"):
                kind = str(child.labels[0].serialize(options))
                body.pop(kind, None)
                dropped.append(kind)
                meta = child._meta
                for i in range(meta.line - line, meta.end_line - line + 1):
                    source[i] = None
        for kind in dropped:
            if warnings is not None:
                warnings.append(f"{where}: the {kind!r} block was left out: the platform keeps the state itself.")
        source = [text for text in source if text is not None]
    return Block(file=name, line=line + offset, end_line=end_line + offset, keyword=keyword, labels=tuple(labels),
                 body=body, text="\n".join(source), attribute_texts=attribute_texts)


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


# --- python-hcl2's dict → Terraform JSON ----------------------------------------------------
META_KEYS = ("__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__")


def convert_body(raw: dict, path: tuple) -> dict:
    out = {}
    for key, value in raw.items():
        if key in META_KEYS:
            continue
        if _is_block_list(value):
            out[key] = _convert_blocks(value, (*path, key))
        else:
            out[key] = _convert_attribute(key, value, path)
    return out


def _is_block_like(item) -> bool:
    if not isinstance(item, dict):
        return False
    if item.get("__is_block__") is True:
        return True
    return len(item) == 1 and _is_block_like(next(iter(item.values())))


def _is_block_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_block_like(item) for item in value)


def _convert_blocks(items: list, path: tuple):
    if all(item.get("__is_block__") is True for item in items):
        bodies = [convert_body(item, path) for item in items]
        return bodies[0] if len(bodies) == 1 else bodies
    converted = []
    for item in items:
        converted.append(_convert_labeled(item, path))
    return converted


def _convert_labeled(item: dict, path: tuple) -> dict:
    if item.get("__is_block__") is True:
        return convert_body(item, path)
    label, inner = next(iter(item.items()))
    return {label: _convert_labeled(inner, path)}


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
    return _value(value)


def _value(value):
    if isinstance(value, str):
        return _heredoc(value) if value.startswith("<<") else value
    if isinstance(value, list):
        return [_value(item) for item in value]
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items() if k not in META_KEYS}
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
