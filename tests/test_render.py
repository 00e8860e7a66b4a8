import os
import re

import numpy as np
import pytest

from wellposed.audit import audit_family
from wellposed.errors import WellposedInputError
from wellposed.gate import ClaimResult
from wellposed.render import render_families, render_json, render_markdown, write_reports

R = ClaimResult("S7", "t | x", "src", "refuted", "refuted", True, True, "sum", "f", {"k": 1.5})


def test_markdown_escapes_and_header():
    md = render_markdown([R], seed=3)
    assert md.startswith("<!-- generated") and "t \\| x" in md and "seed 3" in md


def test_atomic_write_leaves_nothing_on_error(tmp_path, monkeypatch):
    (tmp_path / "claims.md").write_text("old")
    real = os.replace
    calls = []

    def boom(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(WellposedInputError):
        write_reports([R], seed=0, report_dir=tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # the first rename succeeded before the failure: it is rolled back, not left half-done
    assert (tmp_path / "claims.md").read_text() == "old"
    assert not (tmp_path / "claims.json").exists()


def test_json_twin_has_required_keys():
    assert '"ok": true' in render_json([R], seed=0)


LONG = ClaimResult(
    "S9",
    "Fix sigma* > 0, let lambda grow: unbounded",
    "seed thread, comment",
    "conditional(identity_decoder=bounded, constant_decoder=unbounded)",
    "conditional(identity_decoder=bounded, constant_decoder=unbounded)",
    True,
    True,
    "slope 0.5 per log lambda; " + "a long sentence " * 20,
    "1/2 per unit log lambda; ELBO <= -(1/2) log 2pi",
    {"k": 1.5},
)


def test_claims_table_is_narrow_and_the_long_cells_sit_in_details():
    md = render_markdown([R, LONG], seed=0)
    table = [line for line in md.splitlines() if line.startswith("|")]
    lines = md.splitlines()
    # a table wider than 160 characters is split over its columns, each part keyed by id
    heads = [
        i for i, line in enumerate(lines) if line.startswith("|") and lines[i + 1].startswith("|--")
    ]
    columns = {}
    for h in heads:
        names = [c.strip() for c in lines[h].split("|")[1:-1]]
        rows = [[c.strip() for c in lines[j].split("|")[1:-1]] for j in (h + 2, h + 3)]
        columns.update({n: [r[k] for r in rows] for k, n in enumerate(names)})
    assert list(columns) == [
        "id",
        "claim",
        "ledger",
        "observed",
        "attained",
        "lines",
        "certified",
        "ok",
    ]
    # the observed verdict is not repeated when it is the ledger's
    assert columns["observed"][1] == "as expected"
    # a result without a certification record (--no-certify) says so
    assert columns["certified"] == ["not run", "not run"]
    assert max(map(len, table)) <= 160 and "a long sentence" not in "".join(table)
    assert "S9: Fix sigma\\* > 0" not in md  # the summary is HTML-escaped
    prose = [line for line in md.splitlines() if not line.startswith("|")]
    assert max(map(len, prose)) <= 120  # prose wrapped (docs/design.md, "Reports")
    block = md[md.index("<details><summary>\nS9") :]
    block = block[: block.index("</details>")]
    for text in (
        "seed thread, comment",
        "`1/2 per unit log lambda; ELBO <= -(1/2) log 2pi`",
        "a long sentence a long",
        "conditional(identity\\_decoder=bounded",
    ):
        assert text in block, text


def test_families_report_has_grid_narrow_table_and_details():
    audits = [
        audit_family("continuous_bernoulli", np.array([0.0, 0.4])),
        audit_family("softclip_gaussian", np.array([0.2])),
    ]
    md = render_families(audits, seed=0)
    assert "families-verdicts.png" not in md  # the verdicts are a table, not a picture
    table = [line for line in md.splitlines() if line.startswith("|")]
    grid, summary = table[:4], table[4:]
    assert grid[0].startswith("| family") and "data case 1" in grid[0]
    assert "**unbounded at 1 of 2**" in grid[2] and "**bounded**" in grid[3]
    # the summary is wider than 160 characters on one table: split over its columns, each
    # part repeating the family column
    assert summary[0].startswith("| family") and len(summary) % 4 == 0
    assert all(line.startswith("| ") for line in summary[::4][1:]) and len(summary) >= 8
    assert max(map(len, table)) <= 200
    assert md.count("<details>") == 2 and "torch implementation behaviour:** " in md
    assert render_families(audits, seed=0) == md


def test_failed_write_leaves_no_figure_directory(tmp_path, monkeypatch):
    def boom(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(WellposedInputError):
        write_reports(
            [LONG],
            seed=0,
            report_dir=tmp_path,
            families=[audit_family("softclip_gaussian", np.array([0.2]))],
        )
    assert list(tmp_path.iterdir()) == []


def _attainment(gaps: list[float], strict: str | None) -> object:
    from wellposed.evidence import check_attained, check_tightness

    tight = check_tightness(1.0, [1.0, 2.0, 3.0], [1.0 - g for g in gaps], tol=1e-3)
    return check_attained(tight, case="the bound", strict=strict)


def _column(md, name):
    """``{id: cell}`` of column ``name`` of the claims table (split or not)."""
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| id") and lines[i + 1].startswith("|--"):
            names = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if name in names:
                k = names.index(name)
                rows = [
                    re.split(r"(?<!\\)\|", r)[1:-1] for r in lines[i + 2 :] if r.startswith("| ")
                ]
                rows = rows[
                    : next(
                        (j for j, r in enumerate(lines[i + 2 :]) if not r.startswith("|")),
                        len(rows),
                    )
                ]
                return {r[0].strip(): r[k].strip() for r in rows}
    raise AssertionError(f"no column {name!r}")


def test_attained_is_shown_next_to_every_bounded_verdict():
    """``no`` / ``yes`` from the evidence, per bounded condition, ``unknown`` where a bounded
    claim computed none, and blank for verdicts that are not bounded."""
    no = ClaimResult(
        "S5",
        "bern",
        "src",
        "bounded",
        "bounded",
        True,
        True,
        "",
        "f",
        {"attained": _attainment([1.0, 0.1, 1e-4], "sigmoid < 1")},
    )
    yes = ClaimResult(
        "L7",
        "gmm",
        "src",
        "conditional(unconstrained=unbounded, floor=bounded)",
        "conditional(unconstrained=unbounded, floor=bounded)",
        True,
        True,
        "",
        "f",
        {"attained": {"floor": _attainment([1.0, 0.1, 0.0], None)}},
    )
    none = ClaimResult("F4", "bce", "src", "bounded", "bounded", True, True, "", "f", {})
    md = render_markdown([R, no, yes, none, LONG], seed=0)
    rows = _column(md, "attained")
    assert rows["S7"] == "" and rows["S5"] == "no" and rows["L7"] == "yes"
    assert rows["F4"] == "unknown" and rows["S9"] == "unknown"
    assert "**attained:** no: the bound" in md and "sigmoid \\< 1" in md
    assert "**attained (floor):** yes" in md and "*well-posed* means *bounded above*" in md
