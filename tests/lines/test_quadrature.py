"""The scipy line: quadrature over a 1-D latent against the closed forms and Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wellposed.errors import WellposedInputError
from wellposed.lines import montecarlo, quadrature
from wellposed.lines.objectives import elbo, log_likelihood
from wellposed.models.networks import (
    BernoulliMLPDecoder,
    GaussianMLPDecoder,
    GaussianMLPEncoder,
    LinearGaussianDecoder,
    TabularEncoder,
)
from wellposed.models.variance import Floor


def _linear_d1(rng: np.random.Generator, Dx: int = 3) -> LinearGaussianDecoder:
    return LinearGaussianDecoder(rng.normal(size=(Dx, 1)), rng.normal(size=Dx), rng.normal(size=Dx))


@pytest.mark.parametrize("seed", [0, 1])
def test_linear_d1_log_likelihood_quadrature_equals_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dec = _linear_d1(rng)
    x = rng.normal(size=(4, 3)) * 2
    q = log_likelihood(dec, x, method="quadrature")
    ex = log_likelihood(dec, x, method="exact")
    np.testing.assert_allclose(q.per_point, ex.per_point, rtol=1e-9)
    assert q.value == pytest.approx(ex.value, rel=1e-9)
    assert q.method == "quadrature"
    assert 0.0 <= q.se < 1e-6


@pytest.mark.parametrize("seed", [0, 1])
def test_linear_d1_elbo_quadrature_equals_exact(seed: int) -> None:
    rng = np.random.default_rng(10 + seed)
    dec = _linear_d1(rng)
    x = rng.normal(size=(4, 3))
    enc = TabularEncoder(rng.normal(size=(4, 1)), rng.normal(size=(4, 1)) - 1.0)
    q = elbo(dec, enc, x, method="quadrature")
    ex = elbo(dec, enc, x, method="exact")
    np.testing.assert_allclose(q.per_point, ex.per_point, rtol=1e-9)


def test_narrow_posterior_and_tiny_noise_still_agree() -> None:
    """A sharp likelihood (sigma^2 = e^-12) puts the mass in a tiny interval of t."""
    W = np.array([[3.0], [-1.0]])
    dec = LinearGaussianDecoder(W, np.zeros(2), -12.0)
    x = np.array([[1.5, -0.5], [0.3, -0.1]])
    q = log_likelihood(dec, x, method="quadrature")
    ex = log_likelihood(dec, x, method="exact")
    assert q.value == pytest.approx(ex.value, rel=1e-9)


def test_gaussian_mlp_d1_quadrature_agrees_with_mc(assert_within_se) -> None:
    dec = GaussianMLPDecoder(1, 8, 3, Floor(0.05), seed=4)
    enc = GaussianMLPEncoder(3, 8, 1, seed=4)
    x = np.random.default_rng(2).normal(size=(3, 3))
    q_ll = log_likelihood(dec, x, method="quadrature")
    mc_ll = log_likelihood(dec, x, method="mc", samples=4000, seed=1, device="cpu")
    assert_within_se(mc_ll.value, mc_ll.se, q_ll.value, what="IWAE vs quadrature, Gaussian MLP")
    q_el = elbo(dec, enc, x, method="quadrature")
    mc_el = elbo(dec, enc, x, method="mc", samples=4000, seed=2, device="cpu")
    assert_within_se(mc_el.value, mc_el.se, q_el.value, what="MC ELBO vs quadrature, Gaussian MLP")
    assert q_el.value < q_ll.value


def test_bernoulli_d1_quadrature_agrees_with_mc(assert_within_se) -> None:
    dec = BernoulliMLPDecoder(1, 6, 4, seed=2)
    enc = TabularEncoder(np.array([[0.5], [-0.5]]), np.array([[-1.0], [-0.5]]))
    x = np.array([[1, 0, 1, 1], [0, 0, 1, 0]], dtype=float)
    q_ll = log_likelihood(dec, x, method="quadrature")
    mc_ll = montecarlo.iwae_mc(dec, torch.tensor(x), None, samples=4000, seed=3, device="cpu")
    assert_within_se(mc_ll.value, mc_ll.se, q_ll.value, what="IWAE vs quadrature, Bernoulli")
    q_el = elbo(dec, enc, x, method="quadrature")
    mc_el = elbo(dec, enc, x, method="mc", samples=4000, seed=4, device="cpu")
    assert_within_se(mc_el.value, mc_el.se, q_el.value, what="MC ELBO vs quadrature, Bernoulli")


def test_quadrature_refuses_a_latent_dimension_above_one() -> None:
    dec = LinearGaussianDecoder(np.ones((3, 2)), np.zeros(3), 0.0)
    with pytest.raises(WellposedInputError, match="1-D latent.*method='mc'"):
        log_likelihood(dec, np.zeros((2, 3)), method="quadrature")
    with pytest.raises(WellposedInputError, match="1-D latent.*method='mc'"):
        quadrature.elbo_quadrature(
            dec, TabularEncoder(np.zeros((2, 2)), 0.0), torch.zeros(2, 3, dtype=torch.float64)
        )


def test_quadrature_refuses_scales_that_underflow() -> None:
    dec = GaussianMLPDecoder(1, 4, 2, seed=0)
    dec.set_weights(W5=np.zeros((2, 4)), b5=np.full(2, -2e4))
    with pytest.raises(WellposedInputError, match="use method='exact' or 'mc'"):
        log_likelihood(dec, np.zeros((1, 2)), method="quadrature")


def test_gauss_kronrod_rule_is_qk21() -> None:
    """The 21-point Kronrod rule integrates polynomials of degree <= 31 exactly on [-1, 1]
    and its Gauss part is the 10-point Gauss-Legendre rule."""
    for deg in range(32):
        want = (1.0 - (-1.0) ** (deg + 1)) / (deg + 1)
        assert abs(float(quadrature._W_K @ quadrature._NODES**deg) - want) < 1e-14
    gx, gw = np.polynomial.legendre.leggauss(10)
    on = quadrature._W_G > 0
    np.testing.assert_allclose(quadrature._NODES[on], gx, atol=1e-15)
    np.testing.assert_allclose(quadrature._W_G[on], gw, atol=1e-15)


def test_adaptive_integration_per_item_resolves_a_narrow_bump_and_a_steep_step() -> None:
    """Several integrands in one call, each with its own breakpoints, to ~1e-13."""
    width = 1e-3

    def func(t: np.ndarray, item: np.ndarray) -> np.ndarray:
        bump = np.exp(-0.5 * ((t - 0.3) / width) ** 2)
        step = 0.5 * (1.0 + np.tanh(200.0 * (t - 1.0))) * np.exp(-0.5 * t * t)
        return np.where(item == 0, bump, step)

    val, err = quadrature._integrate(
        func, [[0.29, 0.3, 0.31], [0.9, 1.0, 1.1]], np.array([width * 2.5, 0.2])
    )
    assert val[0] == pytest.approx(width * np.sqrt(2.0 * np.pi), rel=1e-12)
    from scipy.integrate import quad

    ref = quad(
        lambda t: func(np.array([t]), np.array([1]))[0],
        -40.0,
        40.0,
        points=[0.9, 1.0, 1.1],
        epsabs=1e-14,
        epsrel=1e-13,
        limit=500,
    )[0]
    assert val[1] == pytest.approx(ref, rel=1e-11)
    assert np.all((err >= 0) & (err < 1e-10))
