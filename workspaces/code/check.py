"""Check a workspace's Terraform code before it is saved: HCL or Terraform JSON.

Every problem names its line and column, so the editor can point at it. Nothing here
touches the database; ``workspaces.versions.code_save`` calls it before saving.
"""

import json
import re
from dataclasses import dataclass

import hcl2
from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from iacplatform.errors import DomainError

AUTO, HCL, JSON = "auto", "hcl", "json"
FORMATS = (AUTO, HCL, JSON)

# Block types Terraform accepts at the top level of a configuration (1.15), plus the
# comment key "//" of the JSON syntax.
TOP_LEVEL_BLOCKS = frozenset({
    "terraform", "provider", "variable", "locals", "output", "module", "resource", "data",
    "moved", "import", "check", "removed", "ephemeral", "action", "list",
})

# What lark's terminal names mean to someone writing HCL.
_TOKEN_NAMES = {
    "RBRACE": "'}'", "LBRACE": "'{'", "RSQB": "']'", "LSQB": "'['", "RPAR": "')'", "LPAR": "'('",
    "EQ": "'='", "COLON": "':'", "COMMA": "','", "DBLQUOTE": "'\"'", "NAME": "a name",
    "INT_LITERAL": "a number", "FLOAT_LITERAL": "a number", "STRING_CHARS": "text",
    "NL_OR_COMMENT": "a new line", "$END": "the end of the file",
}


@dataclass(frozen=True)
class CodeProblem:
    line: int
    column: int
    reason: str

    def __str__(self):
        return f"line {self.line}, column {self.column}: {self.reason}"


class InvalidCode(DomainError):
    """The code does not parse (or is not a Terraform configuration); nothing was saved."""

    def __init__(self, problem: CodeProblem, *, code_format: str):
        label = "HCL" if code_format == HCL else "Terraform JSON"
        super().__init__(f"The code is not valid {label}: {problem}", errors={"code": [str(problem)]})
        self.problem = problem
        self.code_format = code_format


def detect_format(code: str) -> str:
    """HCL never starts with '{' or '['; Terraform JSON does."""
    return JSON if code.lstrip()[:1] in ("{", "[") else HCL


def check_code(code: str, code_format: str = AUTO) -> str:
    """Validate ``code``; return its format ("hcl" or "json"). Raises InvalidCode."""
    if code_format not in FORMATS:
        raise DomainError(
            f"Unknown code format {code_format!r}: use one of {', '.join(FORMATS)}.",
            errors={"code_format": [f"Use one of {', '.join(FORMATS)}."]},
        )
    fmt = detect_format(code) if code_format == AUTO else code_format
    if not code.strip():
        hint = "{}" if fmt == JSON else "a block, e.g. resource \"terraform_data\" \"x\" {}"
        raise InvalidCode(CodeProblem(1, 1, f"The code is empty: write at least {hint}."), code_format=fmt)
    if fmt == JSON:
        _check_json(code)
    else:
        _check_hcl(code)
    return fmt


# --- JSON -------------------------------------------------------------------------------
def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _check_json(code: str) -> None:
    try:
        data = json.loads(code)
    except json.JSONDecodeError as exc:
        raise InvalidCode(CodeProblem(exc.lineno, exc.colno, exc.msg + "."), code_format=JSON) from None
    if not isinstance(data, dict):
        raise InvalidCode(
            CodeProblem(1, 1, "Terraform JSON must be an object ({…}) at the top level."), code_format=JSON
        )
    for key, value in data.items():
        if key == "//":
            continue
        if key not in TOP_LEVEL_BLOCKS:
            match = re.search(r'"' + re.escape(json.dumps(key)[1:-1]) + r'"\s*:', code)
            line, column = _position(code, match.start()) if match else (1, 1)
            raise InvalidCode(CodeProblem(line, column, _unknown_block(key)), code_format=JSON)
        if key != "locals" and not isinstance(value, (dict, list)):
            match = re.search(r'"' + re.escape(key) + r'"\s*:', code)
            line, column = _position(code, match.start()) if match else (1, 1)
            raise InvalidCode(
                CodeProblem(line, column, f"'{key}' must be an object or a list of objects."), code_format=JSON
            )


