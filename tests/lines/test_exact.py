"""Closed forms (pPCA, linear decoder, Gaussian KL) against scipy, Gauss-Hermite rules and Arb."""

from __future__ import annotations

from collections.abc import Callable

import mpmath as mp
import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch

from wellposed import constructions
from wellposed.errors import WellposedInputError
from wellposed.lines import certified, exact, montecarlo
from wellposed.lines.objectives import elbo, log_likelihood
from wellposed.models.networks import LinearGaussianDecoder, TabularEncoder


def _gh_expectation(
    func: Callable[[np.ndarray], np.ndarray], m: np.ndarray, s: np.ndarray, order: int = 8
) -> float:
    """``E_{N(m, diag s^2)} func(t)`` by a tensor Gauss-Hermite rule (exact for quadratics)."""
    z, w = np.polynomial.hermite_e.hermegauss(order)
    w = w / w.sum()
    grids = np.meshgrid(*([z] * len(m)), indexing="ij")
    pts = np.stack([g.ravel() for g in grids], -1) * s + m
    wts = np.prod(np.meshgrid(*([w] * len(m)), indexing="ij"), axis=0).ravel()
    return float(wts @ func(pts))


def test_gaussian_kl_matches_quadrature_in_one_dimension() -> None:
    for m, lv in [(0.0, 0.0), (1.3, -2.0), (-0.4, 1.5), (3.0, -8.0)]:
        s = np.exp(0.5 * lv)
        q = scipy.stats.norm(m, s)
        val, _ = scipy.integrate.quad(
            lambda t, q=q: q.pdf(t) * (q.logpdf(t) - scipy.stats.norm.logpdf(t)),
            m - 40 * s,
            m + 40 * s,
            epsabs=0,
            epsrel=1e-13,
            limit=200,
        )
        got = float(exact.gaussian_kl(np.array([[m]]), np.array([[lv]]))[0])
        assert got == pytest.approx(val, rel=1e-9)


def test_gaussian_kl_matches_scipy_entropy_in_several_dimensions() -> None:
    rng = np.random.default_rng(0)
    m, lv = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    got = exact.gaussian_kl(m, lv)
    for i in range(5):
        q = scipy.stats.multivariate_normal(m[i], np.diag(np.exp(lv[i])))
        # KL = -H(q) - E_q log N(t|0,I), the cross term by Gauss-Hermite (exact, quadratic)
        cross = _gh_expectation(
            lambda t: scipy.stats.multivariate_normal.logpdf(t, np.zeros(3)),
            m[i],
            np.exp(0.5 * lv[i]),
            order=4,
        )
        assert got[i] == pytest.approx(-q.entropy() - cross, rel=1e-12)
    assert exact.gaussian_kl(np.zeros((1, 4)), np.zeros((1, 4)))[0] == 0.0


@pytest.mark.parametrize("latent", [1, 2])
def test_linear_expected_log_lik_matches_gauss_hermite(latent: int) -> None:
    rng = np.random.default_rng(latent)
    Dx = 4
    W, b, lv = rng.normal(size=(Dx, latent)), rng.normal(size=Dx), rng.normal(size=Dx)
    x, qm, qlv = (
        rng.normal(size=(3, Dx)),
        rng.normal(size=(3, latent)),
        rng.normal(size=(3, latent)),
    )
    got = exact.linear_expected_log_lik(x, W, b, lv, qm, qlv)
    for i in range(3):

        def f(t: np.ndarray, i: int = i) -> np.ndarray:
            return scipy.stats.norm.logpdf(x[i], t @ W.T + b, np.exp(0.5 * lv)).sum(-1)

        assert got[i] == pytest.approx(_gh_expectation(f, qm[i], np.exp(0.5 * qlv[i])), rel=1e-12)


def test_linear_log_marginal_matches_scipy_per_coordinate_variance() -> None:
    rng = np.random.default_rng(9)
    W, b, lv = rng.normal(size=(5, 2)), rng.normal(size=5), rng.normal(size=5)
    x = rng.normal(size=(20, 5))
    want = scipy.stats.multivariate_normal.logpdf(x, b, W @ W.T + np.diag(np.exp(lv)))
    np.testing.assert_allclose(exact.linear_log_marginal(x, W, b, lv), want, rtol=1e-12)


def test_ppca_log_likelihood_equals_scipy_to_1e_10(ppca_data: np.ndarray) -> None:
    fit = exact.ppca_fit(ppca_data, 2)
    W, b, sigma2 = fit["W"], fit["b"], np.exp(fit["log_var"])
    scipy_ll = scipy.stats.multivariate_normal.logpdf(
        ppca_data, b, W @ W.T + sigma2 * np.eye(5)
    ).sum()
    dec = LinearGaussianDecoder(W, b, fit["log_var"])
    ours = log_likelihood(dec, ppca_data, method="exact").value
    assert ours == pytest.approx(scipy_ll, rel=1e-10)
    assert fit["max_log_lik"] == pytest.approx(scipy_ll, rel=1e-10)


