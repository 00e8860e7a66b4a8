"""Every decoder in examples/ gets its right verdict and bound; the README table is this.

Each example is audited (``wellposed audit-model examples.<name>:factory``) on a seeded
synthetic data set; :func:`render_table` turns the results into the README's "Check your
own VAE" table, and the test asserts that the README contains exactly that table.  After a
deliberate change, regenerate it with ``python tests/test_examples.py --update``.
An unbounded verdict must save a witness that reloads into fresh modules and re-evaluates
above the target with new draws.
"""

from __future__ import annotations

import io
import json
import math
import sys
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]  # examples/ is a package here, outside wellposed
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from wellposed import cli  # noqa: E402
from wellposed.audit.model import UNBOUNDED, reevaluate_witness  # noqa: E402
from wellposed.audit.proof import prove  # noqa: E402
from wellposed.audit.usermodel import build_model, load_factory  # noqa: E402

LOG_2PI = math.log(2 * math.pi)
BEGIN, END = "<!-- examples table: begin -->", "<!-- examples table: end -->"
TBEGIN, TEND = "<!-- examples timings: begin -->", "<!-- examples timings: end -->"


@dataclass(frozen=True)
class Case:
    """One audited example: the module, its data, the right verdict and (bounded) bound."""

    name: str
    data: str  # interior | binary | grid01 | images
    dim: int
    n: int
    verdict: str
    bound: float | None  # the true supremum of the objective when bounded
    steps: int
    what: str


def _sup(per: float, case_n: int, dim: int) -> float:
    return case_n * dim * per


N = 16
CASES = [
    Case(
        "c2_logvar_head",
        "interior",
        16,
        60,
        "unbounded",
        None,
        200,
        "App. C.2 per-pixel log-variance head, D = 16",
    ),
    Case(
        "c2_logvar_head",
        "interior",
        64,
        60,
        "unbounded",
        None,
        200,
        "App. C.2 per-pixel log-variance head, D = 64",
    ),
    Case(
        "c2_logvar_head",
        "images",
        784,
        N,
        "unbounded",
        None,
        60,
        "App. C.2 per-pixel log-variance head, D = 784",
    ),
    Case(
        "conv_logvar_28",
        "images",
        784,
        N,
        "unbounded",
        None,
        60,
        "conv VAE, per-pixel log-variance channel (28x28, 1.7M parameters)",
    ),
    Case(
        "conv_fc_28",
        "images",
        784,
        N,
        "unbounded",
        None,
        60,
        "conv VAE, one Linear from the latent to the map (28x28, 0.9M parameters)",
    ),
    Case(
        "decoy_policy",
        "interior",
        8,
        N,
        "unbounded",
        None,
        200,
        "holds a floor module it never calls",
    ),
    Case(
        "student_t_head",
        "interior",
        8,
        N,
        "unbounded",
        None,
        200,
        "Student-t head (3 dof), learned log-scale",
    ),
    Case(
        "laplace_head", "interior", 8, N, "unbounded", None, 200, "Laplace head, learned log-scale"
    ),
    Case(
        "global_logvar",
        "interior",
        8,
        N,
        "no witness within budget",
        None,
        100,
        "one shared learned log-variance",
    ),
    Case(
        "sigma_vae_softclip",
        "interior",
        8,
        N,
        "bounded",
        _sup(6.0 - 0.5 * LOG_2PI, N, 8),
        40,
        "sigma-VAE: shared log-sigma, soft clip at -6",
    ),
    Case(
        "optimal_sigma",
        "interior",
        8,
        N,
        "bounded",
        _sup(6.0 - 0.5 * LOG_2PI, N, 8),
        40,
        "sigma-VAE optimal sigma (batch RMS residual, soft clip) as the objective",
    ),
    Case(
        "floored_variance",
        "interior",
        8,
        N,
        "bounded",
        _sup(-0.5 * (LOG_2PI + math.log(1e-3)), N, 8),
        40,
        "`sigma^2 = 1e-3 + softplus`",
    ),
    Case(
        "softplus_floor",
        "interior",
        8,
        N,
        "bounded",
        _sup(-math.log(0.05) - 0.5 * LOG_2PI, N, 8),
        40,
        "`sigma = 0.05 + softplus`",
    ),
    Case(
        "mse_vae",
        "interior",
        8,
        N,
        "bounded",
        _sup(-0.5 * LOG_2PI, N, 8),
        40,
        "MSE VAE (fixed `sigma = 1`)",
    ),
    Case(
        "gaussian_nll_loss",
        "interior",
        8,
        N,
        "bounded",
        _sup(-0.5 * (math.log(1e-6) + LOG_2PI), N, 8),
        40,
        "`torch.nn.GaussianNLLLoss(eps=1e-6)` as the objective",
    ),
    Case("bernoulli", "binary", 8, N, "bounded", 0.0, 40, "Bernoulli logits"),
    Case(
        "continuous_bernoulli",
        "interior",
        8,
        N,
        "bounded",
        None,
        40,
        "continuous Bernoulli, data inside (0, 1)",
    ),
    Case(
        "continuous_bernoulli",
        "grid01",
        8,
        N,
        "no witness within budget",
        None,
        40,
        "continuous Bernoulli, data with exact 0 and 1",
    ),
]


