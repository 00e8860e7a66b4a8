"""Hypothesis properties for the family audit (docs/claims.md#f1 to #f6).

* bounded families never exceed their analytic supremum on drawn parameters, and a
  deterministic sequence at the drawn ``x`` approaches it (``scores.tight``: Student-t
  ``scale -> 1e-3, df -> inf``, not attained; softclip ``raw -> -inf``; GaussianNLLLoss
  ``var <= eps``, attained);
* unbounded families pass any drawn target M (up to 1e6) along their spike sequence
  (scale -> 0 or concentration -> inf with the location at x).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    seq = [float(fam.log_softclip_gaussian(np.array(x), np.array(x), np.array(raw)))
           for raw in (0.0, -10.0, -20.0, -40.0)]  # loc = x, log sigma -> -6
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
    seq = [float(fam.log_studentt_floor(np.array(x), np.array(x), np.array(-k), np.array(k)))
           for k in (10.0, 100.0, 1e3, 1e4)]
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
    seq = [float(fam.log_gaussian_nll_value(np.array(x), np.array(x), np.array(var)))
           for var in (1.0, 1e-3, 1e-5, 1e-6, 1e-9)]
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


# spike sequences: k needed to pass M, from the analytic rate (with margin 20 nats)
SPIKES = {"normal": 1.0, "laplace": 1.0, "studentt": 1.0, "logistic": 1.0,
          "lognormal": 1.0, "gamma": 0.5, "beta": 0.5, "vonmises": 0.5,
          "global_logvar_gaussian": 1.0}


@pytest.mark.claims("F1", "F2", "L4")
@given(name=st.sampled_from(sorted(SPIKES)), x=st.floats(0.01, 0.99), m=targets)
def test_unbounded_families_pass_any_target(scores, name: str, x: float, m: float) -> None:
    """Learned scale / concentration (and a global learned log-variance):
    the spike sequence at x passes any target M."""
    k = (m + 20.0 - math.log(x) - math.log1p(-x)) / SPIKES[name]
    v = float(fam.ANALYTIC[name].spike(np.array(x), np.array(k)))
    scores.observe(v, m, sense=">=")
    assert math.isfinite(v) and v > m


@pytest.mark.claims("F3")
@given(x=st.sampled_from([0.0, 1.0]), m=targets)
def test_continuous_bernoulli_boundary_passes_any_target(scores, x: float, m: float) -> None:
    """Continuous Bernoulli at x in {0, 1}: log p grows like k = log|logit|
    (about log log(1/lam)): slow, but it passes any target M."""
    v = float(fam.spike_cb_boundary(np.array(x), np.array(m + 1.0)))
    scores.observe(v, m, sense=">=")
    assert v > m
