"""wellposed.audit.analytic: closed-form suprema, spike sequences and bounds per family."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from wellposed.audit import analytic as fam
from wellposed.audit import audit_family, builtin_families
from wellposed.evidence.decide import BOUNDED, UNBOUNDED

LOG2PI_2 = 0.5 * math.log(2 * math.pi)


def test_builtin_names() -> None:
    names = builtin_families()
    for n in (
        "normal",
        "continuous_bernoulli",
        "gaussian_nll_loss",
        "global_logvar_gaussian",
        "softclip_gaussian",
        "studentt_floor",
        "discretized_logistic",
    ):
        assert n in names


def test_verdicts_speak_the_evidence_vocabulary() -> None:
    xs = (-1.0, 0.0, 0.3, 1.0, 1.5)
    seen = {fam.ANALYTIC[n].verdict(x).verdict for n in builtin_families() for x in xs}
    assert seen == {UNBOUNDED, BOUNDED}


def test_fmt_number_is_the_display_format() -> None:
    assert fam.fmt_number(None) == ""
    assert fam.fmt_number(math.inf) == "inf" and fam.fmt_number(-math.inf) == "-inf"
    assert fam.fmt_number(math.nan) == "nan"
    assert fam.fmt_number(5.0810614667953) == "5.08106"
    assert fam.fmt_number(0.123456, 3) == "0.123"


def test_continuous_bernoulli_analytic_is_data_dependent() -> None:
    res = audit_family("continuous_bernoulli", np.array([0.0, 0.25, 0.5, 1.0]))
    v = [o.verdict for o in res.observations]
    assert v == ["unbounded", "bounded", "bounded", "unbounded"]
    # bound at x = 0.5 is log C(1/2) + log(1/2) = log 2 + log(1/2) = 0
    assert res.observations[2].bound == pytest.approx(0.0, abs=1e-10)
    # bound at 0.25: brute force over a dense logit grid with the textbook formula
    lam = special.expit(np.linspace(-30, 30, 200001))
    c = np.where(
        np.abs(lam - 0.5) < 1e-9, 2.0, 2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam + 1e-300)
    )
    brute = np.max(np.log(c) + 0.25 * np.log(lam) + 0.75 * np.log1p(-lam))
    assert res.observations[1].bound == pytest.approx(brute, abs=1e-6)
    assert res.observations[1].bound >= brute - 1e-12


@pytest.mark.parametrize(("k", "x"), [(0.5, 0.0), (3.0, 1.0), (2.5, 0.0)])
def test_cb_boundary_spike_matches_textbook_formula(k: float, x: float) -> None:
    lam = special.expit(-math.exp(k)) if x == 0 else special.expit(math.exp(k))
    c = 2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam)
    textbook = math.log(c) + (math.log1p(-lam) if x == 0 else math.log(lam))
    assert float(fam.spike_cb_boundary(np.array(x), np.array(k))) == pytest.approx(
        textbook, rel=1e-9
    )


@pytest.mark.parametrize(
    ("name", "x", "scipy_logpdf"),
    [
        ("normal", 0.3, lambda x, k: stats.norm.logpdf(x, x, math.exp(-k))),
        ("laplace", 0.3, lambda x, k: stats.laplace.logpdf(x, x, math.exp(-k))),
        ("studentt", 0.3, lambda x, k: stats.t.logpdf(x, 3.0, x, math.exp(-k))),
        ("logistic", 0.3, lambda x, k: stats.logistic.logpdf(x, x, math.exp(-k))),
        ("lognormal", 1.7, lambda x, k: stats.lognorm.logpdf(x, math.exp(-k), scale=x)),
        ("gamma", 1.7, lambda x, k: stats.gamma.logpdf(x, math.exp(k), scale=x / math.exp(k))),
        ("beta", 0.3, lambda x, k: stats.beta.logpdf(x, math.exp(k) * x, math.exp(k) * (1 - x))),
        ("vonmises", 0.3, lambda x, k: stats.vonmises.logpdf(x, math.exp(k), loc=x)),
    ],
)
@pytest.mark.parametrize("k", [0.5, 3.0, 8.0])
def test_spike_sequences_agree_with_scipy(name: str, x: float, scipy_logpdf, k: float) -> None:
    ours = float(fam.ANALYTIC[name].spike(np.array(x), np.array(k)))
    assert ours == pytest.approx(float(scipy_logpdf(x, k)), rel=1e-8, abs=1e-8)


@pytest.mark.parametrize(
    ("name", "rate"),
    [("normal", 1.0), ("gamma", 0.5), ("beta", 0.5), ("vonmises", 0.5), ("lognormal", 1.0)],
)
def test_analytic_rates_match_fitted_spike_slopes(name: str, rate: float) -> None:
    x = 0.4
    ks = np.linspace(20, 200, 10)
    slope = np.polyfit(ks, fam.ANALYTIC[name].spike(np.full_like(ks, x), ks), 1)[0]
    assert slope == pytest.approx(rate, abs=1e-6)
    res = audit_family(name, np.array([x]))
    assert res.observations[0].rate == pytest.approx(rate)


def test_f2_support_conditions() -> None:
    assert [
        o.verdict for o in audit_family("lognormal", np.array([-1.0, 0.0, 2.0])).observations
    ] == ["outside support", "outside support", "unbounded"]
    ln = audit_family("lognormal", np.array([0.0, 2.0])).observations[0]
    assert ln.bound == -math.inf
    assert audit_family("gamma", np.array([0.0])).observations[0].verdict == "unbounded"
    assert audit_family("beta", np.array([1.0])).observations[0].verdict == "unbounded"


def test_bernoulli_bce_bound_is_minus_entropy_and_unbounded_outside_unit_interval() -> None:
    x = np.array([0.0, 0.2, 1.0])
    res = audit_family("bernoulli", x)
    h = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    assert [o.bound for o in res.observations] == pytest.approx([0.0, -h, 0.0])
    assert [o.attained for o in res.observations] == [False, True, False]
    assert res.bound == pytest.approx(-h)
    assert audit_family("bernoulli", np.array([1.5])).observations[0].verdict == "unbounded"


@pytest.mark.parametrize(
    ("name", "bound"),
    [
        ("softclip_gaussian", 6 - LOG2PI_2),
        ("studentt_floor", -math.log(1e-3) - LOG2PI_2),
        ("gaussian_nll_loss", -0.5 * math.log(1e-6) - LOG2PI_2),
    ],
)
def test_f6_floor_bounds(name: str, bound: float) -> None:
    res = audit_family(name, np.array([[0.1, -2.0]]))  # one observation, two coordinates
    assert res.verdict == "bounded"
    assert res.observations[0].bound == pytest.approx(2 * bound)


def test_softclip_number() -> None:
    assert pytest.approx(5.081061, abs=1e-6) == fam.SOFTCLIP_BOUND
    assert pytest.approx(5.988817, abs=1e-6) == fam.STUDENTT_FLOOR_BOUND


def test_sequence_verdict_is_the_verdict_of_its_own_sequence() -> None:
    """The memoised decision keys on the computed values: a growing and a levelling-off
    sequence at the same k, decided one after the other, keep their own verdicts."""
    k = np.array([10.0, 20.0, 40.0, 80.0])
    grows = fam.sequence_verdict(k, k - 1.0, "k", "grows")
    levels = fam.sequence_verdict(k, 5.0 - np.exp(-k), "k", "levels")
    again = fam.sequence_verdict(k.copy(), (k - 1.0).copy(), "k", "grows")
    assert grows.verdict == "unbounded" and grows.rate == 1.0
    assert levels.verdict == "inconclusive"
    assert again == grows