def synthetic(kind: str, dim: int, n: int) -> np.ndarray:
    """The seeded data sets of the table: uniform in (0.05, 0.95), binary, on the grid
    {0, 1/4, ..., 1}, or smooth 28x28 "images" in (0, 1)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.05, 0.95, size=(n, dim))
    if kind == "binary":
        return (x > 0.5).astype(np.float64)
    if kind == "grid01":
        return np.round(4 * (x - 0.05) / 0.9) / 4
    if kind == "images":
        u = np.linspace(-1, 1, 28)
        blobs = np.exp(
            -(
                (u[None, :, None] - rng.uniform(-0.5, 0.5, (n, 1, 1))) ** 2
                + (u[None, None, :] - rng.uniform(-0.5, 0.5, (n, 1, 1))) ** 2
            )
            / 0.1
        )
        return (0.05 + 0.9 * blobs).reshape(n, 28 * 28)[:, :dim]
    return x


def audit(case: Case, tmp: Path, seed: int = 0) -> tuple[int, dict, str]:
    """Run the CLI on the case; ``(exit code, JSON document, text)``."""
    data = tmp / f"{case.name}-{case.data}-{case.dim}.npy"
    np.save(data, synthetic(case.data, case.dim, case.n))
    out = tmp / f"{case.name}-{case.data}-{case.dim}.json"
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = cli.main(
            [
                "audit-model",
                f"examples.{case.name}:factory",
                "--data",
                str(data),
                "--steps",
                str(case.steps),
                "--seed",
                str(seed),
                "--fail-on",
                "unbounded",
                "--json",
                str(out),
                "--out",
                str(tmp / f"witness-{case.name}-{case.data}-{case.dim}"),
            ]
        )
    return code, json.loads(out.read_text()), buf.getvalue()


def render_row(case: Case, doc: dict) -> str:
    """One README row: example, data, the right verdict, the audit's (proof kind), bound."""
    kind = f" ({doc['proof']['kind']})" if doc.get("proof") else ""
    bound = f"{doc['proof']['bound']:.6g}" if doc.get("proof") else "-"
    data = {
        "interior": "(0, 1)",
        "binary": "binary",
        "grid01": "grid with exact 0/1",
        "images": "28x28 images",
    }[case.data]
    return (
        f"| `{case.name}` | {case.what} | {data}, n = {case.n}, D = {case.dim} | "
        f"{case.verdict} | {doc['verdict']}{kind} | {bound} |"
    )


def render_table(rows: list[str]) -> str:
    head = (
        "| example | what | data | right verdict | audit (steps as in the test) | bound |\n"
        "|---|---|---|---|---|---|\n"
    )
    return BEGIN + "\n" + head + "\n".join(rows) + "\n" + END


