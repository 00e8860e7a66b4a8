"""Decoders and encoders: App. C.2 forward pass against a numpy/scipy re-implementation,
perfect reconstruction at log sigma^2 down to -2e4, settable weights, shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch

from wellposed.models import networks
from wellposed.models.densities import gaussian_log_prob, gaussian_rows_inplace_
from wellposed.models.networks import (
    BernoulliMLPDecoder,
    GaussianMLPDecoder,
    GaussianMLPEncoder,
    LinearGaussianDecoder,
    TabularEncoder,
    prior_log_prob,
)
from wellposed.models.variance import Fixed, Floor, SharedScalar, SoftClip, ValueClamp
from wellposed.numerics import LOG_2PI

T = torch.float64
D, d, H = 6, 2, 5


def _np(dec: torch.nn.Module, name: str) -> np.ndarray:
    return getattr(dec, name).detach().numpy()


def _spike_decoder(x0: np.ndarray, log_var: float) -> GaussianMLPDecoder:
    """App. C.2 decoder with ``mu = x0`` and ``log sigma^2 = log_var`` for every ``t``."""
    dec = GaussianMLPDecoder(d, H, D, seed=3)
    return dec.set_weights(W4=np.zeros((D, H)), b4=x0, W5=np.zeros((D, H)), b5=np.full(D, log_var))


def test_gaussian_decoder_log_prob_matches_numpy_and_scipy() -> None:
    rng = np.random.default_rng(0)
    dec = GaussianMLPDecoder(d, H, D, seed=11)
    dec.set_weights(b3=rng.normal(size=H), b4=rng.normal(size=D), b5=rng.normal(size=D))
    x, t = rng.normal(size=(4, D)), rng.normal(size=(3, 4, d))
    h = np.tanh(t @ _np(dec, "W3").T + _np(dec, "b3"))
    mu = h @ _np(dec, "W4").T + _np(dec, "b4")
    lv = h @ _np(dec, "W5").T + _np(dec, "b5")
    want = scipy.stats.norm.logpdf(x, mu, np.exp(0.5 * lv)).sum(-1)
    with torch.no_grad():
        got = dec.log_prob(torch.tensor(x), torch.tensor(t))
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_bernoulli_decoder_log_prob_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    dec = BernoulliMLPDecoder(d, H, D, seed=5)
    x = (rng.uniform(size=(4, D)) > 0.5).astype(float)
    t = rng.normal(size=(2, 4, d))
    logits = np.tanh(t @ _np(dec, "W3").T + _np(dec, "b3")) @ _np(dec, "W4").T + _np(dec, "b4")
    want = scipy.stats.bernoulli.logpmf(x, scipy.special.expit(logits)).sum(-1)
    with torch.no_grad():
        got = dec.log_prob(torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


@pytest.mark.parametrize("log_var", [-2e4, -1e4, -700.0, 0.0, 700.0])
def test_perfect_reconstruction_is_finite_and_equals_the_closed_form(log_var: float) -> None:
    """Issue 2: log p(x|t) = (D/2)(-log 2pi - log sigma^2) for every latent value."""
    x0 = np.linspace(-1.0, 2.0, D)
    dec = _spike_decoder(x0, log_var)
    t = torch.tensor(np.random.default_rng(2).normal(size=(7, 1, d)))
    for grad in (False, True):  # fast (no-grad) and autograd paths
        with torch.set_grad_enabled(grad):
            got = dec.log_prob(torch.tensor(x0[None, :]), t)
        assert torch.isfinite(got).all()
        np.testing.assert_allclose(got.detach().numpy(), 0.5 * D * (-LOG_2PI - log_var), rtol=1e-15)


@pytest.mark.parametrize(("log_var", "r"), [(-700.0, 1e-3), (-700.0, 0.5), (-1400.0, 1e-300)])
def test_nonzero_residual_gives_the_exact_huge_negative_value(log_var: float, r: float) -> None:
    x0 = np.zeros(D)
    dec = _spike_decoder(x0, log_var)
    x = np.full((1, D), r)
    want = -0.5 * D * (LOG_2PI + log_var + math.exp(2 * math.log(r) - log_var))
    t = torch.zeros((3, 1, d), dtype=T)
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            got = dec.log_prob(torch.tensor(x), t).detach()
        assert torch.isfinite(got).all()
        assert float(got[0, 0]) < -1e5
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


@pytest.mark.parametrize("log_var", [-2e4, -1e4, -1500.0])
def test_overflowing_residual_gives_minus_inf_never_nan(log_var: float) -> None:
    dec = _spike_decoder(np.zeros(D), log_var)
    x = torch.tensor(np.r_[np.zeros(D - 1), 1e-3][None, :])
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            got = dec.log_prob(x, torch.zeros((2, 1, d), dtype=T)).detach()
        assert torch.equal(got, torch.full((2, 1), -math.inf, dtype=T))


def test_decoder_gradients_are_finite_at_a_perfect_reconstruction() -> None:
    x0 = np.linspace(0.0, 1.0, D)
    dec = _spike_decoder(x0, -2e4)
    out = dec.log_prob(torch.tensor(x0[None, :]), torch.randn(4, 1, d, dtype=T)).sum()
    out.backward()
    for name, p in dec.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert torch.equal(dec.b5.grad, torch.full((D,), -0.5 * 4, dtype=T))  # d/d log sigma^2


def test_floor_policy_caps_the_decoder_log_density() -> None:
    """Every sample obeys log p(x|t) <= -(D/2)(log 2pi + log xi) (CLAIMS S4)."""
    x0 = np.ones(D)
    dec = GaussianMLPDecoder(d, H, D, Floor(1e-2), seed=1)
    dec.set_weights(W4=np.zeros((D, H)), b4=x0, W5=np.zeros((D, H)), b5=np.full(D, -2e4))
    with torch.no_grad():
        got = dec.log_prob(torch.tensor(x0[None, :]), torch.randn(5, 1, d, dtype=T))
    np.testing.assert_allclose(got.numpy(), -0.5 * D * (LOG_2PI + math.log(1e-2)), rtol=1e-14)


def test_linear_decoder_matches_scipy_multivariate_normal() -> None:
    rng = np.random.default_rng(4)
    W, b, lv = rng.normal(size=(D, d)), rng.normal(size=D), rng.normal(size=D)
    dec = LinearGaussianDecoder(W, b, lv)
    x, t = rng.normal(size=(3, D)), rng.normal(size=(3, d))
    want = [
        scipy.stats.multivariate_normal.logpdf(x[i], W @ t[i] + b, np.diag(np.exp(lv)))
        for i in range(3)
    ]
    with torch.no_grad():
        got = dec.log_prob(torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    scalar = LinearGaussianDecoder(W, b, 0.3)
    assert torch.equal(scalar.log_var_vector, torch.full((D,), 0.3, dtype=T))


def test_prior_log_prob_matches_scipy() -> None:
    t = np.random.default_rng(5).normal(size=(4, 3))
    want = scipy.stats.multivariate_normal.logpdf(t, np.zeros(3), np.eye(3))
    np.testing.assert_allclose(prior_log_prob(torch.tensor(t)).numpy(), want, rtol=1e-14)


def test_encoders_shapes_and_tabular_values() -> None:
    enc = GaussianMLPEncoder(D, H, d, seed=0)
    m, lv = enc(torch.randn(4, D, dtype=T))
    assert m.shape == lv.shape == (4, d)
    assert m.dtype == T
    means = np.arange(6.0).reshape(3, 2)
    tab = TabularEncoder(means, -1.0)
    m, lv = tab(torch.zeros(3, D, dtype=T))
    assert torch.equal(m.detach(), torch.tensor(means))
    assert (lv == -1.0).all()


def test_same_seed_same_weights_and_set_weights_is_exact() -> None:
    a, b = GaussianMLPDecoder(d, H, D, seed=7), GaussianMLPDecoder(d, H, D, seed=7)
    c = GaussianMLPDecoder(d, H, D, seed=8)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.W4, c.W4)
    w = np.random.default_rng(0).normal(size=(D, H))
    a.set_weights(W5=w)
    assert np.array_equal(a.W5.detach().numpy(), w)
    assert a.W5.dtype == T


POLICIES = [None, Floor(1e-3), SoftClip(), Fixed(0.3), SharedScalar(-2.0), ValueClamp(-4.0)]


def _safe(dec: GaussianMLPDecoder, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    mean, log_var = dec(t)
    return gaussian_log_prob(x, mean, log_var).sum(-1).detach()


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: "learned" if p is None else p.name)
def test_fused_no_grad_path_agrees_with_the_safe_path(
    policy: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(8)
    dec = GaussianMLPDecoder(3, 9, 11, policy, seed=2)
    dec.set_weights(b5=rng.normal(size=11) * 3, W5=rng.normal(size=(11, 9)) * 2)
    x = torch.tensor(rng.normal(size=(5, 11)))
    t = torch.tensor(rng.normal(size=(2, 4, 5, 3)))
    want = _safe(dec, x, t)
    monkeypatch.setattr(networks, "_BLOCK_ROWS", 7)  # several blocks, 1 sample each
    with torch.no_grad():
        got = dec.log_prob(x, t)
    assert got.shape == (2, 4, 5)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_extreme_rows_take_the_safe_path_inside_a_fused_block() -> None:
    """Rows with log sigma^2 = -2e4 make the fast formula 0 * inf; they must be recomputed."""
    x0 = np.linspace(-1.0, 1.0, D)
    dec = GaussianMLPDecoder(d, H, D, seed=4)
    # log sigma^2 = -1e4 (1 + tanh(50 t_1)): about -2e4 for t_1 > 0, about 0 for t_1 < 0
    W3 = np.zeros((H, d))
    W3[0, 0] = 50.0
    W5 = np.zeros((D, H))
    W5[:, 0] = -1e4
    dec.set_weights(W3=W3, b3=np.zeros(H), W4=np.zeros((D, H)), b4=x0, W5=W5, b5=np.full(D, -1e4))
    t = torch.tensor(np.random.default_rng(3).normal(size=(40, 1, d)))
    x = torch.tensor(x0[None, :])
    with torch.no_grad():
        mean, log_var = dec(t)
        fast = gaussian_rows_inplace_(x, mean.clone(), log_var.clone())
        got = dec.log_prob(x, t)
    extreme = (t[..., 0] > 0.1).squeeze(-1)
    assert extreme.any()
    assert (~extreme).any()
    assert not torch.isfinite(fast[extreme.nonzero()[:, 0]]).any()  # fast formula fails there
    want = _safe(dec, x, t)
    assert torch.isfinite(got).all()
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    with torch.no_grad():  # and a residual at the spike gives -inf, never NaN
        far = dec.log_prob(x + 1e-3, t)
    assert torch.equal(far[extreme], torch.full_like(far[extreme], -math.inf))
    assert not torch.isnan(far).any()


def test_fast_row_kernel_matches_the_safe_elementwise_sum() -> None:
    rng = np.random.default_rng(6)
    x = torch.tensor(rng.normal(size=(4, 50)))
    mean = torch.tensor(rng.normal(size=(3, 4, 50)))
    lv = torch.tensor(rng.uniform(-700.0, 700.0, size=(3, 4, 50)))
    want = gaussian_log_prob(x, mean, lv).sum(-1)
    got = gaussian_rows_inplace_(x, mean.clone(), lv.clone())
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
