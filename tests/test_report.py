"""The output layer: the width policy of tables and prose, the number formatter, atomic files."""

from __future__ import annotations

import math
import re

import pytest

from wellposed.report import fmt_number, markdown_table, wrap, write_files, write_text


def test_a_wide_table_is_split_over_its_columns_repeating_the_key() -> None:
    rows = [[f"r{i}", "a" * 70, "b" * 70, "c" * 10, "d" * 10] for i in range(3)]
    text = markdown_table(rows, ["id", "long a", "long b", "c", "d"])
    tables = text.split("\n\n")
    assert len(tables) == 2 and all(max(map(len, t.splitlines())) <= 160 for t in tables)
    assert all(t.startswith("| id ") for t in tables)
    # every cell is in exactly one part, and no part is a lone column beside the key
    heads = [[c.strip() for c in t.splitlines()[0].split("|")[2:-1]] for t in tables]
    assert sorted(h for part in heads for h in part) == ["c", "d", "long a", "long b"]
    assert min(map(len, heads)) >= 2
    narrow = markdown_table([["x", 1.5, math.inf]], ["id", "v", "w"])
    assert "\n\n" not in narrow and "| 1.5 " in narrow and "| inf " in narrow


def test_cells_are_escaped_once() -> None:
    assert "a \\| b" in markdown_table([["a | b"]], ["h"])


@pytest.mark.parametrize("width", [30, 60, 120])
def test_prose_is_wrapped_and_never_opens_a_list(width: int) -> None:
    text = ("word " * 40 + "x - y and 2. z # h > q " + "more " * 40).strip()
    lines = wrap(text, width, indent="  ").splitlines()
    assert max(map(len, lines)) <= width and len(lines) > 1
    assert not any(re.match(r"^\s*([-*+>#]|\d+[.)])\s", line) for line in lines[1:])
    assert " ".join(line.strip() for line in lines) == text


def test_numbers_print_as_the_json_rounds_them() -> None:
    assert fmt_number(1 / 3) == "0.333333" and fmt_number(None) == ""
    assert fmt_number(-math.inf) == "-inf" and fmt_number(math.nan) == "nan"
    assert fmt_number(-1e-12, 3, compact=True) == "-1e-12" and fmt_number(None, compact=True) == "-"
    assert fmt_number(2.5e-05, 3, compact=True) == "2.5e-5"


def test_files_are_written_all_or_nothing(tmp_path) -> None:
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    write_text(a, "old a\n")
    with pytest.raises(FileNotFoundError):  # the second target's directory is missing
        write_files({a: b"new a\n", tmp_path / "missing" / "b.md": b"x"})
    assert a.read_text() == "old a\n" and sorted(p.name for p in tmp_path.iterdir()) == ["a.md"]
    write_files({a: b"new a\n", b: b"b\n"}, remove=())
    assert a.read_text() == "new a\n" and b.read_text() == "b\n"
    write_files({b: b"b2\n"}, remove=[a])
    assert not a.exists() and b.read_text() == "b2\n"
