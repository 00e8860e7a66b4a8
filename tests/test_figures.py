"""The reports' figures: data built from rounded evidence, PNGs byte-stable, linked from the md."""

import dataclasses
import json
import math
import re
import struct

import numpy as np
import pytest

from wellposed.audit import audit_family
from wellposed.evidence import check_bound, check_tightness, fit_rate
from wellposed.evidence.records import Counterexample
from wellposed.figures import DPI, claim_figures, figure_json, render_png
from wellposed.gate import ClaimResult, run_claims
from wellposed.lines.exact import thread_elbo, thread_optimal_s
from wellposed.render import write_reports

_K = np.array([10.0, 20.0, 40.0, 80.0, 160.0])


def _claim(cid: str, evidence: dict, observed: str = "unbounded") -> ClaimResult:
    return ClaimResult(cid, "t", "src", observed, observed, True, True, "sum", "f", evidence)


def _conditional() -> ClaimResult:
    """A conditional claim: each case's records, and again under the kinds' keys (as the
    claims write them)."""
    rate = fit_rate(
        _K,
        1.5 * _K + 2.0 - 0.5 * np.log(_K),
        expected=1.5,
        extra=("log k", np.log(_K)),
        extra_expected=-0.5,
    )
    bound = check_bound(-1.0, {"random": [-3.0, -2.5], "ascent": [-1.2]})
    tight = check_tightness(-1.0, [1.0, 10.0, 100.0], [-1.5, -1.01, -1.0], tol=1e-6)
    return _claim(
        "S9",
        {
            "a": {"rate": rate},
            "b": {"bound": bound, "tightness": tight},
            "rate": rate,
            "bound": bound,
            "tightness": tight,
        },
        "conditional(a=unbounded, b=bounded)",
    )


def _s8() -> ClaimResult:
    rows = [
        {
            "lambda": lam,
            "answer_sigma_star": (2 * lam - 1) ** -0.5 if lam > 0.5 else math.nan,
            "correct_s_star": thread_optimal_s(lam),
        }
        for lam in (0.25, 1.0, 10.0)
    ]
    return _claim("S8", {"counterexample": Counterexample("d", {"table": rows}, True)}, "refuted")


def test_records_become_one_panel_each_with_residuals_after_the_derived_rate():
    (spec,) = claim_figures([_conditional(), _claim("S2", {"lines": []})])
    assert spec.name == "claim-S9"
    kinds = [p["panel"] for p in spec.data["panels"]]
    assert kinds == ["rate", "bound", "tightness"]  # no duplicates from the kinds' keys
    rate = spec.data["panels"][0]
    x, resid = np.array(rate["x"]), np.array(rate["centred"])
    assert rate["log_term"] == -0.5 and x[0] == 10.0 and x[-1] == 160.0
    # values are exactly 1.5 k - 0.5 log k + 2: after the derived rate only the (centred)
    # constant is left, i.e. nothing
    np.testing.assert_allclose(resid, 0.0, atol=1e-3)  # the values carry 6 digits
    # the tolerance wedge grows away from the mean k: rtol * rate * |k - mean k|
    band = np.array(rate["band"])
    assert band.argmin() == np.abs(x - x.mean()).argmin() and band.max() > 0
    assert "residuals" in spec.caption and spec.caption.startswith("S9: ")
    bound = spec.data["panels"][1]
    assert bound["sources"] == ["random", "ascent"] and bound["best"] == [-2.5, -1.2]
    # a wrong rate shows: the residuals then grow along the sequence
    wrong = fit_rate(
        _K,
        1.6 * _K + 2.0 - 0.5 * np.log(_K),
        expected=1.5,
        extra=("log k", np.log(_K)),
        extra_expected=-0.5,
    )
    (bad,) = claim_figures([_claim("S1", {"rate": wrong})])
    tilt = np.array(bad.data["panels"][0]["centred"])
    assert tilt[-1] - tilt[0] == pytest.approx(0.1 * (160.0 - 10.0), rel=1e-3)


