"""The hosted CI runs nox sessions that exist, and every session CI is meant to run."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
#: the sessions a pull request must pass (the others are run by hand or on a schedule)
IN_CI = {
    "lint",
    "tests_pythons",
    "tests_lowest",
    "properties",
    "portability",
    "training",
    "sdist",
    "docs",
    "cluster",
}


def _sessions() -> set[str]:
    """Names of the functions decorated with ``@nox.session`` in noxfile.py."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    return {
        f.name
        for f in tree.body
        if isinstance(f, ast.FunctionDef)
        and any("nox.session" in ast.unparse(d) for d in f.decorator_list)
    }


def test_every_ci_job_runs_an_existing_nox_session_and_ci_runs_them_all() -> None:
    if not WORKFLOW.is_file():
        pytest.skip("no .github/ here (an unpacked sdist carries no CI files)")
    text = WORKFLOW.read_text(encoding="utf-8")
    called = {
        re.sub(r"-\$\{\{.*?\}\}$", "", name)
        for name in re.findall(r"^\s*- run: nox -s (.+?)\s*$", text, re.MULTILINE)
    }
    assert called <= _sessions(), called - _sessions()
    assert called == IN_CI
    matrix = re.search(r"python: \[(.*?)\]", text)
    assert matrix is not None
    pythons = re.findall(r'"([\d.]+)"', matrix.group(1))
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    declared = re.search(r"^PYTHONS = \[(.*?)\]", noxfile, re.MULTILINE)
    assert declared is not None and pythons == re.findall(r'"([\d.]+)"', declared.group(1))
