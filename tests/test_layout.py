"""The package layout: one job per module, imports only downwards, a claim is one function."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PKG = Path(__file__).parents[1] / "wellposed"
MODULES = sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)

# the flow, bottom to top: a module may import only from its own layer or a lower one
LAYERS = {
    "errors": 0,
    "numerics": 0,
    "_lazy": 0,
    "executor": 0,
    "models": 1,
    "constructions": 2,
    "evidence": 2,
    "report": 2,
    "lines": 3,
    "ledger": 4,
    "audit": 5,
    "training": 5,
    "claims": 6,
    "gate": 7,
    "render": 8,
    "figures": 8,
    "staleness": 8,
    "portability": 8,
    "testing": 8,
    "cli": 9,
    "__init__": 9,
    "__main__": 9,
}


def _layer(dotted: str) -> int:
    return LAYERS[dotted.split(".")[1] if "." in dotted else "__init__"]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 2 else parts)


def _top_level_imports(tree: ast.Module) -> list[str]:
    """Imported wellposed modules, outside ``if TYPE_CHECKING:`` blocks."""
    names = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith("wellposed"):
                names.append(sub.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_module_has_one_stated_job_and_a_readable_size(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and doc.splitlines()[0].strip(), f"{path.name}: first line must say its job"
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 520


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_go_down_the_flow_and_sit_at_the_top(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    if not name.startswith("wellposed.cli"):
        functions = [
            f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        local = [
            n.lineno
            for f in functions
            for n in ast.walk(f)
            if isinstance(n, ast.Import | ast.ImportFrom)
        ]
        assert not local, f"{name}: function-local imports at lines {local}"
    mine = _layer(name)
    up = [m for m in _top_level_imports(tree) if m != "wellposed" and _layer(m) > mine]
    assert not up, f"{name} (layer {mine}) imports from a higher layer: {up}"


def test_help_does_not_import_torch() -> None:
    script = (
        "import sys\nimport wellposed.cli as cli\ntry:\n    cli.main(['--help'])\n"
        "except SystemExit:\n    pass\nprint('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


_S11_LEDGER = """
[[claim]]
id = "S11"
title = "Laplace decoder with learned scale"
statement = "A Laplace decoder whose scale is learned is unbounded: log p grows like D per unit k."
source = "throw-away claim of tests/test_layout.py"
objective = "Laplace(x | x, e^-k) on one point"
quantity = "log-density"
verdict = "VERDICT"
rate = "D per unit k"
rate_expr = "D"
bound = "none"
evidence = ["witness", "rate"]
"""

_S11_MODULE = '''
"""A throw-away claim added by tests/test_layout.py."""

import numpy as np
import torch

from wellposed.claims.registry import Context, Outcome, claim
from wellposed.evidence import INCONCLUSIVE, UNBOUNDED, check_witness, fit_rate


@claim("S11")
def laplace_spike(ctx: Context, entry) -> Outcome:
    """log Laplace(x | x, b = e^-k) = D (k - log 2): the scale shrinks onto the point."""
    D = 3
    x = torch.as_tensor(ctx.rng(11).normal(size=D), dtype=torch.float64)
    ks = np.array([10.0, 20.0, 40.0, 80.0])
    vals = [float(torch.distributions.Laplace(x, torch.exp(-torch.tensor(k))).log_prob(x).sum())
            for k in ks]
    rate = fit_rate(ks, vals, expected=entry.rate_at(D=D), symbols={"D": D})
    witness = check_witness({"k": 80.0}, vals[-1], 100.0)
    observed = UNBOUNDED if rate.ok and witness.passed else INCONCLUSIVE
    return Outcome(observed, {"witness": witness, "rate": rate}, [], f"slope {rate.slope:.4g}")
'''


def _copy_with_claim(tmp_path: Path, verdict: str) -> Path:
    root = tmp_path / verdict
    shutil.copytree(PKG, root / "wellposed", ignore=shutil.ignore_patterns("__pycache__"))
    ledger = root / "wellposed" / "ledger.toml"
    ledger.write_text(
        ledger.read_text(encoding="utf-8") + _S11_LEDGER.replace("VERDICT", verdict),
        encoding="utf-8",
    )
    (root / "wellposed" / "claims" / "throwaway.py").write_text(
        textwrap.dedent(_S11_MODULE), encoding="utf-8"
    )
    return root


@pytest.mark.parametrize(("verdict", "code"), [("unbounded", 0), ("bounded", 1)])
def test_a_new_claim_is_a_ledger_entry_and_one_function(tmp_path, verdict, code) -> None:
    root = _copy_with_claim(tmp_path, verdict)
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("WELLPOSED_LEDGER", None)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "wellposed",
            "check",
            "S11",
            "--no-report",
            "--json",
            str(tmp_path / f"{verdict}.json"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == code, out.stdout + out.stderr
    assert "S11" in out.stdout
    doc = json.loads((tmp_path / f"{verdict}.json").read_text())
    (row,) = [c for c in doc["claims"] if c["id"] == "S11"]
    assert row["observed"] == "unbounded" and row["ok"] is (verdict == "unbounded")
    assert row["evidence"]["rate"]["slope"] == pytest.approx(3.0)
