"""The family closed forms' enclosures hold the audit's float64 values and catch small shifts."""

import numpy as np
import pytest

from wellposed.audit import analytic, densities
from wellposed.errors import WellposedInputError
from wellposed.lines import family_certified as fc
from wellposed.lines.certify import certify, disagreements
from wellposed.lines.enclosures import agrees

SPIKES = ["normal", "laplace", "studentt", "logistic", "lognormal", "gamma", "beta", "vonmises"]


@pytest.mark.parametrize("name", SPIKES)
@pytest.mark.parametrize("x", [0.05, 0.3, 0.77])
def test_spike_enclosures_hold_the_float64_spike_values(name, x):
    k = 1e6  # where the claims read them; the Stirling / Bessel tails are below rounding
    value = float(getattr(densities, f"spike_{name}")(np.array(x), np.array(k)))
    enc = fc.spike(name, x, k)
    assert agrees(value, enc) and enc.width < 1e-9 * abs(value)
    assert not agrees(value * (1 + 1e-7), enc)


def test_spike_enclosure_carries_the_stirling_remainder():
    # at k = 3 the gamma's tail 1/(12 e^k) ~ 4e-3 is not negligible: the float64 formula
    # subtracts its own estimate of it, and the enclosure's range contains that value
    value = float(densities.spike_gamma(np.array(0.4), np.array(3.0)))
    enc = fc.spike("gamma", 0.4, 3.0)
    assert enc.lo <= value <= enc.hi and enc.width <= (1 + 1e-7) / (12 * np.exp(3.0))


def test_cb_boundary_spike_and_interior_supremum():
    ks = np.array([10.0, 100.0, 1e3, 1e4])
    along = densities.witness_log_density("continuous_bernoulli", np.zeros_like(ks), ks)
    assert all(
        agrees(float(v), fc.spike("continuous_bernoulli", 0.0, float(k)))
        for v, k in zip(along, ks, strict=True)
    )
    x = np.array([0.03, 0.3, 0.62, 0.97])
    sup, eta = densities.cb_sup_interior(x)
    for xi, s, e in zip(x, sup, eta, strict=True):
        enc = fc.cb_interior_sup(float(xi), float(e))
        assert agrees(float(s), enc) and enc.width < 1e-12 * max(1.0, abs(float(s)))
        # a dense grid never passes the enclosure's high end (it is an upper bound)
        grid = densities.cb_log_prob(np.full(4001, xi), np.linspace(e - 1, e + 1, 4001))
        assert float(np.max(grid)) <= enc.hi + 1e-12
    with pytest.raises(ArithmeticError, match="not proven"):
        fc.cb_interior_sup(0.3, float(eta[1]) + 1.0)  # not the maximiser


def test_constant_suprema_match_the_analytic_module():
    pairs = [
        (analytic.SOFTCLIP_BOUND, fc.softclip_sup(analytic.SOFTCLIP_MIN)),
        (analytic.STUDENTT_FLOOR_BOUND, fc.studentt_floor_sup(analytic.STUDENTT_SCALE_FLOOR)),
        (analytic.GAUSSIAN_NLL_BOUND, fc.gaussian_nll_sup(analytic.GAUSSIAN_NLL_EPS)),
        (
            analytic.GAUSSIAN_NLL_BOUND_DEFAULT,
            fc.gaussian_nll_sup(analytic.GAUSSIAN_NLL_EPS, False),
        ),
        (0.0, fc.discretized_sup()),
    ]
    for value, enc in pairs:
        assert agrees(value, enc)
        if value:
            assert not agrees(value * (1 + 1e-7), enc)


@pytest.mark.parametrize("x", [0.0, 1.0, 0.5, 0.123456])
def test_bernoulli_sup_is_minus_the_binary_entropy(x):
    value = float(-densities.binary_entropy(np.array(x)))
    assert not disagreements("family.bernoulli_sup", value, (x,))
    assert certify("family.bernoulli_sup", x) == fc.bernoulli_sup(x)
    with pytest.raises(WellposedInputError, match="x in"):
        fc.bernoulli_sup(1.5)


def test_unknown_spike_family_is_refused():
    with pytest.raises(WellposedInputError, match="no certified spike"):
        fc.spike("cauchy", 0.1, 5.0)
