"""Every decoder in examples/ gets the verdict the README's "Check your own VAE" table shows.

Each runs ``wellposed audit-model examples.<name>:factory`` on a seeded synthetic data set
(8 columns; in (0, 1), binary for the Bernoulli decoder, on a grid with exact 0 and 1 for
the continuous Bernoulli boundary row).  An unbounded verdict must save a witness that
reloads into fresh modules and re-evaluates above the target with new draws.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from wellposed import cli
from wellposed.audit.model import reevaluate_witness

ROOT = Path(__file__).parents[1]  # examples/ is a package here, outside wellposed

# (example, data kind, verdict, proof kind, --budget): the README table
EXAMPLES = [
    ("c2_logvar_head", "interior", "unbounded", None, 40),
    ("global_logvar", "interior", "unbounded", None, 40),
    ("sigma_vae_softclip", "interior", "bounded", "floor", 5),
    ("floored_variance", "interior", "bounded", "floor", 5),
    ("gaussian_nll_loss", "interior", "bounded", "clamp", 5),
    ("bernoulli", "binary", "bounded", "family", 5),
    ("continuous_bernoulli", "interior", "bounded", "family", 5),
    ("continuous_bernoulli", "grid01", "no witness within budget", None, 5),
]


def synthetic(kind: str) -> np.ndarray:
    """The seeded data sets of the README table (32 rows, 8 columns)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.05, 0.95, size=(32, 8))
    if kind == "binary":
        return (x > 0.5).astype(np.float64)
    if kind == "grid01":
        return np.round(4 * (x - 0.05) / 0.9) / 4  # values 0, 0.25, ..., 1
    return x


@pytest.mark.slow  # up to ~40 s per unbounded example (an attack); bounded ones ~5-10 s
@pytest.mark.parametrize(("name", "kind", "verdict", "proof", "budget"), EXAMPLES,
                         ids=[f"{e[0]}-{e[1]}" for e in EXAMPLES])
def test_example_verdict(tmp_path, capsys, monkeypatch, name, kind, verdict, proof,
                         budget) -> None:
    monkeypatch.chdir(ROOT)  # audit-model imports the factory from the current directory
    data = tmp_path / f"{kind}.npy"
    np.save(data, synthetic(kind))
    out_json = tmp_path / "audit.json"
    start = time.perf_counter()
    code = cli.main(["audit-model", f"examples.{name}:factory", "--data", str(data),
                     "--budget", str(budget), "--fail-on", "unbounded", "--json",
                     str(out_json), "--out", str(tmp_path / "witness")])
    elapsed = time.perf_counter() - start
    text = capsys.readouterr().out
    doc = json.loads(out_json.read_text())
    assert doc["verdict"] == verdict, text
    assert f"verdict: {verdict}" in text
    assert code == (1 if verdict == "unbounded" else 0)
    assert elapsed < budget + 50.0, f"{name}: {elapsed:.0f} s"
    if verdict == "unbounded":
        assert doc["witness"]["passed"] and doc["rate"]["slope"] > 0
        value, se, target = reevaluate_witness(doc["witness_file"], synthetic(kind),
                                               factory=f"examples.{name}:factory")
        assert target == pytest.approx(doc["target"], rel=1e-5)
        assert value - 4 * se > target, (value, se, target)
    elif verdict == "bounded":
        assert doc["proof"]["kind"] == proof
        assert doc["bound"]["ok"] and doc["bound"]["max_value"] <= doc["proof"]["bound"]
        assert doc["witness_file"] is None
    else:
        assert doc["proof"] is None and not doc["witness"]["passed"]
        assert doc["family_audit"]["verdict"] == "unbounded"
        assert any("family audit finds" in n for n in doc["notes"])


def test_readme_table_shows_these_verdicts() -> None:
    """README "Check your own VAE": one row per case above, with the same verdict."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [r for r in readme.split("## Check your own VAE")[1].split("\n## ")[0].splitlines()
            if r.startswith("| `")]
    assert len(rows) == len(EXAMPLES)
    for row, (name, _, verdict, proof, _) in zip(rows, EXAMPLES, strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0].startswith(f"`{name}`") and cells[2].startswith(verdict)
        assert proof is None or f"({proof})" in cells[2]


def test_your_model_doc_examples_run(monkeypatch) -> None:
    """docs/your-model.md: every ``>>>`` example gives the output it shows."""
    import doctest

    monkeypatch.syspath_prepend(str(ROOT))
    doc = ROOT / "docs" / "your-model.md"
    res = doctest.testfile(str(doc), module_relative=False,
                           optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 10 and res.failed == 0, res
