"""Observation families: log-space Gaussian and Bernoulli densities against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch

from wellposed.models.densities import bernoulli_log_prob, gaussian_log_prob, gaussian_sq_term
from wellposed.numerics import LOG_2PI

T = torch.float64


def _t(a: object) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=T)


def test_gaussian_log_prob_matches_scipy_at_moderate_scales() -> None:
    rng = np.random.default_rng(1)
    x, mu = rng.normal(size=(2, 200))
    lv = rng.uniform(-20.0, 20.0, size=200)
    got = gaussian_log_prob(_t(x), _t(mu), _t(lv)).numpy()
    want = scipy.stats.norm.logpdf(x, loc=mu, scale=np.exp(0.5 * lv))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("lv", [-2e4, -1e4, -700.0, 0.0, 700.0, 1e4, 2e4])
def test_zero_residual_gives_the_closed_form_at_any_log_variance(lv: float) -> None:
    x = _t([0.3, -1.7, 12.0])
    got = gaussian_log_prob(x, x.clone(), torch.full_like(x, lv))
    assert torch.isfinite(got).all()
    np.testing.assert_allclose(got.numpy(), -0.5 * (LOG_2PI + lv), rtol=1e-15)
    assert torch.equal(
        gaussian_sq_term(x, x.clone(), torch.full_like(x, lv)), torch.zeros(3, dtype=T)
    )


@pytest.mark.parametrize(
    ("lv", "r"), [(-700.0, 1e-3), (-700.0, 1.0), (-300.0, 2.5), (-2e4, 1e-300)]
)
def test_nonzero_residual_gives_the_huge_negative_value(lv: float, r: float) -> None:
    """-(log 2pi + lv + r^2 e^{-lv})/2, finite whenever r^2 e^{-lv} fits in float64."""
    got = float(gaussian_log_prob(_t([r]), _t([0.0]), _t([lv]))[0])
    log_sq = 2.0 * math.log(r) - lv
    if log_sq < 709.0:
        want = -0.5 * (LOG_2PI + lv + math.exp(log_sq))
        assert math.isfinite(got)
        assert got == pytest.approx(want, rel=1e-13)
    else:
        assert got == -math.inf


def test_overflowing_residual_term_is_minus_inf_never_nan() -> None:
    x = _t([1.0, -1.0, 1e-3, 5.0])
    lv = _t([-2e4, -1e4, -1500.0, -800.0])
    got = gaussian_log_prob(x, torch.zeros(4, dtype=T), lv)
    assert not torch.isnan(got).any()
    assert torch.equal(got, torch.full((4,), -math.inf, dtype=T))


@pytest.mark.parametrize("lv", [-2e4, -700.0, 0.0, 2e4])
def test_gradients_are_finite_at_a_zero_residual(lv: float) -> None:
    x = _t([0.5, -2.0])
    mean = x.clone().requires_grad_(True)
    log_var = torch.full((2,), lv, dtype=T, requires_grad=True)
    gaussian_log_prob(x, mean, log_var).sum().backward()
    assert torch.equal(mean.grad, torch.zeros(2, dtype=T))  # d/dmu = (x - mu)/sigma^2 = 0
    assert torch.equal(log_var.grad, torch.full((2,), -0.5, dtype=T))  # d/dlv = -1/2 + 0


def test_gradient_wrt_mean_is_the_scaled_residual() -> None:
    x, mean, lv = _t([1.5]), _t([0.5]).requires_grad_(True), _t([-3.0]).requires_grad_(True)
    gaussian_log_prob(x, mean, lv).sum().backward()
    assert float(mean.grad[0]) == pytest.approx(1.0 * math.exp(3.0), rel=1e-13)
    assert float(lv.grad[0]) == pytest.approx(-0.5 + 0.5 * math.exp(3.0), rel=1e-13)


@pytest.mark.parametrize("x", [0.0, 1.0])
def test_bernoulli_log_prob_matches_scipy_at_large_logits(x: float) -> None:
    logits = np.array([-1e4, -800.0, -40.0, -3.0, -1e-8, 0.0, 1e-8, 3.0, 40.0, 800.0, 1e4])
    got = bernoulli_log_prob(torch.full((logits.size,), x, dtype=T), _t(logits)).numpy()
    want = x * scipy.special.log_expit(logits) + (1 - x) * scipy.special.log_expit(-logits)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    moderate = np.abs(logits) < 30  # scipy.stats.bernoulli works through p = expit(l)
    pmf = scipy.stats.bernoulli.logpmf(x, scipy.special.expit(logits[moderate]))
    np.testing.assert_allclose(got[moderate], pmf, rtol=1e-9)
    assert (got <= 0).all()
    assert np.isfinite(got).all()


def test_bernoulli_log_prob_for_fractional_x_is_below_minus_entropy() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(0.01, 0.99, size=500)
    logits = rng.normal(scale=5.0, size=500)
    got = bernoulli_log_prob(_t(x), _t(logits)).numpy()
    neg_entropy = x * np.log(x) + (1 - x) * np.log1p(-x)
    assert (got <= neg_entropy + 1e-12).all()
    at_sup = bernoulli_log_prob(_t(x), _t(scipy.special.logit(x))).numpy()
    np.testing.assert_allclose(at_sup, neg_entropy, rtol=1e-12)


def test_suprema_bound_the_densities() -> None:
    """The per-observation suprema: floored Gaussian and Bernoulli (entropy) bounds hold for
    random parameters and are approached by the maximisers."""
    import math

    from wellposed.models.densities import bernoulli_supremum, gaussian_supremum

    g = torch.Generator().manual_seed(0)
    x = torch.rand((50, 3), generator=g, dtype=torch.float64)
    floor = math.log(0.05)
    log_var = floor + torch.rand((50, 3), generator=g, dtype=torch.float64) * 4
    mean = x + torch.randn((50, 3), generator=g, dtype=torch.float64)
    values = gaussian_log_prob(x, mean, log_var).sum(-1)
    assert torch.all(values <= gaussian_supremum(3, floor))
    at_sup = gaussian_log_prob(x, x, torch.full_like(x, floor)).sum(-1)
    torch.testing.assert_close(
        at_sup, torch.full((50,), gaussian_supremum(3, floor), dtype=torch.float64)
    )
    assert gaussian_supremum(3, None) == math.inf
    logits = torch.randn((50, 3), generator=g, dtype=torch.float64) * 5
    assert torch.all(bernoulli_log_prob(x, logits).sum(-1) <= bernoulli_supremum(x) + 1e-12)
    best = bernoulli_log_prob(x, torch.logit(x)).sum(-1)
    torch.testing.assert_close(best, bernoulli_supremum(x))
    binary = torch.tensor([[0.0, 1.0, 1.0]], dtype=torch.float64)
    assert float(bernoulli_supremum(binary)) == 0.0
