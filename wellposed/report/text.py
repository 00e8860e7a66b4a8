"""Report text: one number formatter, one markdown table helper and one prose wrapper.

The width policy of every report (docs/design.md, "Reports"): prose is wrapped at
:data:`PROSE_WIDTH` (120) characters; a table wider than :data:`TABLE_WIDTH` (160) is split
into several tables over its columns, each repeating the key column(s), rather than printed
wider (a single cell longer than that stays whole).  Numbers print with :func:`fmt_number`:
6 significant digits (the rounding of :mod:`wellposed.evidence.records`), non-finite values
spelled as in the JSON.
"""

from __future__ import annotations

import itertools
import math
import re
import textwrap
from collections.abc import Sequence

from tabulate import tabulate

__all__ = ["PROSE_WIDTH", "TABLE_WIDTH", "cell", "fmt_number", "markdown_table", "wrap"]

#: the longest line of prose in a report
PROSE_WIDTH = 120
#: the widest table a report prints before splitting it over its columns
TABLE_WIDTH = 160
#: at most this many ways to cut a wide table are compared (else the greedy cut is kept)
_MAX_SPLITS = 200


def fmt_number(x: float | None, sig: int = 6, *, compact: bool = False) -> str:
    """Short display of a number: ``sig`` significant digits, ``"inf"`` / ``"-inf"`` /
    ``"nan"`` spelled as in the JSON, ``""`` for None.  ``compact`` (the training tables):
    None and NaN as ``-``, ``-0`` as ``0``, exponents without a leading zero (``1e-5``)."""
    if x is None or (compact and math.isnan(x)):
        return "-" if compact else ""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = f"{x:.{sig}g}"
    if compact:
        return "0" if text in ("-0", "0") else text.replace("e+0", "e").replace("e-0", "e-")
    return text


def cell(text: object) -> str:
    """A markdown table cell: ``|`` escaped, newlines as spaces, floats by
    :func:`fmt_number`."""
    shown = fmt_number(text) if isinstance(text, float) else str(text)
    return shown.replace("|", "\\|").replace("\n", " ")


def _github(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    text: str = tabulate(
        [list(r) for r in rows], headers=list(headers), tablefmt="github", disable_numparse=True
    )
    return text


def _width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _groups(
    rows: Sequence[Sequence[str]], headers: Sequence[str], keys: int, max_width: int
) -> list[list[int]]:
    """Column indices per table: as few tables as the greedy fill needs (columns added while
    the rendered table stays within ``max_width``; a column too wide on its own gets a table
    of its own), then, among the cuts into that many tables of at least two columns each, the
    one whose widest table is narrowest (so a split does not leave one wide table beside a
    sliver); the greedy cut where no such cut fits."""

    def width(cols: Sequence[int]) -> int:
        picked = list(range(keys)) + list(cols)
        return _width(_github([[r[j] for j in picked] for r in rows], [headers[j] for j in picked]))

    rest = list(range(keys, len(headers)))
    greedy: list[list[int]] = [[]]
    for j in rest:
        if greedy[-1] and width([*greedy[-1], j]) > max_width:
            greedy.append([])
        greedy[-1].append(j)
    cuts = list(itertools.combinations(range(1, len(rest)), len(greedy) - 1))
    if len(greedy) == 1 or len(cuts) > _MAX_SPLITS:
        return greedy
    best, best_width = greedy, max_width + 1
    for cut in cuts:
        bounds = [0, *cut, len(rest)]
        groups = [rest[a:b] for a, b in itertools.pairwise(bounds)]
        if min(map(len, groups)) < 2:  # a lone column reads badly on its own
            continue
        widest = max(width(g) for g in groups)
        if widest < best_width:
            best, best_width = groups, widest
    return best


def markdown_table(
    rows: Sequence[Sequence[object]],
    headers: Sequence[str],
    *,
    max_width: int = TABLE_WIDTH,
    keys: int = 1,
) -> str:
    """A GitHub markdown table (cells by :func:`cell`); wider than ``max_width``, it is split
    into tables over its columns, each repeating the first ``keys`` columns."""
    cells = [[cell(v) for v in row] for row in rows]
    heads = [cell(h) for h in headers]
    text = _github(cells, heads)
    if _width(text) <= max_width or len(heads) <= keys + 1:
        return text
    parts = []
    for group in _groups(cells, heads, keys, max_width):
        cols = list(range(keys)) + group
        parts.append(_github([[r[j] for j in cols] for r in cells], [heads[j] for j in cols]))
    return "\n\n".join(parts)


#: a space before this would let a continuation line start as a markdown list, quote or heading
_BEFORE_MARKER = re.compile(r" (?=(?:[-*+>#|]|\d+[.)])(?:\s|$))")
_GLUE = "\x00"  # a space the wrapper may not break at


def wrap(text: str, width: int = PROSE_WIDTH, *, indent: str = "") -> str:
    """``text`` as markdown lines of at most ``width`` characters (words kept whole;
    continuation lines indented by ``indent``, e.g. under a bullet).  No line is broken
    before a list, quote or heading marker (``- x``, ``1. x``, ``# x``): the word before it
    moves down with it."""
    glued = _BEFORE_MARKER.sub(_GLUE, text)
    lines = textwrap.wrap(
        glued, width=width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(lines).replace(_GLUE, " ")
