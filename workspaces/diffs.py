"""Line diffs of two texts (diff-match-patch), as rows a dumb template can draw.

``text_diff(old, new)`` returns a ``TextDiff``: counts, the unified rows and the
side-by-side rows. Unchanged runs longer than twice the context are folded into one
row that says how many lines it hides. ``templates/workspaces/_diff.html`` renders it.
"""

from dataclasses import dataclass, field
from functools import cached_property
from itertools import zip_longest

from diff_match_patch import diff_match_patch

EQUAL, INSERT, DELETE = 0, 1, -1
DEFAULT_CONTEXT = 3


@dataclass(frozen=True)
class Row:
    """One unified row: kind is "eq", "ins", "del" or "fold" (then ``count`` lines hidden)."""

    kind: str
    old: int | None = None
    new: int | None = None
    text: str = ""
    count: int = 0

    @property
    def sign(self) -> str:
        return {"ins": "+", "del": "-"}.get(self.kind, " ")


@dataclass(frozen=True)
class Cell:
    kind: str  # "eq", "ins", "del" or "blank"
    number: int | None = None
    text: str = ""


@dataclass(frozen=True)
class SplitRow:
    """One side-by-side row; a fold row has ``kind == "fold"`` and no cells."""

    kind: str  # "eq", "change" or "fold"
    left: Cell | None = None
    right: Cell | None = None
    count: int = 0


@dataclass
class _Hunk:
    kind: str  # "eq" or "change"
    old: list = field(default_factory=list)  # [(number, text)]
    new: list = field(default_factory=list)


def _hunks(old: str, new: str) -> list[_Hunk]:
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 2.0  # seconds; a huge diff degrades to a coarser one, never hangs
    chars_old, chars_new, line_array = dmp.diff_linesToChars(old, new)
    diffs = dmp.diff_main(chars_old, chars_new, False)
    hunks: list[_Hunk] = []
    old_no = new_no = 0
    for op, chars in diffs:
        lines = [line_array[ord(c)].rstrip("\n") for c in chars]
        if op == EQUAL:
            hunk = _Hunk("eq")
            for text in lines:
                old_no += 1
                new_no += 1
                hunk.old.append((old_no, text))
                hunk.new.append((new_no, text))
            hunks.append(hunk)
            continue
        if not hunks or hunks[-1].kind != "change":
            hunks.append(_Hunk("change"))
        for text in lines:
            if op == DELETE:
                old_no += 1
                hunks[-1].old.append((old_no, text))
            else:
                new_no += 1
                hunks[-1].new.append((new_no, text))
    return hunks


def _visible(length: int, first: bool, last: bool, context: int | None) -> tuple[int, int]:
    """How many lines of an unchanged run to show at its start and at its end."""
    if context is None:
        return length, 0
    head = 0 if first else context
    tail = 0 if last else context
    if head + tail + 1 >= length:  # folding one line saves nothing
        return length, 0
    return head, tail


@dataclass
class TextDiff:
    hunks: list
    context: int | None = DEFAULT_CONTEXT  # None: show every line

    @cached_property
    def added(self) -> int:
        return sum(len(h.new) for h in self.hunks if h.kind == "change")

    @cached_property
    def removed(self) -> int:
        return sum(len(h.old) for h in self.hunks if h.kind == "change")

    @property
    def identical(self) -> bool:
        return not any(h.kind == "change" for h in self.hunks)

    def _runs(self):
        """(hunk, head, tail) for equal runs, (hunk, None, None) for changes."""
        last_index = len(self.hunks) - 1
        for i, hunk in enumerate(self.hunks):
            if hunk.kind == "eq":
                yield hunk, *_visible(len(hunk.old), i == 0, i == last_index, self.context)
            else:
                yield hunk, None, None

    @cached_property
    def unified(self) -> list[Row]:
        rows: list[Row] = []
        for hunk, head, tail in self._runs():
            if hunk.kind == "change":
                rows.extend(Row("del", old=n, text=t) for n, t in hunk.old)
                rows.extend(Row("ins", new=n, text=t) for n, t in hunk.new)
                continue
            pairs = list(zip(hunk.old, hunk.new))
            rows.extend(Row("eq", old=o[0], new=n[0], text=o[1]) for o, n in pairs[:head])
            hidden = len(pairs) - head - tail
            if hidden > 0:
                rows.append(Row("fold", old=pairs[head][0][0], new=pairs[head][1][0], count=hidden))
                rows.extend(Row("eq", old=o[0], new=n[0], text=o[1]) for o, n in pairs[len(pairs) - tail:])
        return rows

    @cached_property
    def split(self) -> list[SplitRow]:
        rows: list[SplitRow] = []
        for hunk, head, tail in self._runs():
            if hunk.kind == "change":
                for left, right in zip_longest(hunk.old, hunk.new):
                    rows.append(SplitRow(
                        "change",
                        left=Cell("del", *left) if left else Cell("blank"),
                        right=Cell("ins", *right) if right else Cell("blank"),
                    ))
                continue
            pairs = list(zip(hunk.old, hunk.new))
            eq = [SplitRow("eq", left=Cell("eq", *o), right=Cell("eq", *n)) for o, n in pairs]
            hidden = len(pairs) - head - tail
            if hidden > 0:
                rows.extend(eq[:head])
                rows.append(SplitRow("fold", count=hidden))
                rows.extend(eq[len(eq) - tail:])
            else:
                rows.extend(eq)
        return rows

    def as_json(self) -> list[dict]:
        """The unified rows for the API."""
        out = []
        for row in self.unified:
            if row.kind == "fold":
                out.append({"kind": "fold", "old": row.old, "new": row.new, "count": row.count})
            else:
                out.append({"kind": row.kind, "old": row.old, "new": row.new, "text": row.text})
        return out


def text_diff(old: str, new: str, *, context: int | None = DEFAULT_CONTEXT) -> TextDiff:
    return TextDiff(_hunks(old or "", new or ""), context=context)
