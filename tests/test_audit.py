"""Tests for wellposed.audit (issue 5): family audit, data audit, report, CLI, claims."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch
import torch.distributions as tdist
from scipy import special, stats

from wellposed.audit import _families_tmp as fam
from wellposed.audit import (
    AuditInputError,
    add_audit_parsers,
    audit_data,
    audit_family,
    builtin_families,
    family_claim_evidence,
    load_data,
    render_families_markdown,
    torch_univariate_families,
)

LOG2PI_2 = 0.5 * math.log(2 * math.pi)

# ---------------------------------------------------------------------------------------
# expected mathematics, written out independently of the implementation:
# (family, x) -> "diverges" | "bounded" | "boundary" (x on a support boundary where the
# density is +inf for some parameters: "diverges" is right, "inconclusive" is honest)
# ---------------------------------------------------------------------------------------
MATH = {
    "Bernoulli": {0.0: "bounded", 1.0: "bounded"},
    "Beta": {0.3: "diverges", 0.8: "diverges"},
    "Binomial": {0.0: "bounded", 3.0: "bounded"},
    "Cauchy": {-1.3: "diverges", 0.0: "diverges", 2.5: "diverges"},
    "Chi2": {0.0: "diverges", 0.5: "bounded", 2.0: "bounded"},
    "ContinuousBernoulli": {0.3: "bounded", 0.8: "bounded"},
    "Exponential": {0.0: "diverges", 0.5: "bounded", 2.0: "bounded"},
    "FisherSnedecor": {0.5: "bounded", 2.0: "bounded"},
    "Gamma": {0.0: "diverges", 0.5: "diverges", 2.0: "diverges"},
    "GeneralizedPareto": {-1.3: "diverges", 0.0: "diverges", 2.5: "diverges"},
    "Geometric": {0.0: "bounded", 3.0: "bounded"},
    "Gumbel": {-1.3: "diverges", 0.0: "diverges", 2.5: "diverges"},
    "HalfCauchy": {0.0: "diverges", 0.5: "bounded", 2.0: "bounded"},
    "HalfNormal": {0.0: "diverges", 0.5: "bounded", 2.0: "bounded"},
    "InverseGamma": {0.5: "diverges", 2.0: "diverges"},
    "Kumaraswamy": {0.3: "diverges", 0.8: "diverges"},
    "Laplace": {-1.3: "diverges", 0.0: "diverges", 2.5: "diverges"},
    "LogNormal": {0.5: "diverges", 2.0: "diverges"},
    "NegativeBinomial": {0.0: "bounded", 3.0: "bounded"},
    "Normal": {-1.3: "diverges", 0.0: "diverges", 2.5: "diverges"},
    "Pareto": {0.5: "diverges", 2.0: "diverges"},
    "Poisson": {0.0: "bounded", 3.0: "bounded"},
    "RelaxedBernoulli": {0.3: "diverges", 0.8: "diverges"},
    "StudentT": {-1.3: "diverges", 0.0: "diverges", 2.5: "diverges"},
    "VonMises": {-1.3: "diverges", 0.0: "diverges", 2.5: "diverges"},
    "Weibull": {0.5: "diverges", 2.0: "diverges"},
}
# sup over params where it is attained at finite parameters (closed forms):
ATTAINED = {
    ("Exponential", 0.5): -math.log(0.5) - 1, ("Exponential", 2.0): -math.log(2.0) - 1,
    ("HalfNormal", 0.5): 0.5 * math.log(2 / math.pi) - math.log(0.5) - 0.5,
    ("HalfNormal", 2.0): 0.5 * math.log(2 / math.pi) - math.log(2.0) - 0.5,
    ("HalfCauchy", 0.5): -math.log(math.pi * 0.5), ("HalfCauchy", 2.0): -math.log(math.pi * 2),
    ("Poisson", 3.0): float(stats.poisson.logpmf(3, 3.0)),
    ("Bernoulli", 0.0): 0.0, ("Bernoulli", 1.0): 0.0, ("Poisson", 0.0): 0.0,
    ("Geometric", 0.0): 0.0, ("Binomial", 0.0): 0.0, ("Binomial", 3.0): 0.0,
    ("NegativeBinomial", 0.0): 0.0,
}


def test_registry_enumerates_scale_like_univariate_families() -> None:
    reg = torch_univariate_families()
    # every class named in the expected-mathematics table is found, nothing multivariate
    assert set(MATH) <= set(reg)
    assert "Dirichlet" not in reg and "MultivariateNormal" not in reg
    assert "LKJCholesky" not in reg and "LogisticNormal" not in reg
    for name, cls in reg.items():
        assert issubclass(cls, tdist.Distribution), name


def _registry_cases() -> list[str]:
    return sorted(torch_univariate_families())


@pytest.mark.slow
@pytest.mark.parametrize("name", _registry_cases())
def test_every_registry_family_agrees_with_mathematics_or_is_honestly_inconclusive(
        name: str) -> None:
    cls = torch_univariate_families()[name]
    assert name in MATH, f"add the mathematics for {name} to the table"
    xs = np.array(sorted(MATH[name]))
    res = audit_family(cls, xs, seed=0, method="numerical")
    assert res.method == "numerical"
    for o, x in zip(res.observations, xs, strict=True):
        expected = MATH[name][float(x)]
        if o.verdict == "inconclusive":
            assert len(o.reason) > 20, (name, x)  # a reason is given
            continue
        assert o.verdict == expected, (name, x, o.verdict, o.reason)
        if (name, float(x)) in ATTAINED and o.verdict == "bounded":
            assert o.bound == pytest.approx(ATTAINED[(name, float(x))], abs=1e-6)


@pytest.mark.slow
def test_registry_verdicts_are_mostly_decided() -> None:
    """At most a few families may be inconclusive somewhere (honesty is not an excuse)."""
    inconclusive = []
    for name in ("Normal", "Exponential", "Poisson"):
        xs = np.array(sorted(MATH[name]))
        res = audit_family(torch_univariate_families()[name], xs, method="numerical")
        inconclusive += [name for o in res.observations if o.verdict == "inconclusive"]
    assert inconclusive == []


def test_numerical_rates_match_derived_rates() -> None:
    res = audit_family(tdist.Normal, np.array([0.7]), method="numerical")
    assert res.observations[0].rate == pytest.approx(1.0, abs=0.02)
    res = audit_family(tdist.Gamma, np.array([1.5]), method="numerical")
    assert res.observations[0].rate == pytest.approx(0.5, abs=0.02)


def test_continuous_bernoulli_log_log_growth_is_never_called_bounded() -> None:
    # torch's implementation (clamped probabilities) at x = 0 and x = 1
    res = audit_family(tdist.ContinuousBernoulli, np.array([0.0, 1.0]), method="numerical")
    assert all(o.verdict != "bounded" for o in res.observations)

    # an unclamped implementation of the mathematics: still not bounded
    class CB(tdist.Distribution):
        arg_constraints = {"logits": tdist.constraints.real}
        support = tdist.constraints.unit_interval

        def __init__(self, logits: torch.Tensor, validate_args: bool | None = None) -> None:
            self.logits = logits
            super().__init__(logits.shape, validate_args=validate_args)

        def log_prob(self, value: torch.Tensor) -> torch.Tensor:
            e = self.logits
            a = torch.where(e > 0, e + torch.log(-torch.expm1(-e.abs())),
                            torch.log(-torch.expm1(-e.abs()))) - torch.log(e.abs())
            return e * value - a

    res = audit_family(CB, np.array([0.0]), method="numerical")
    o = res.observations[0]
    assert o.verdict in ("diverges", "inconclusive")
    if o.verdict == "diverges":
        assert "log" in o.rate_unit


def test_continuous_bernoulli_analytic_is_data_dependent() -> None:
    res = audit_family("continuous_bernoulli", np.array([0.0, 0.25, 0.5, 1.0]))
    v = [o.verdict for o in res.observations]
    assert v == ["diverges", "bounded", "bounded", "diverges"]
    # bound at x = 0.5 is log C(1/2) + log(1/2) = log 2 + log(1/2) = 0
    assert res.observations[2].bound == pytest.approx(0.0, abs=1e-10)
    # bound at 0.25: brute force over a dense logit grid with the textbook formula
    lam = special.expit(np.linspace(-30, 30, 200001))
    c = np.where(np.abs(lam - 0.5) < 1e-9, 2.0,
                 2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam + 1e-300))
    brute = np.max(np.log(c) + 0.25 * np.log(lam) + 0.75 * np.log1p(-lam))
    assert res.observations[1].bound == pytest.approx(brute, abs=1e-6)
    assert res.observations[1].bound >= brute - 1e-12


def test_torch_continuous_bernoulli_cap_value() -> None:
    eps = np.finfo(np.float64).eps
    cap = math.log(math.log((1 - eps) / eps))
    assert cap == pytest.approx(3.5847, abs=1e-3)
    v = tdist.ContinuousBernoulli(logits=torch.tensor(-1e6, dtype=torch.float64),
                                  validate_args=False).log_prob(torch.tensor(0.0,
                                                                             dtype=torch.float64))
    assert float(v) == pytest.approx(cap, abs=1e-9)
    res = audit_family("continuous_bernoulli", np.array([0.0]))
    capped = [r for r in res.probe if r.kind == "capped"]
    assert capped and capped[0].torch_value == pytest.approx(cap, abs=1e-9)
    assert "3.58473" in res.implementation


@pytest.mark.parametrize(("k", "x"), [(0.5, 0.0), (3.0, 1.0), (2.5, 0.0)])
def test_cb_boundary_spike_matches_textbook_formula(k: float, x: float) -> None:
    lam = special.expit(-math.exp(k)) if x == 0 else special.expit(math.exp(k))
    c = 2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam)
    textbook = math.log(c) + (math.log1p(-lam) if x == 0 else math.log(lam))
    assert float(fam.spike_cb_boundary(np.array(x), np.array(k))) == pytest.approx(textbook,
                                                                                 rel=1e-9)


@pytest.mark.parametrize(
    ("name", "x", "scipy_logpdf"),
    [
        ("normal", 0.3, lambda x, k: stats.norm.logpdf(x, x, math.exp(-k))),
        ("laplace", 0.3, lambda x, k: stats.laplace.logpdf(x, x, math.exp(-k))),
        ("studentt", 0.3, lambda x, k: stats.t.logpdf(x, 3.0, x, math.exp(-k))),
        ("logistic", 0.3, lambda x, k: stats.logistic.logpdf(x, x, math.exp(-k))),
        ("lognormal", 1.7, lambda x, k: stats.lognorm.logpdf(x, math.exp(-k), scale=x)),
        ("gamma", 1.7, lambda x, k: stats.gamma.logpdf(x, math.exp(k), scale=x / math.exp(k))),
        ("beta", 0.3, lambda x, k: stats.beta.logpdf(x, math.exp(k) * x,
                                                     math.exp(k) * (1 - x))),
        ("vonmises", 0.3, lambda x, k: stats.vonmises.logpdf(x, math.exp(k), loc=x)),
    ],
)
@pytest.mark.parametrize("k", [0.5, 3.0, 8.0])
def test_spike_sequences_agree_with_scipy(name: str, x: float, scipy_logpdf, k: float) -> None:
    ours = float(fam.ANALYTIC[name].spike(np.array(x), np.array(k)))
    assert ours == pytest.approx(float(scipy_logpdf(x, k)), rel=1e-8, abs=1e-8)


@pytest.mark.parametrize(("name", "rate"), [("normal", 1.0), ("gamma", 0.5), ("beta", 0.5),
                                            ("vonmises", 0.5), ("lognormal", 1.0)])
def test_analytic_rates_match_fitted_spike_slopes(name: str, rate: float) -> None:
    x = 0.4
    ks = np.linspace(20, 200, 10)
    slope = np.polyfit(ks, fam.ANALYTIC[name].spike(np.full_like(ks, x), ks), 1)[0]
    assert slope == pytest.approx(rate, abs=1e-6)
    res = audit_family(name, np.array([x]))
    assert res.observations[0].rate == pytest.approx(rate)


def test_f2_support_conditions() -> None:
    assert [o.verdict for o in audit_family("lognormal", np.array([-1.0, 0.0, 2.0])).observations
            ] == ["bounded", "bounded", "diverges"]
    ln = audit_family("lognormal", np.array([0.0])).observations[0]
    assert ln.bound == -math.inf
    assert audit_family("gamma", np.array([0.0])).observations[0].verdict == "diverges"
    assert audit_family("beta", np.array([1.0])).observations[0].verdict == "diverges"


def test_bernoulli_bce_bound_is_minus_entropy_and_unbounded_outside_unit_interval() -> None:
    x = np.array([0.0, 0.2, 1.0])
    res = audit_family("bernoulli", x)
    h = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    assert [o.bound for o in res.observations] == pytest.approx([0.0, -h, 0.0])
    assert [o.attained for o in res.observations] == [False, True, False]
    assert res.bound == pytest.approx(-h)
    assert audit_family("bernoulli", np.array([1.5])).observations[0].verdict == "diverges"


@pytest.mark.parametrize(
    ("name", "bound"),
    [("softclip_gaussian", 6 - LOG2PI_2), ("studentt_floor", -math.log(1e-3) - LOG2PI_2),
     ("gaussian_nll_loss", -0.5 * math.log(1e-6) - LOG2PI_2)],
)
def test_f6_floor_bounds(name: str, bound: float) -> None:
    res = audit_family(name, np.array([[0.1, -2.0]]))  # one observation, two coordinates
    assert res.verdict == "bounded"
    assert res.observations[0].bound == pytest.approx(2 * bound)


def test_softclip_number() -> None:
    assert pytest.approx(5.081061, abs=1e-6) == fam.SOFTCLIP_BOUND
    assert pytest.approx(5.988817, abs=1e-6) == fam.STUDENTT_FLOOR_BOUND


def test_gaussian_nll_loss_gradient_passes_through_the_clamp() -> None:
    var = torch.tensor([1e-9], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([0.3], dtype=torch.float64)
    loss = torch.nn.GaussianNLLLoss(eps=1e-6, full=True)(x, x, var)
    loss.backward()
    assert float(var.grad[0]) == pytest.approx(0.5 / 1e-6)  # non-zero below eps
    assert -float(loss.detach()) == pytest.approx(-0.5 * math.log(1e-6) - LOG2PI_2)
    res = audit_family("gaussian_nll_loss", np.array([0.3]))
    assert "500000" in res.implementation and "no_grad" in res.implementation


def test_global_logvar_unbounded_and_torch_nan() -> None:
    res = audit_family("global_logvar_gaussian", np.array([[0.1, 0.2, 0.3]]))
    assert res.verdict == "unbounded"
    assert res.rate == pytest.approx(3.0)
    assert any(r.kind == "nan" for r in res.probe)


def test_torch_normal_probe_reports_nan_and_validate_args() -> None:
    res = audit_family("normal", np.array([1.0]))
    kinds = [r.kind for r in res.probe]
    assert kinds[0] == "ok" and "nan" in kinds
    assert "ValueError" in res.implementation


def test_multicoordinate_rates_add() -> None:
    X = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    res = audit_family("normal", X)
    assert [o.rate for o in res.observations] == [3.0, 3.0]
    assert res.rate == pytest.approx(6.0)


def test_unsupported_family_is_inconclusive_with_reason() -> None:
    res = audit_family(tdist.Dirichlet, np.array([0.5]), method="numerical")
    assert res.verdict == "inconclusive"
    assert "vector" in res.observations[0].reason or "multivariate" in res.observations[0].reason


def test_unknown_family_and_bad_data_raise() -> None:
    with pytest.raises(AuditInputError, match="unknown family"):
        audit_family("nope", np.array([1.0]))
    with pytest.raises(AuditInputError, match="NaN"):
        audit_family("normal", np.array([np.nan]))
    with pytest.raises(AuditInputError, match="method"):
        audit_family("normal", np.array([1.0]), method="magic")


def test_to_dict_is_json_and_deterministic() -> None:
    a = audit_family(tdist.Exponential, np.array([0.0, 0.5]), seed=3, method="numerical")
    b = audit_family(tdist.Exponential, np.array([0.0, 0.5]), seed=3, method="numerical")
    sa = json.dumps(a.to_dict(), sort_keys=True)
    assert sa == json.dumps(b.to_dict(), sort_keys=True)
    assert json.loads(sa)["seed"] == 3


def test_render_markdown_deterministic_and_escaped() -> None:
    res = [audit_family("continuous_bernoulli", np.array([0.0, 0.4])),
           audit_family(tdist.Exponential, np.array([0.0, 0.5]), method="numerical"),
           audit_family("softclip_gaussian", np.array([0.2]))]
    md1 = render_families_markdown(res)
    md2 = render_families_markdown(res)
    assert md1 == md2
    lines = md1.strip().splitlines()
    assert lines[0].startswith("| family")
    ncols = lines[0].count(" | ")
    for line in lines[2:]:  # every row has the same number of (unescaped) separators
        assert line.replace("\\|", "").count(" | ") == ncols
    assert "5.08106" in md1


# ---------------------------------------------------------------------------------------
# data audit
# ---------------------------------------------------------------------------------------


def _synthetic() -> np.ndarray:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4))
    X[:, 1] = 7.0  # constant column
    X[:, 2] = rng.integers(0, 2, size=20)  # 0/1 column
    X[5] = X[3]  # duplicated row
    return X


def test_audit_data_finds_constant_zero_one_duplicates() -> None:
    res = audit_data(_synthetic())
    kinds = res.kinds()
    assert "constant_coordinate" in kinds and "exact_zero_one" in kinds
    assert "duplicate_rows" in kinds
    by = {f.kind: f for f in res.findings}
    assert by["constant_coordinate"].where == (1,)
    assert 2 in by["exact_zero_one"].where
    assert set(by["duplicate_rows"].where) == {3, 5}
    assert any("L6" in o for o in by["constant_coordinate"].objectives)
    assert any("continuous Bernoulli" in o for o in by["exact_zero_one"].objectives)


def test_audit_data_rank_and_quantization() -> None:
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(30, 2))
    X = Z @ rng.normal(size=(2, 5)) + 3.0
    assert audit_data(X, latent_dim=2).rank == 2
    assert "low_rank" in audit_data(X, latent_dim=2).kinds()
    assert "low_rank" not in audit_data(X, latent_dim=1).kinds()
    Q = rng.integers(0, 16, size=(100, 3)) / 15.0
    assert "quantized" in audit_data(Q).kinds()
    assert audit_data(rng.normal(size=(50, 3)), latent_dim=1).findings == ()


def test_load_data_errors(tmp_path) -> None:
    with pytest.raises(AuditInputError, match="does not exist"):
        load_data(tmp_path / "missing.npy")
    p = tmp_path / "x.txt"
    p.write_text("1 2 3")
    with pytest.raises(AuditInputError, match="not a .npy"):
        load_data(p)
    o = tmp_path / "obj.npy"
    np.save(o, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(AuditInputError, match="object"):
        load_data(o)
    n = tmp_path / "nan.npy"
    np.save(n, np.array([1.0, np.nan]))
    with pytest.raises(AuditInputError, match="NaN"):
        load_data(n)
    d3 = tmp_path / "d3.npy"
    np.save(d3, np.zeros((2, 2, 2)))
    with pytest.raises(AuditInputError, match="ndim = 3"):
        load_data(d3)
    ok = tmp_path / "ok.npy"
    np.save(ok, np.arange(4, dtype=np.int32))
    assert load_data(ok).dtype == np.float64


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wellposed")
    sub = parser.add_subparsers(dest="command", required=True)
    add_audit_parsers(sub)
    ns = parser.parse_args(argv)
    return ns.func(ns)


def test_cli_audit_data_names_all_three(tmp_path, capsys) -> None:
    p = tmp_path / "X.npy"
    np.save(p, _synthetic())
    assert _run(["audit-data", str(p)]) == 0
    out = capsys.readouterr().out
    for word in ("constant_coordinate", "exact_zero_one", "duplicate_rows",
                 "per-coordinate learned variance", "continuous Bernoulli"):
        assert word in out
    assert _run(["audit-data", str(p), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["findings"]) >= 3


def test_cli_malformed_file_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a numpy file")
    assert _run(["audit-data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "numpy.save" in err
    assert _run(["audit-data", str(tmp_path / "none.npy")]) == 2


def test_cli_audit_family(capsys) -> None:
    assert _run(["audit-family", "continuous_bernoulli", "--values", "0,0.5"]) == 0
    out = capsys.readouterr().out
    assert "diverges" in out and "bounded" in out
    assert _run(["audit-family", "Exponential", "--values", "0,1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["method"] == "numerical" and d["counts"]["diverges"] == 1
    assert _run(["audit-family", "nosuch", "--values", "1"]) == 2
    assert _run(["audit-family", "normal"]) == 2
    assert "exactly one of" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# claim evidence
# ---------------------------------------------------------------------------------------

EXPECTED = {"F1": "unbounded", "F2": "unbounded", "F3": "unbounded", "F4": "bounded",
            "F5": "bounded", "F6": "bounded"}


@pytest.mark.slow
@pytest.mark.parametrize("claim", sorted(EXPECTED))
def test_family_claim_evidence(claim: str) -> None:
    out = family_claim_evidence(claim, seed=0)
    assert out["observed"] == EXPECTED[claim]
    assert out["agree"] is True
    json.dumps(out["evidence"])  # serialisable
    assert out == family_claim_evidence(claim, seed=0)  # deterministic


def test_family_claim_evidence_unknown() -> None:
    with pytest.raises(AuditInputError):
        family_claim_evidence("F9", seed=0)


def test_builtin_names() -> None:
    names = builtin_families()
    for n in ("normal", "continuous_bernoulli", "gaussian_nll_loss", "global_logvar_gaussian",
              "softclip_gaussian", "studentt_floor", "discretized_logistic"):
        assert n in names