def _unknown_block(name: str) -> str:
    return (f"Unknown top-level block type {name!r}; Terraform expects one of "
            f"{', '.join(sorted(TOP_LEVEL_BLOCKS - {'action', 'list'}))}.")


# --- HCL --------------------------------------------------------------------------------
_VALUE_TOKENS = frozenset({"INT_LITERAL", "FLOAT_LITERAL", "DBLQUOTE", "LBRACE", "LSQB", "NAME",
                           "TEMPLATE_STRING", "HEREDOC_TEMPLATE", "HEREDOC_TEMPLATE_TRIM", "MINUS", "NOT",
                           "LPAR", "TRUE", "FALSE", "NULL"})


def _expected(names) -> str:
    names = set(names or ())
    friendly = set()
    if len(names & _VALUE_TOKENS) >= 3:
        friendly.add("a value")
        names -= _VALUE_TOKENS
    friendly |= {_TOKEN_NAMES[n] for n in names if n in _TOKEN_NAMES}
    return "; expected " + " or ".join(sorted(friendly)) if friendly else ""


def _hcl_problem(exc: UnexpectedInput, code: str) -> CodeProblem:
    line = getattr(exc, "line", None)
    column = getattr(exc, "column", None)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END" or line in (None, -1):
            lines = code.split("\n")
            line, column = len(lines), len(lines[-1]) + 1
            return CodeProblem(line, column, "Unexpected end of the file (is a '}' or a closing quote missing?).")
        text = str(token).split("\n", 1)[0][:20]
        what = f"{text!r}" if text.strip() else "end of line"
        return CodeProblem(line, column, f"Unexpected {what}" + _expected(exc.expected) + ".")
    if isinstance(exc, UnexpectedCharacters):
        char = code[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(code) else "?"
        return CodeProblem(line, column, f"Unexpected character {char!r}" + _expected(exc.allowed) + ".")
    if isinstance(exc, UnexpectedEOF):
        lines = code.split("\n")
        return CodeProblem(len(lines), len(lines[-1]) + 1,
                           "Unexpected end of the file (is a '}' or a closing quote missing?).")
    return CodeProblem(line or 1, column or 1, str(exc).split("\n", 1)[0])


def _check_hcl(code: str) -> None:
    try:
        tree = hcl2.parses_to_tree(code)
        # Building the dict catches what the grammar lets through (bad escapes, …).
        hcl2.loads(code)
    except UnexpectedInput as exc:
        raise InvalidCode(_hcl_problem(exc, code), code_format=HCL) from None
    except LarkError as exc:
        line = getattr(getattr(exc, "orig_exc", None), "line", None) or 1
        reason = str(getattr(exc, "orig_exc", None) or exc).split("\n", 1)[0]
        raise InvalidCode(CodeProblem(line, 1, reason), code_format=HCL) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidCode(CodeProblem(1, 1, str(exc).split("\n", 1)[0] or type(exc).__name__),
                          code_format=HCL) from None
    body = next((c for c in tree.children if isinstance(c, Tree) and c.data == "body"), None)
    for node in body.children if body is not None else ():
        if not isinstance(node, Tree) or node.data not in ("block", "attribute"):
            continue
        name = _identifier(node)
        line, column = (node.meta.line, node.meta.column) if not node.meta.empty else (1, 1)
        if node.data == "attribute":
            raise InvalidCode(CodeProblem(line, column, (
                f"An argument ({name} = …) is not allowed at the top level; "
                "put it inside a block such as locals { … }.")), code_format=HCL)
        if name not in TOP_LEVEL_BLOCKS:
            raise InvalidCode(CodeProblem(line, column, _unknown_block(name)), code_format=HCL)


def _identifier(node: Tree) -> str:
    first = node.children[0] if node.children else ""
    if isinstance(first, Tree):
        first = first.children[0] if first.children else ""
    return str(first.value if isinstance(first, Token) else first)
