"""The generator's constructions and their exact values.

Covers wellposed.constructions and wellposed.lines.exact.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import torch

from wellposed import Floor, WellposedInputError, elbo, log_likelihood
from wellposed import constructions as A
from wellposed.lines import exact

LOG_2PI = math.log(2 * math.pi)


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(4, 3))


def _slope(ks: np.ndarray, values: np.ndarray) -> float:
    return float(np.polyfit(ks, values, 1)[0])


def test_spike_network_is_the_formula(data: np.ndarray) -> None:
    k = 7.0
    c = A.spike(data, k, latent_dim=2)
    t = torch.tensor(np.random.default_rng(0).normal(size=(50, 2)))
    mean, log_var = c.decoder(t)
    expected = -(k / 2) * (1 + np.tanh(k * t[:, 0].numpy()))
    np.testing.assert_allclose(
        log_var.detach().numpy(), np.repeat(expected[:, None], 3, 1), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_array_equal(mean.detach().numpy(), np.broadcast_to(data[0], (50, 3)))


def test_spike_log_lik_rate_and_bounds(data: np.ndarray) -> None:
    D = data.shape[1]
    ks = np.array([100.0, 200.0, 400.0, 800.0])
    vals = np.array([exact.spike_log_lik(D, k, np.array([0.0]))[0] for k in ks])
    assert _slope(ks, vals) == pytest.approx(D / 2, rel=1e-3)
    for k, v in zip(ks, vals, strict=True):
        lo, up = exact.spike_log_lik_bounds(D, k, np.array([0.0]))
        assert lo[0] <= v <= up[0]
        # CLAIMS L1: log p(x_i) = log(1/2) + (D/2)(k - log 2pi) + o(1)
        assert v == pytest.approx(math.log(0.5) + D / 2 * (k - LOG_2PI), abs=0.05)


def test_other_points_stay_bounded_below(data: np.ndarray) -> None:
    """S1: log p(x_j) -> log(1/2 N(x_j | x_i, I)) for j != i, and the closed-form lower bound
    certifies it for every k."""
    D = data.shape[1]
    R = np.sum((data[1:] - data[0]) ** 2, axis=1)
    limit = math.log(0.5) - 0.5 * D * LOG_2PI - 0.5 * R
    for k in (50.0, 500.0, 5e4):
        lo, _ = exact.spike_log_lik_bounds(D, k, R)
        val = exact.spike_log_lik(D, k, R)
        assert np.all(lo <= val + 1e-12)
        np.testing.assert_allclose(val, limit, atol=0.05)
        assert np.all(lo > limit - 0.15)  # a certified floor for every k


@pytest.mark.parametrize("encoder", ["coadapted", "fixed", "prior"])
def test_spike_exact_matches_quadrature(data: np.ndarray, encoder: str) -> None:
    c = A.spike(data, 6.0, encoder=encoder)
    v = exact.construction_values(c)
    quad_ll = log_likelihood(c.decoder, data, method="quadrature").per_point
    quad_elbo = elbo(c.decoder, c.encoder, data, method="quadrature").per_point
    np.testing.assert_allclose(v["log_lik"], quad_ll, rtol=1e-8)
    np.testing.assert_allclose(v["elbo"], quad_elbo, rtol=1e-8)


@pytest.mark.parametrize("latent_dim", [1, 3])
def test_spike_exact_matches_monte_carlo(data: np.ndarray, latent_dim: int) -> None:
    c = A.spike(data, 8.0, latent_dim=latent_dim)
    v = exact.construction_values(c)
    mc = elbo(c.decoder, c.encoder, data, method="mc", samples=20000, seed=3, device="cpu")
    z = (v["elbo"].sum() - mc.value) / mc.se
    assert abs(z) < 4, f"z = {z:.2f} (exact {v['elbo'].sum()}, mc {mc.value} +- {mc.se})"
    iw = log_likelihood(c.decoder, data, method="mc", samples=20000, seed=4, device="cpu")
    z = (v["log_lik"].sum() - iw.value) / iw.se
    assert abs(z) < 4, f"z = {z:.2f} (exact {v['log_lik'].sum()}, iwae {iw.value} +- {iw.se})"


def test_spike_elbo_coadapted_diverges_and_fixed_width_collapses(data: np.ndarray) -> None:
    """L1: the co-adapted ELBO grows like (D/2) Phi(m/s) k - ((n-1)/2) log k; with a
    fixed-width encoder for the other points it goes to -inf."""
    n, D = data.shape
    ks = np.array([50.0, 100.0, 200.0, 400.0])
    co = np.array([exact.construction_values(A.spike(data, k))["elbo"].sum() for k in ks])
    fixed = np.array(
        [exact.construction_values(A.spike(data, k, encoder="fixed"))["elbo"].sum() for k in ks]
    )
    design = np.stack([ks, np.log(ks), np.ones_like(ks)], axis=1)
    coef = np.linalg.lstsq(design, co, rcond=None)[0]
    rate = D / 2 * scipy.stats.norm.cdf(A.SPIKE_Q_MEAN / A.SPIKE_Q_STD)
    assert coef[0] == pytest.approx(rate, rel=1e-3)
    assert coef[1] == pytest.approx(-(n - 1) / 2, abs=0.05)
    assert np.all(np.diff(fixed) < 0) and fixed[-1] < -1e80


def test_staircase_matches_monte_carlo_and_grows(data: np.ndarray) -> None:
    """L4: shared learned variance e^-k with all points memorized: ELBO slope nD/2 in k."""
    n, D = data.shape
    # at k = 30 the encoder's leak into other intervals (a rare event of probability
    # ~e^{-2k} weighted by e^k) is below 1e-12, so MC is a reliable estimator there
    c = A.staircase(data, 30.0)
    v = exact.construction_values(c)
    mc = elbo(c.decoder, c.encoder, data, method="mc", samples=20000, seed=1, device="cpu")
    assert abs(v["elbo"].sum() - mc.value) < 4 * mc.se + 1e-9 * abs(mc.value)
    ks = np.array([40.0, 80.0, 160.0])
    vals = np.array([exact.construction_values(A.staircase(data, k))["elbo"].sum() for k in ks])
    design = np.stack([ks, np.log(ks), np.ones_like(ks)], axis=1)
    assert np.linalg.lstsq(design, vals, rcond=None)[0][0] == pytest.approx(n * D / 2, rel=1e-3)


def test_staircase_floor_approaches_mixture_limit_below_bound(data: np.ndarray) -> None:
    """L2: with a floor xi the staircase tends to sum_j log((1/n) sum_l N(x_j | x_l, xi I)),
    below the analytic bound -(nD/2) log(2 pi xi)."""
    n, D = data.shape
    xi = 0.05
    limit = exact.gmm_log_lik(data, np.full(n, 1 / n), data, np.full(n, math.log(xi))).sum()
    bound = exact.floor_bound(n, D, xi)
    gaps = []
    for k in (5.0, 20.0, 60.0):
        v = exact.construction_values(A.staircase(data, k, variance=Floor(xi)))
        assert v["log_lik"].sum() <= bound and v["elbo"].sum() <= v["log_lik"].sum()
        gaps.append(limit - v["log_lik"].sum())
    # the transition regions of the steps carry prior mass O(1/k): the gap closes like 1/k
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert gaps[2] < 0.05


def test_bernoulli_staircase_approaches_bound_without_reaching() -> None:
    """L3 / S5: l < sum_u n_u log(n_u / n), with the gap -> 0."""
    x = np.array([[0, 1, 1], [1, 0, 1], [0, 1, 1], [1, 1, 0]], dtype=float)
    bound = exact.bernoulli_bound(x)
    assert bound == pytest.approx(2 * math.log(0.5) + 2 * math.log(0.25))
    gaps = [
        bound - exact.construction_values(A.staircase(x, k, family="bernoulli"))["log_lik"].sum()
        for k in (4.0, 16.0, 40.0)
    ]
    assert all(g > 0 for g in gaps) and gaps[0] > gaps[1] > gaps[2]
    assert gaps[-1] < 0.01  # O(1/k): prior mass of the step transitions


def test_linear_constructions_rates() -> None:
    rng = np.random.default_rng(3)
    x = np.c_[rng.normal(size=(6, 2)), np.full(6, 2.5)]
    ks = np.array([10.0, 20.0, 40.0])
    cc = [exact.construction_values(A.constant_coordinate(x, 2, k))["elbo"].sum() for k in ks]
    assert _slope(ks, np.array(cc)) == pytest.approx(6 / 2, rel=1e-9)  # n/2 per unit k (L6)
    basis = rng.normal(size=(1, 4))
    y = rng.normal(size=(6, 1)) @ basis + 1.0  # rank 1 in D = 4
    rd = [exact.construction_values(A.rank_deficient_ppca(y, 2, k))["log_lik"].sum() for k in ks]
    assert _slope(ks, np.array(rd)) == pytest.approx(6 * (4 - 1) / 2, rel=1e-6)  # n(D-r)/2 (L5)
    s7 = exact.construction_values(A.collapse_to_point(x[0], 12.0))
    assert s7["elbo"][0] == pytest.approx(1.5 * (12.0 - LOG_2PI), rel=1e-12)


def test_thread_closed_forms() -> None:
    for lam in (0.3, 1.0, 7.5, 1e4):
        res = scipy.optimize.minimize_scalar(
            lambda s, lam=lam: -exact.thread_elbo(lam, s),
            bounds=(1e-6, 10),
            method="bounded",
            options={"xatol": 1e-12},
        )
        assert res.x == pytest.approx(exact.thread_optimal_s(lam), rel=1e-5)
        assert exact.thread_max_elbo(lam) == pytest.approx(
            scipy.stats.norm(0, math.sqrt(1 + 1 / lam)).logpdf(0.0), rel=1e-12
        )
        assert -res.fun == pytest.approx(exact.thread_max_elbo(lam), rel=1e-9)
    assert exact.thread_answer_sigma_star(3.0) != pytest.approx(exact.thread_optimal_s(3.0))


def test_gmm_collapse_rate() -> None:
    x = np.random.default_rng(5).normal(size=(5, 2))
    ks = np.array([20.0, 40.0, 80.0])
    vals = [exact.gmm_log_lik(x, **A.collapsing_gmm(x, k)).sum() for k in ks]
    assert _slope(ks, np.array(vals)) == pytest.approx(2 / 2, rel=1e-6)  # D log(1/sigma)
    floored = [exact.gmm_log_lik(x, **A.collapsing_gmm(x, k, floor=0.1)).sum() for k in ks]
    assert max(floored) <= exact.floor_bound(5, 2, 0.1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: A.spike(x, -1.0), "k must be"),
        (lambda x: A.spike(x, 1.0, index=9), "index"),
        (lambda x: A.spike(x, 1.0, encoder="wide"), "encoder must be"),
        (lambda x: A.constant_coordinate(x, 0, 1.0), "not constant"),
        (lambda x: A.staircase(x, 1.0, family="bernoulli"), "binary"),
        (lambda x: A.rank_deficient_ppca(x, 1, 1.0), "rank"),
        (lambda x: A.thread_decoder("linear", 1.0), "kind"),
    ],
)
def test_bad_input(data: np.ndarray, call, match: str) -> None:
    with pytest.raises(WellposedInputError, match=match):
        call(data)


def test_extreme_k_stays_finite_and_exact() -> None:
    """|log sigma^2| far past the float64 exponent range: still the closed form, no NaN."""
    x = np.c_[np.random.default_rng(2).normal(size=(3, 2)), np.full(3, 0.37359)]
    k = 4e6
    v = exact.construction_values(A.constant_coordinate(x, 2, k))
    var = x[:, :2].var(axis=0)
    other = -0.5 * np.sum(LOG_2PI + np.log(var) + (x[:, :2] - x[:, :2].mean(0)) ** 2 / var, 1)
    np.testing.assert_allclose(v["log_lik"], other + 0.5 * (k - LOG_2PI), rtol=1e-12)
    np.testing.assert_array_equal(v["log_lik"], v["elbo"])  # q = prior, W = 0
    lo, up = exact.spike_log_lik_bounds(3, k, np.array([0.0, 1.0]))
    assert np.all(np.isfinite(lo)) and np.all(np.isfinite(up))
    fixed = exact.construction_values(A.spike(x, 800.0, encoder="fixed"))["elbo"]
    assert np.isfinite(fixed[0]) and np.all(fixed[1:] == -np.inf)  # -e^800 leaves float64
