"""The three evaluation lines agree where they overlap (docs/design.md, trust rules).

* linear-Gaussian decoder, 1-D latent: exact = quadrature (relative 1e-8) for ELBO and
  log-likelihood, and Monte Carlo within 4 standard errors of exact;
* any latent size: MC ELBO within 4 SE of exact; IWAE with the exact posterior as proposal
  has constant weights and equals the exact log-likelihood;
* IWAE with K = 1 equals the sampled-KL ELBO under common random numbers;
* the optimal linear VAE (exact posterior at the pPCA maximum) has ELBO equal to the pPCA
  maximum log-likelihood (Tipping & Bishop 1999; L5).

MC runs on the CPU with a drawn seed so that ``reports/properties.md`` is reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wellposed.lines import exact, montecarlo, objectives
from wellposed.models.networks import GaussianMLPDecoder, LinearGaussianDecoder, TabularEncoder
from wellposed.testing import strategies as wst

_FEW = max(4, settings.default.max_examples // 3)  # quadrature: ~0.3 s per point
_QUAD_WARNINGS = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
SE_LIMIT = 4.0
REL = 1e-8


_JUST_1 = st.just(1)


def _z(estimate: float, se: float, reference: float) -> float:
    """``|estimate - reference| / SE``; the SE is floored at 1e-10 relative (the reference's
    own accuracy), so an integrand constant in ``t`` (SE 0 up to rounding) gives ``z ~ 0``."""
    return abs(estimate - reference) / math.hypot(se, 1e-10 * (1.0 + abs(reference)))


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


@st.composite
def linear_cases(
    draw: st.DrawFn, latent_dim: st.SearchStrategy[int] = _JUST_1, max_n: int = 3
) -> tuple[np.ndarray, LinearGaussianDecoder, TabularEncoder]:
    """Distinct data, a drawn linear-Gaussian decoder and a drawn tabular encoder."""
    x = draw(wst.distinct_points(n=st.integers(1, max_n), D=st.integers(1, 3)))
    n, D = x.shape
    d = draw(latent_dim)
    dec = draw(wst.linear_decoders(D, d))
    enc = draw(wst.tabular_encoders(n, d, log_var=(-6.0, 1.0)))
    return x, dec, enc


@pytest.mark.claims("L5", "S2")
@_QUAD_WARNINGS
@settings(max_examples=_FEW)
@given(case=linear_cases(), seed=wst.seeds())
def test_linear_exact_quadrature_mc_agree(scores, case, seed: int) -> None:
    """Linear-Gaussian decoder, d = 1: ELBO and log-likelihood by the
    closed form and by scipy quadrature agree to 1e-8 (relative); the MC ELBO is within
    4 SE of the closed form."""
    x, dec, enc = case
    el_ex = objectives.elbo(dec, enc, x, method="exact").value
    el_q = objectives.elbo(dec, enc, x, method="quadrature").value
    ll_ex = objectives.log_likelihood(dec, x, method="exact").value
    ll_q = objectives.log_likelihood(dec, x, method="quadrature").value
    rel = max(_rel(el_q, el_ex), _rel(ll_q, ll_ex))
    scores.observe(rel, REL, fmt="exp", label="relative_error")
    assert rel <= REL, f"exact vs quadrature: ELBO {el_ex!r} / {el_q!r}, ll {ll_ex!r} / {ll_q!r}"
    mc = objectives.elbo(dec, enc, x, method="mc", samples=4000, seed=seed, device="cpu")
    z = _z(mc.value, mc.se, el_ex)
    scores.observe(z, SE_LIMIT, label="mc_z")
    assert z <= SE_LIMIT, f"MC ELBO {mc.value!r} vs exact {el_ex!r}: |z| = {z:.2f}"


@pytest.mark.claims("L5")
@given(case=linear_cases(latent_dim=st.integers(1, 3), max_n=5), seed=wst.seeds())
def test_linear_exact_mc_agree_any_latent(scores, case, seed: int) -> None:
    """Any latent size: the MC ELBO is within 4 SE of the closed form, and IWAE
    with the exact posterior as proposal (constant weights) equals the exact
    log-likelihood to 1e-9."""
    x, dec, enc = case
    el_ex = objectives.elbo(dec, enc, x, method="exact").value
    mc = objectives.elbo(dec, enc, x, method="mc", samples=4000, seed=seed, device="cpu")
    z = _z(mc.value, mc.se, el_ex)
    scores.observe(z, SE_LIMIT, label="mc_z")
    assert z <= SE_LIMIT, f"MC ELBO {mc.value!r} vs exact {el_ex!r}: |z| = {z:.2f}"
    W, b, lv = (a.detach().numpy() for a in (dec.W, dec.b, dec.log_var_vector))
    means, cov = exact.linear_posterior(x, W, b, lv)
    post = TabularEncoder(means, np.log(np.diag(cov))[None, :].repeat(len(x), 0))
    if np.allclose(cov, np.diag(np.diag(cov)), rtol=0.0, atol=1e-12 * np.abs(cov).max()):
        ll_ex = objectives.log_likelihood(dec, x, method="exact").value
        iw = montecarlo.iwae_mc(dec, torch.as_tensor(x), post, samples=16, seed=seed, device="cpu")
        rel = _rel(iw.value, ll_ex)
        scores.observe(rel, 1e-9, fmt="exp", label="iwae_exact_posterior")
        assert rel <= 1e-9, f"IWAE with the exact posterior {iw.value!r} != {ll_ex!r}"


@st.composite
def _any_model(draw: st.DrawFn):
    x = draw(wst.datasets(n=st.integers(1, 6), D=st.integers(1, 4)))
    n, D = x.shape
    d = draw(st.integers(1, 3))
    if draw(st.booleans()):
        dec = draw(wst.linear_decoders(D, d))
    else:
        dec = draw(wst.gaussian_decoders(D, st.just(d), max_log10_scale=2.0))
    return x, dec, draw(wst.tabular_encoders(n, d))


@given(case=_any_model(), seed=wst.seeds(), samples=st.integers(1, 64))
def test_iwae_k1_equals_sampled_kl_elbo(scores, case, seed: int, samples: int) -> None:
    """No claim of its own (an estimator identity behind the MC line of every claim).
    Identity under common random numbers (Burda et al. 2016):
    ``iwae_mc(samples=1, replicates=S)`` equals ``elbo_mc(samples=S, kl="sampled")``
    with the same seed, per point, for linear and App. C.2 decoders of any latent size."""
    x, dec, enc = case
    xt = torch.as_tensor(x)
    iw = montecarlo.iwae_mc(dec, xt, enc, samples=1, replicates=samples, seed=seed, device="cpu")
    el = montecarlo.elbo_mc(dec, enc, xt, samples=samples, kl="sampled", seed=seed, device="cpu")
    a, b = iw.per_point.numpy(), el.per_point.numpy()
    finite = np.isfinite(a) & np.isfinite(b)
    assert np.array_equal(finite, np.isfinite(a))
    assert np.array_equal(finite, np.isfinite(b))
    assert np.array_equal(a[~finite], b[~finite])
    rel = float(np.max(np.abs(a[finite] - b[finite]) / (1.0 + np.abs(b[finite])), initial=0.0))
    scores.observe(rel, 1e-10, fmt="exp")
    assert rel <= 1e-10, f"IWAE(K=1) {a} != sampled-KL ELBO {b}"


@given(
    x=wst.distinct_points(n=st.integers(4, 8), D=st.integers(2, 4)),
    latent_dim=st.integers(1, 3),
)
@pytest.mark.claims("L5")
def test_optimal_linear_vae_elbo_equals_ppca(scores, x: np.ndarray, latent_dim: int) -> None:
    """At the pPCA maximum-likelihood parameters with the exact posterior as
    encoder, the linear-VAE ELBO (closed form) equals the pPCA maximum log-likelihood and
    the closed-form marginal likelihood (relative 1e-9)."""
    n, D = x.shape
    d = min(latent_dim, D - 1)
    evals = np.linalg.eigvalsh(np.cov(x.T, bias=True))[::-1]
    if evals[d - 1] <= np.mean(evals[d:]) * (1 + 1e-6) or np.mean(evals[d:]) < 1e-10:
        scores.observe(0.0, 1e-9, fmt="exp")
        return  # rank(S) <= d: unbounded (L5), covered by the unbounded properties
    fit = exact.ppca_fit(x, d)
    dec = LinearGaussianDecoder(fit["W"], fit["b"], fit["log_var"])
    means, cov = exact.linear_posterior(x, fit["W"], fit["b"], fit["log_var"])
    enc = TabularEncoder(means, np.log(np.diag(cov))[None, :].repeat(n, 0))
    el = objectives.elbo(dec, enc, x, method="exact").value
    ll = objectives.log_likelihood(dec, x, method="exact").value
    rel = max(_rel(el, fit["max_log_lik"]), _rel(ll, fit["max_log_lik"]))
    scores.observe(rel, 1e-9, fmt="exp")
    assert rel <= 1e-9, f"ELBO {el!r}, marginal {ll!r}, pPCA maximum {fit['max_log_lik']!r}"


@_QUAD_WARNINGS
@settings(max_examples=_FEW)
@given(
    x=wst.distinct_points(n=st.integers(1, 2), D=st.integers(1, 2)),
    dec=st.integers(1, 2).flatmap(
        lambda D: wst.gaussian_decoders(
            D, st.just(1), variance=wst.floored_policies(), max_log10_scale=1.0
        )
    ),
    seed=wst.seeds(),
)
@pytest.mark.claims("S4", "L1")
def test_mlp_quadrature_mc_agree(scores, x: np.ndarray, dec: GaussianMLPDecoder, seed) -> None:
    """App. C.2 decoder with a floor, d = 1: the MC ELBO is within 4 SE of
    the quadrature ELBO (no closed form exists; the two lines share no code)."""
    if x.shape[1] != dec.data_dim:
        x = np.resize(x, (x.shape[0], dec.data_dim)) + np.arange(dec.data_dim)
    rng = np.random.default_rng(seed)
    enc = TabularEncoder(rng.normal(size=(len(x), 1)), rng.uniform(-4, 0, size=(len(x), 1)))
    q = objectives.elbo(dec, enc, x, method="quadrature").value
    mc = objectives.elbo(dec, enc, x, method="mc", samples=4000, seed=seed, device="cpu")
    z = _z(mc.value, mc.se, q)
    scores.observe(z, SE_LIMIT)
    assert z <= SE_LIMIT, f"MC {mc.value!r} (SE {mc.se!r}) vs quadrature {q!r}"