def test_s8_panel_marks_the_true_maximiser_and_the_answer():
    (spec,) = claim_figures([_s8()])
    (panel,) = spec.data["panels"]
    assert panel["panel"] == "elbo_sigma" and len(panel["curves"]) == 3
    for c in panel["curves"]:
        s_star, top = c["correct_s_star"]
        assert top == pytest.approx(max(c["elbo"]), abs=1e-3)  # the curve peaks at s*
        assert top == pytest.approx(thread_elbo(c["lambda"], s_star), rel=1e-5)
    assert panel["curves"][0]["answer_sigma_star"] is None  # undefined for lambda < 1/2


def _png_size(png: bytes) -> tuple[int, int]:
    return struct.unpack(">II", png[16:24])


def test_png_is_deterministic_fixed_size_and_carries_no_version():
    for spec in claim_figures([_conditional(), _s8()]):
        a, b = render_png(spec), render_png(spec)
        assert a == b and a.startswith(b"\x89PNG")
        assert b"matplotlib" not in a.lower() and b"Software" not in a
        width = sum(7.0 if p["panel"] == "elbo_sigma" else 4.6 for p in spec.data["panels"])
        assert _png_size(a) == (round(width * DPI), round(3.6 * DPI))


def _perturb(obj, factor):
    """Every float inside the records, dicts and sequences of ``obj`` times ``factor``."""
    if isinstance(obj, float):
        return obj * factor
    if dataclasses.is_dataclass(obj):
        return dataclasses.replace(
            obj,
            **{
                f.name: _perturb(getattr(obj, f.name), factor)
                for f in dataclasses.fields(obj)
                if f.init
            },
        )
    if isinstance(obj, dict):
        return {k: _perturb(v, factor) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_perturb(v, factor) for v in obj)
    return obj


@pytest.fixture(scope="module")
def real():
    """Claims with every panel kind: S8's table; S9's bound, tightness and rate (conditional:
    each record listed twice)."""
    return run_claims(["S8", "S9"], device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("factor", [1 + 1e-9, 1 - 1e-9, 1 + 3e-10])
def test_figure_data_is_the_same_when_every_number_moves_by_1e9(real, factor):
    moved = [dataclasses.replace(r, evidence=_perturb(r.evidence, factor)) for r in real]
    new, old = claim_figures(moved), claim_figures(real)
    assert [s.name for s in old] == ["claim-S8", "claim-S9"]
    assert [len(s.data["panels"]) for s in old] == [1, 3]
    assert [figure_json(s) for s in new] == [figure_json(s) for s in old]


@pytest.mark.slow
def test_reports_write_figures_linked_from_the_markdown(real, tmp_path):
    audits = [
        audit_family("continuous_bernoulli", np.array([0.0, 0.4])),
        audit_family("softclip_gaussian", np.array([0.2])),
    ]
    written = write_reports(real, seed=0, report_dir=tmp_path, families=audits)
    assert written[-1] == tmp_path / "figures"
    assert "](figures/" not in (tmp_path / "families.md").read_text()  # tables, no pictures
    for md in ("claims.md",):
        links = re.findall(r"\]\((figures/[^)]+\.png)\)", (tmp_path / md).read_text())
        assert links, md
        for link in links:
            png = tmp_path / link
            assert png.read_bytes().startswith(b"\x89PNG")
            data = json.loads(png.with_suffix(".json").read_text())
            assert data["name"] == png.stem
    # an old verdict picture is removed with the families report rewritten (it is a table now)
    (tmp_path / "figures" / "families-verdicts.png").write_bytes(b"old")
    write_reports(real, seed=0, report_dir=tmp_path, families=audits)
    assert not (tmp_path / "figures" / "families-verdicts.png").exists()
    # a later run without S8 removes its figure
    write_reports(real[1:], seed=0, report_dir=tmp_path)
    names = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert names == ["claim-S9.json", "claim-S9.png"]
