"""Hypothesis properties for the family audit (docs/claims.md#f1 to #f6).

* bounded families never exceed their analytic supremum on drawn parameters, and a
  deterministic sequence at the drawn ``x`` approaches it (``scores.tight``: Student-t
  ``scale -> 1e-3, df -> inf``, not attained; softclip ``raw -> -inf``; GaussianNLLLoss
  ``var <= eps``, attained);
* unbounded families pass any drawn target M (up to 1e6) along their spike sequence
  (scale -> 0 or concentration -> inf with the location at x): the sequence is checked
  against scipy / mpmath at a drawn k, its growth per unit k against the derived rate, and
  the k that passes M is found by a doubling search (not solved from the formula).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from wellposed.audit import analytic as fam
from wellposed.audit import audit_family

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
raw = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
unit_open = st.floats(1e-6, 1 - 1e-6, allow_nan=False)
targets = st.floats(1.0, 1e6, allow_nan=False)


@pytest.mark.claims("F6")
@given(x=finite, loc=finite, r=raw)
def test_softclip_never_exceeds_bound(scores, x: float, loc: float, r: float) -> None:
    """Sigma-VAE softclip(log sigma, -6): log p <= 6 - (1/2) log 2pi."""
    v = float(fam.log_softclip_gaussian(np.array(x), np.array(loc), np.array(r)))
    scores.observe(v, fam.SOFTCLIP_BOUND)
    assert v <= fam.SOFTCLIP_BOUND + 1e-12
    seq = [
        float(fam.log_softclip_gaussian(np.array(x), np.array(x), np.array(raw)))
        for raw in (0.0, -10.0, -20.0, -40.0)
    ]  # loc = x, log sigma -> -6
    gaps = [fam.SOFTCLIP_BOUND - v for v in seq]
    scores.tight(gaps, 1e-9)


@pytest.mark.claims("F6")
@given(x=finite, loc=finite, rs=raw, rd=st.floats(-50, 50))
def test_studentt_floor_never_exceeds_bound(
    scores, x: float, loc: float, rs: float, rd: float
) -> None:
    """Student-t with scale >= 1e-3 (MIWAE): log p <= -log(1e-3) - (1/2) log 2pi."""
    v = float(fam.log_studentt_floor(np.array(x), np.array(loc), np.array(rs), np.array(rd)))
    scores.observe(v, fam.STUDENTT_FLOOR_BOUND)
    assert v <= fam.STUDENTT_FLOOR_BOUND + 1e-9
    # loc = x, scale = 1e-3 + softplus(-k) -> 1e-3, df = 3 + softplus(k) -> inf: the gap is
    # ~ 1/(4 df) (the t density at its mode tends to the Gaussian's); never 0 (not attained)
    seq = [
        float(fam.log_studentt_floor(np.array(x), np.array(x), np.array(-k), np.array(k)))
        for k in (10.0, 100.0, 1e3, 1e4)
    ]
    gaps = [fam.STUDENTT_FLOOR_BOUND - v for v in seq]
    scores.tight(gaps, 1e-4)
    assert min(gaps) > 0.0


@pytest.mark.claims("F6")
@given(x=finite, mean=finite, log_var=st.floats(-700, 50))
def test_gaussian_nll_value_never_exceeds_bound(
    scores, x: float, mean: float, log_var: float
) -> None:
    """Torch GaussianNLLLoss(eps=1e-6): the clamped value is bounded."""
    v = float(fam.log_gaussian_nll_value(np.array(x), np.array(mean), np.array(math.exp(log_var))))
    scores.observe(v, fam.GAUSSIAN_NLL_BOUND)
    assert v <= fam.GAUSSIAN_NLL_BOUND + 1e-12
    # mean = x, var -> eps: the clamp makes the bound attained at var <= eps
    seq = [
        float(fam.log_gaussian_nll_value(np.array(x), np.array(x), np.array(var)))
        for var in (1.0, 1e-3, 1e-5, 1e-6, 1e-9)
    ]
    gaps = [fam.GAUSSIAN_NLL_BOUND - v for v in seq]
    scores.tight(gaps, 1e-12)


@pytest.mark.claims("F4")
@given(x=st.one_of(st.sampled_from([0.0, 1.0]), unit_open), logit=st.floats(-1e4, 1e4))
def test_bernoulli_below_minus_entropy(scores, x: float, logit: float) -> None:
    """Bernoulli log-likelihood (BCE) on [0, 1] data: log p <= -H(x)."""
    v = float(fam.log_bernoulli(np.array(x), np.array(logit)))
    bound = audit_family("bernoulli", np.array([x]), probe=False).observations[0].bound
    scores.observe(v, bound)
    assert v <= bound + 1e-12


@pytest.mark.claims("F5")
@given(k=st.integers(0, 255), loc=st.floats(-2, 3), ls=st.floats(-30, 5))
def test_discretized_masses_nonpositive(scores, k: int, loc: float, ls: float) -> None:
    """Discretized Gaussian / logistic bin masses: log p <= 0, no floor."""
    x = np.array(k / 255.0)
    vg = float(fam.log_discretized_gaussian(x, np.array(loc), np.array(ls)))
    vl = float(fam.log_discretized_logistic(x, np.array(loc), np.array(ls)))
    scores.observe(max(vg, vl), 0.0)
    assert vg <= 0.0
    assert vl <= 0.0


@pytest.mark.claims("F3")
@given(x=st.floats(0.001, 0.999), eta=st.floats(-1e4, 1e4))
def test_continuous_bernoulli_interior_bound(scores, x: float, eta: float) -> None:
    """Continuous Bernoulli at interior x: log p <= its analytic supremum."""
    bound = audit_family("continuous_bernoulli", np.array([x]), probe=False).observations[0].bound
    v = float(fam.cb_log_prob(np.array(x), np.array(eta)))
    scores.observe(v, bound)
    assert v <= bound + 1e-9


# derived growth per unit k of each spike sequence (docs/claims.md#f1, #f2)
SPIKES = {
    "normal": 1.0,
    "laplace": 1.0,
    "studentt": 1.0,
    "logistic": 1.0,
    "lognormal": 1.0,
    "gamma": 0.5,
    "beta": 0.5,
    "vonmises": 0.5,
    "global_logvar_gaussian": 1.0,
}


# spike sequences, each checked against an evaluator that shares no code with it (scipy.stats
# or mpmath at 50 digits, at the sequence's own parameters), and searched for the first k
# (doubling from k = 1) that passes the drawn target M
_EXACT_DPS = 50


def _reference_spike(name: str, x: float, k: float) -> float:
    """The spike's log density by an independent route: scipy.stats where it is accurate
    at ``k`` (scale ``e^-k`` or concentration ``e^k``), else mpmath (Gamma/Beta/von Mises
    by lgamma / besseli at 50 digits)."""
    s = math.exp(-k)
    c = mpmath.e ** mpmath.mpf(k)
    with mpmath.workdps(_EXACT_DPS):
        if name in ("normal", "global_logvar_gaussian"):
            return float(stats.norm.logpdf(x, loc=x, scale=s))
        if name == "laplace":
            return float(stats.laplace.logpdf(x, loc=x, scale=s))
        if name == "studentt":
            return float(stats.t.logpdf(x, 3.0, loc=x, scale=s))
        if name == "logistic":
            return float(stats.logistic.logpdf(x, loc=x, scale=s))
        if name == "lognormal":
            return float(stats.lognorm.logpdf(x, s, scale=x))
        xm = mpmath.mpf(x)
        if name == "gamma":  # shape c, rate c / x: density at x
            return float(c * mpmath.log(c / xm) + (c - 1) * mpmath.log(xm) - c - mpmath.loggamma(c))
        if name == "beta":
            a, b = c * xm, c * (1 - xm)
            return float(
                (a - 1) * mpmath.log(xm)
                + (b - 1) * mpmath.log(1 - xm)
                + mpmath.loggamma(c)
                - mpmath.loggamma(a)
                - mpmath.loggamma(b)
            )
        if name == "vonmises":
            return float(c - mpmath.log(2 * mpmath.pi * mpmath.besseli(0, c)))
    raise AssertionError(f"no reference for {name}")


def _first_passing_k(fn, m: float, k_max: float = 2.0**24) -> float:
    """Doubling search: the first ``k = 1, 2, 4, ...`` with ``fn(k) > m`` (inf if none)."""
    k = 1.0
    while k <= k_max:
        if fn(k) > m:
            return k
        k *= 2.0
    return math.inf


@pytest.mark.claims("F1", "F2", "L4")
@given(
    name=st.sampled_from(sorted(SPIKES)), x=st.floats(0.01, 0.99), k=st.floats(0.5, 30.0), m=targets
)
def test_unbounded_families_pass_any_target(
    scores, name: str, x: float, k: float, m: float
) -> None:
    """Learned scale / concentration (and a global learned log-variance): the spike sequence
    at x is the family's log density at the sequence's parameters (checked against scipy /
    mpmath at a drawn k), grows at the derived rate per unit k (one nat for a location-scale
    family, 1/2 for a concentration), and a doubling search finds a k where it passes M."""
    spike = fam.ANALYTIC[name].spike
    assert spike is not None

    def at(kk: float) -> float:
        return float(spike(np.array(x), np.array(kk)))

    ref = _reference_spike(name, x, k)
    assert abs(at(k) - ref) <= 1e-8 * max(1.0, abs(ref))
    slope = at(k + 40.0) - at(k + 39.0)
    assert abs(slope - SPIKES[name]) <= 1e-3
    found = _first_passing_k(at, m)
    v = at(found) if math.isfinite(found) else -math.inf
    scores.observe(v, m, sense=">=")
    assert math.isfinite(v) and v > m


def _reference_cb_boundary(x: float, k: float) -> float:
    """log CB(x | eta) at x in {0, 1}, eta = -/+ e^k, from the natural form ``eta e^{eta x} /
    (e^eta - 1)`` (mpmath, 50 digits): an evaluation that shares no code with the spike."""
    with mpmath.workdps(_EXACT_DPS):
        eta = (1 if x == 1.0 else -1) * mpmath.e ** mpmath.mpf(k)
        return float(mpmath.log(eta * mpmath.e ** (eta * x) / mpmath.expm1(eta)))


@pytest.mark.claims("F3")
@given(x=st.sampled_from([0.0, 1.0]), k=st.floats(-3.0, 6.0), m=targets)
def test_continuous_bernoulli_boundary_passes_any_target(
    scores, x: float, k: float, m: float
) -> None:
    """Continuous Bernoulli at x in {0, 1}: the spike (eta = -/+ e^k) is the density there
    (mpmath reference at a drawn k), grows like one nat per unit k (about log log(1/lam):
    slow), and a doubling search finds a k where it passes M."""

    def at(kk: float) -> float:
        return float(fam.spike_cb_boundary(np.array(x), np.array(kk)))

    ref = _reference_cb_boundary(x, k)
    assert abs(at(k) - ref) <= 1e-9 * max(1.0, abs(ref))
    assert abs((at(k + 20.0) - at(k + 10.0)) / 10.0 - 1.0) <= 1e-9
    found = _first_passing_k(at, m)
    v = at(found) if math.isfinite(found) else -math.inf
    scores.observe(v, m, sense=">=")
    assert v > m
