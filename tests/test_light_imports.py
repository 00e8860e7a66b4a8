"""What each entry point imports: help without torch / numpy / scipy, the core without extras."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
COMMANDS = ["", "check", "train", "audit-family", "audit-data", "audit-model"]
HEAVY = ("torch", "numpy", "scipy", "matplotlib", "sympy", "hypothesis", "tabulate")

#: a sys.meta_path finder that makes the listed top-level packages fail to import with the
#: ImportError (ModuleNotFoundError) of a package that is not installed: the core install
_BLOCK = """
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)",
                                      name=name)
        return None
sys.meta_path.insert(0, _Blocked())
"""


def _python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "wellposed")
def test_help_imports_no_torch_numpy_or_scipy(command: str) -> None:
    argv = [*command.split(), "--help"]
    out = _python(f"""
        import sys
        from wellposed.cli import main
        try:
            main({argv!r})
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        print("HEAVY", sorted(m for m in {HEAVY!r} if m in sys.modules))
        """)
    assert "usage: wellposed" in out
    assert out.strip().splitlines()[-1] == "HEAVY []"


def test_audit_family_help_names_every_builtin_family() -> None:
    from wellposed.audit import FAMILY_NAMES, builtin_families

    assert builtin_families() == FAMILY_NAMES
    out = _python("""
        from wellposed.cli import main
        try:
            main(["audit-family", "--help"])
        except SystemExit:
            pass
        """)
    flat = " ".join(out.split())
    assert all(name in flat for name in FAMILY_NAMES)


def test_the_core_computes_an_elbo_without_matplotlib_hypothesis_or_tabulate() -> None:
    out = _python(
        _BLOCK.format(blocked=("matplotlib", "hypothesis", "tabulate"))
        + """
import numpy as np
import wellposed as wp
from wellposed import constructions
x = np.random.default_rng(0).normal(size=(3, 2))
c = constructions.spike(x, k=10.0)
est = wp.elbo(c.decoder, c.encoder, x, method="mc", samples=64, seed=0)
exact = wp.elbo(c.decoder, c.encoder, x, method="quadrature")
print("ELBO", est.value, exact.value, est.se)
print("LOADED", sorted(m for m in ("matplotlib", "hypothesis", "tabulate") if m in sys.modules))
"""
    )
    values = dict(line.split(" ", 1) for line in out.strip().splitlines())
    mc, quad, se = (float(v) for v in values["ELBO"].split())
    assert abs(mc - quad) <= 6 * se + 1e-9  # the two lines agree: the numbers are real
    assert values["LOADED"] == "[]"


@pytest.mark.slow
def test_a_claim_runs_without_matplotlib_or_hypothesis() -> None:
    out = _python(
        _BLOCK.format(blocked=("matplotlib", "hypothesis"))
        + """
from wellposed.gate import run_claims
(r,) = run_claims(["L6"], seed=0, device="cpu", jobs=1)
print("CLAIM", r.id, r.observed, r.ok)
"""
    )
    assert out.strip().splitlines()[-1] == "CLAIM L6 unbounded True"


def test_check_without_matplotlib_says_which_extra_to_install() -> None:
    code = (
        _BLOCK.format(blocked=("matplotlib",))
        + """
from wellposed.cli import main
raise SystemExit(main(["check", "L6", "--no-report", "-q"]))
"""
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'wellposed[report]'" in proc.stderr