def test_ppca_fit_is_a_maximum(ppca_data: np.ndarray) -> None:
    fit = exact.ppca_fit(ppca_data, 2)
    base = exact.linear_log_marginal(ppca_data, fit["W"], fit["b"], fit["log_var"]).sum()
    rng = np.random.default_rng(3)
    for _ in range(20):
        W = fit["W"] + 1e-3 * rng.normal(size=fit["W"].shape)
        b = fit["b"] + 1e-3 * rng.normal(size=5)
        lv = fit["log_var"] + 1e-3 * rng.normal()
        assert exact.linear_log_marginal(ppca_data, W, b, lv).sum() < base


def _optimal_encoder(data: np.ndarray, fit: dict) -> tuple[LinearGaussianDecoder, TabularEncoder]:
    means, cov = exact.linear_posterior(data, fit["W"], fit["b"], fit["log_var"])
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 1e-14, "R = I gives a diagonal posterior"
    dec = LinearGaussianDecoder(fit["W"], fit["b"], fit["log_var"])
    return dec, TabularEncoder(means, np.log(np.diag(cov))[None, :].repeat(len(data), 0))


def test_optimal_linear_vae_elbo_equals_the_ppca_log_likelihood(ppca_data: np.ndarray) -> None:
    fit = exact.ppca_fit(ppca_data, 2)
    dec, enc = _optimal_encoder(ppca_data, fit)
    ll = log_likelihood(dec, ppca_data, method="exact").value
    assert elbo(dec, enc, ppca_data, method="exact").value == pytest.approx(ll, rel=1e-10)
    # with the exact posterior every importance weight equals p(x): IWAE is exact too
    iw = montecarlo.iwae_mc(dec, torch.tensor(ppca_data), enc, samples=64, seed=0, device="cpu")
    assert iw.value == pytest.approx(ll, rel=1e-10)
    # a worse encoder gives a strictly smaller ELBO
    worse = TabularEncoder(enc.mean.detach().numpy() + 0.1, enc.log_var.detach().numpy())
    assert elbo(dec, worse, ppca_data, method="exact").value < ll - 1e-3


def test_ppca_iwae_with_1000_samples_is_within_4_se(
    ppca_data: np.ndarray, assert_within_se
) -> None:
    fit = exact.ppca_fit(ppca_data, 2)
    dec, enc = _optimal_encoder(ppca_data, fit)
    ll = fit["max_log_lik"]
    x = torch.tensor(ppca_data)
    prior = montecarlo.iwae_mc(dec, x, None, samples=2000, seed=11, device="cpu")
    assert_within_se(prior.value, prior.se, ll, what="IWAE K=2000, prior proposal")
    # a proposal 1.5x wider than the posterior: valid, not exact
    wide = TabularEncoder(enc.mean.detach().numpy(), enc.log_var.detach().numpy() + np.log(1.5))
    res = montecarlo.iwae_mc(dec, x, wide, samples=1000, replicates=4, seed=12, device="cpu")
    assert_within_se(res.value, res.se, ll, what="IWAE K=1000 x 4 replicates, wide proposal")
    assert res.n_samples == 4000


def test_ppca_fit_rejects_degenerate_requests(ppca_data: np.ndarray) -> None:
    with pytest.raises(WellposedInputError, match="smaller latent_dim|latent_dim <"):
        exact.ppca_fit(ppca_data, 5)
    flat = np.c_[ppca_data[:, :2], ppca_data[:, :2] @ np.ones((2, 3))]  # rank 2 in R^5
    with pytest.raises(WellposedInputError, match="smaller latent_dim"):
        exact.ppca_fit(flat - flat.mean(0), 2)


def test_spike_log_lik_resolves_the_double_exponential_cliff():
    """At k = 1050 a point at squared distance 0.087 from the spike peaks at
    -lv = log(D/R) and falls double-exponentially just after; an independent mpmath
    integral (40 digits) is the reference."""
    D, k, R = 2, 1050.0, 0.0865927459604896

    def g(u):
        lv = -k / (1 + mp.e ** (-2 * k * u))
        return mp.e ** (-(D / 2) * (mp.log(2 * mp.pi) + lv) - (R / 2) * mp.e ** (-lv)) * mp.npdf(u)

    with mp.workdps(30):  # local: mpmath's precision is global state
        ref = float(mp.log(mp.quad(g, [-mp.inf, -1, -0.01, -0.003, 0, 0.01, 1, mp.inf])))
    got = exact.spike_log_lik(D, k, np.array([R]))[0]
    assert abs(got - ref) < 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_staircase_and_spike_meshes_agree_with_the_rigorous_enclosures(seed: int) -> None:
    """The exact line's graded meshes against lines/certified.py (Arb ball arithmetic, an
    independent rigorous integral) on L4's and L1's draws and sequences, up to rounding."""
    x = np.random.default_rng([seed, 64]).normal(size=(3, 2))
    for k in [0.25, 10.0, 30.0, 40.0, 160.0, 350.0]:
        c = constructions.staircase(x, k)
        ex, enc = exact.construction_values(c), certified.construction_values(c)
        for key in ("log_lik", "elbo"):
            assert certified.check(ex[key], enc[key]).all(), (k, key, ex[key], enc[key])
    xs = np.random.default_rng([seed, 11]).normal(size=(4, 2))
    R = np.sum((xs - xs[0]) ** 2, axis=1)
    for k in [20.0, 160.0, 640.0, 1050.0]:
        assert certified.check(
            exact.spike_log_lik(2, k, R), certified.spike_log_lik(2, k, R)
        ).all(), k
