import os

import pytest

from wellposed.gate import ClaimResult
from wellposed.errors import WellposedInputError
from wellposed.render import render_json, render_markdown, write_reports

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