def _chdir_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # audit-model imports the factory from the current directory


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[int, dict, str]]:
    """Every case audited once (seed 0), shared by the tests below."""
    mp = pytest.MonkeyPatch()
    _chdir_root(mp)
    tmp = tmp_path_factory.mktemp("examples")
    try:
        return {i: audit(case, tmp) for i, case in enumerate(CASES)}
    finally:
        mp.undo()


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{c.name}-{c.data}-{c.dim}" for c in CASES])
def test_example_verdict_and_bound(results, i: int) -> None:
    case = CASES[i]
    code, doc, text = results[i]
    assert doc["verdict"] == case.verdict, text
    assert f"verdict: {case.verdict}" in text
    assert code == (1 if case.verdict == UNBOUNDED else 0)
    if case.verdict == UNBOUNDED:
        assert doc["witness"]["passed"] and doc["rate"]["slope"] > 0 and doc["row"]["passed"]
        value, se, target = reevaluate_witness(
            doc["witness_file"],
            synthetic(case.data, case.dim, case.n),
            factory=f"examples.{case.name}:factory",
        )
        assert value - 4 * se > target, (value, se, target)
    elif case.verdict == "bounded":
        assert doc["bound"]["ok"] and doc["witness_file"] is None
        if case.bound is not None:  # the report rounds; the proof itself is exact
            assert doc["proof"]["bound"] == pytest.approx(case.bound, rel=1e-5, abs=1e-9)
            X = synthetic(case.data, case.dim, case.n)
            model = build_model(load_factory(f"examples.{case.name}:factory"), case.dim)
            proof, _, _ = prove(model, X, doc["family"])
            assert proof is not None and proof.bound == pytest.approx(case.bound, abs=1e-6)


@pytest.mark.slow
def test_readme_table_is_the_audits(results) -> None:
    """README "Check your own VAE": the table between the markers is what the audits give."""
    table = render_table([render_row(c, results[i][1]) for i, c in enumerate(CASES)])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert table in readme, (
        "README's examples table is stale; regenerate it with "
        "python tests/test_examples.py --update\n" + table
    )


def _update_readme() -> None:
    """Rewrite the README table from fresh audits (``--update``), and the timings table
    (not asserted: seconds depend on the machine and its load)."""
    import os
    import tempfile

    os.chdir(ROOT)
    rows, times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for c in CASES:
            start = time.perf_counter()
            rows.append(render_row(c, audit(c, Path(tmp))[1]))
            times.append(
                f"| `{c.name}` | {c.data}, D = {c.dim}, n = {c.n} | {c.steps} | "
                f"{time.perf_counter() - start:.0f} |"
            )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start_, stop = readme.index(BEGIN), readme.index(END) + len(END)
    readme = readme[:start_] + render_table(rows) + readme[stop:]
    tstart, tstop = readme.index(TBEGIN), readme.index(TEND) + len(TEND)
    load = os.getloadavg()[0]
    timing = (
        f"{TBEGIN}\nAudit time per example (the CLI in-process, audits included; load "
        f"average {load:.1f} on 2 cores when measured):\n\n| example | data | steps | "
        "seconds |\n|---|---|---|---|\n" + "\n".join(times) + "\n" + TEND
    )
    (ROOT / "README.md").write_text(readme[:tstart] + timing + readme[tstop:], encoding="utf-8")


def test_your_model_doc_examples_run(monkeypatch) -> None:
    """docs/your-model.md: every ``>>>`` example gives the output it shows."""
    import doctest

    monkeypatch.syspath_prepend(str(ROOT))
    doc = ROOT / "docs" / "your-model.md"
    res = doctest.testfile(
        str(doc), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert res.attempted >= 10 and res.failed == 0, res


def test_examples_do_not_import_wellposed() -> None:
    """The examples are models as people write them: plain torch."""
    for path in (ROOT / "examples").glob("*.py"):
        code = [
            ln
            for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.startswith(("import ", "from "))
        ]
        assert not any("wellposed" in ln for ln in code), path.name


if __name__ == "__main__" and "--update" in sys.argv:
    _update_readme()
