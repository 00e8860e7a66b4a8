"""The torch Monte Carlo line: agreement with closed forms (within 4 SE, z reported),
common random numbers, seeding, chunking invariance and calibrated standard errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wellposed.evidence.checks import SE_RATIO_MAX
from wellposed.lines import exact, montecarlo
from wellposed.models.networks import (
    GaussianMLPDecoder,
    GaussianMLPEncoder,
    LinearGaussianDecoder,
    TabularEncoder,
)
from wellposed.models.variance import Floor
from wellposed.numerics import LOG_2PI

T = torch.float64


def _linear_problem(seed: int = 0, n: int = 6, Dx: int = 4, d: int = 2):
    rng = np.random.default_rng(seed)
    W, b, lv = rng.normal(size=(Dx, d)), rng.normal(size=Dx), rng.normal(size=Dx) - 0.5
    dec = LinearGaussianDecoder(W, b, lv)
    enc = TabularEncoder(rng.normal(size=(n, d)) * 0.5, rng.normal(size=(n, d)) * 0.3 - 1.0)
    x = rng.normal(size=(n, Dx))
    m, qlv = enc.mean.detach().numpy(), enc.log_var.detach().numpy()
    ex_elbo = float(
        (exact.linear_expected_log_lik(x, W, b, lv, m, qlv) - exact.gaussian_kl(m, qlv)).sum()
    )
    ex_ll = float(exact.linear_log_marginal(x, W, b, lv).sum())
    return dec, enc, torch.tensor(x), ex_elbo, ex_ll


@pytest.mark.parametrize("kl", ["analytic", "sampled"])
def test_mc_elbo_is_within_4_se_of_the_closed_form(kl: str, assert_within_se) -> None:
    dec, enc, x, ex_elbo, _ = _linear_problem()
    res = montecarlo.elbo_mc(dec, enc, x, samples=5000, seed=1, kl=kl, device="cpu")
    assert_within_se(res.value, res.se, ex_elbo, what=f"MC ELBO ({kl} KL)")
    assert res.n_samples == 5000
    assert res.seed == 1
    assert res.device == "cpu"
    assert res.value == pytest.approx(float(res.per_point.sum()), rel=1e-14)


@pytest.mark.parametrize("replicates", [1, 5])
def test_iwae_is_within_4_se_of_the_exact_log_likelihood(replicates: int, assert_within_se) -> None:
    dec, enc, x, _, ex_ll = _linear_problem(seed=2)
    res = montecarlo.iwae_mc(dec, x, enc, samples=2000, replicates=replicates, seed=3, device="cpu")
    assert_within_se(res.value, res.se, ex_ll, what=f"IWAE K=2000 R={replicates}")


def test_iwae_with_k1_equals_the_sampled_kl_elbo_under_common_random_numbers() -> None:
    dec = GaussianMLPDecoder(3, 7, 5, Floor(0.1), seed=2)
    enc = GaussianMLPEncoder(5, 7, 3, seed=2)
    x = torch.tensor(np.random.default_rng(0).normal(size=(7, 5)))  # n*d = 21: not a multiple of 16
    for S, seed in [(1, 0), (37, 5), (400, 9)]:
        iw = montecarlo.iwae_mc(dec, x, enc, samples=1, replicates=S, seed=seed, device="cpu")
        el = montecarlo.elbo_mc(dec, enc, x, samples=S, kl="sampled", seed=seed, device="cpu")
        np.testing.assert_allclose(iw.per_point.numpy(), el.per_point.numpy(), rtol=1e-12)
        assert iw.value == pytest.approx(el.value, rel=1e-12)
        assert iw.se == pytest.approx(el.se, rel=1e-9, abs=1e-300)
        assert iw.n_samples == el.n_samples == S


def test_a_seed_reproduces_and_another_seed_differs() -> None:
    dec, enc, x, _, _ = _linear_problem(seed=4)
    a = montecarlo.elbo_mc(dec, enc, x, samples=300, seed=7, device="cpu")
    b = montecarlo.elbo_mc(dec, enc, x, samples=300, seed=7, device="cpu")
    c = montecarlo.elbo_mc(dec, enc, x, samples=300, seed=8, device="cpu")
    assert a.value == b.value
    assert torch.equal(a.per_point, b.per_point)
    assert a.se == b.se
    assert a.value != c.value


def test_results_do_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    dec, enc, x, _, _ = _linear_problem(seed=5, n=3, d=3)  # n*d = 9
    big_e = montecarlo.elbo_mc(dec, enc, x, samples=500, seed=2, device="cpu")
    big_i = montecarlo.iwae_mc(dec, x, enc, samples=50, replicates=4, seed=2, device="cpu")
    monkeypatch.setattr(montecarlo, "_CHUNK_ELEMENTS", 7 * 3 * 4)  # 7 samples per chunk
    small_e = montecarlo.elbo_mc(dec, enc, x, samples=500, seed=2, device="cpu")
    small_i = montecarlo.iwae_mc(dec, x, enc, samples=50, replicates=4, seed=2, device="cpu")
    assert small_e.value == pytest.approx(big_e.value, rel=1e-13)
    assert small_e.se == pytest.approx(big_e.se, rel=1e-10)
    np.testing.assert_allclose(small_i.per_point.numpy(), big_i.per_point.numpy(), rtol=1e-13)


def test_standard_errors_are_calibrated_across_seeds() -> None:
    """The spread of 100 independent estimates matches the reported SE (ratio in [0.7, 1.3])."""
    dec, enc, x, _, ex_ll = _linear_problem(seed=6, n=3)
    el = [montecarlo.elbo_mc(dec, enc, x, samples=40, seed=s, device="cpu") for s in range(100)]
    ratio = np.std([r.value for r in el], ddof=1) / np.mean([r.se for r in el])
    assert 0.7 < ratio < 1.3, f"ELBO: empirical sd / mean SE = {ratio:.3f}"
    iw = [montecarlo.iwae_mc(dec, x, enc, samples=200, seed=s, device="cpu") for s in range(100)]
    ratio = np.std([r.value for r in iw], ddof=1) / np.mean([r.se for r in iw])
    assert 0.7 < ratio < 1.3, f"IWAE delta-method SE: empirical sd / mean SE = {ratio:.3f}"


def test_floor_gives_a_deterministic_bound_on_every_estimate() -> None:
    """log p(x|t) <= -(D/2)(log 2pi + log xi) per sample, so MC ELBO <= n*that - KL exactly."""
    Dx, d, xi = 4, 2, 1e-2
    dec = GaussianMLPDecoder(d, 5, Dx, Floor(xi), seed=0)
    dec.set_weights(W5=np.zeros((Dx, 5)), b5=np.full(Dx, -2e4))
    enc = GaussianMLPEncoder(Dx, 5, d, seed=0)
    x = torch.tensor(np.random.default_rng(1).normal(size=(5, Dx)))
    m, lv = (a.detach().numpy() for a in enc(x))
    bound = 5 * (-0.5 * Dx * (LOG_2PI + np.log(xi))) - exact.gaussian_kl(m, lv).sum()
    for seed in range(3):
        res = montecarlo.elbo_mc(dec, enc, x, samples=200, seed=seed, device="cpu")
        assert res.value <= bound


def test_extreme_decoder_values_are_finite_in_the_estimators() -> None:
    """A perfect reconstruction at log sigma^2 = -2e4 gives the closed form, no NaN."""
    Dx, d = 3, 1
    x0 = np.array([0.5, -1.0, 2.0])
    dec = GaussianMLPDecoder(d, 4, Dx, seed=1)
    dec.set_weights(W4=np.zeros((Dx, 4)), b4=x0, W5=np.zeros((Dx, 4)), b5=np.full(Dx, -2e4))
    enc = TabularEncoder(np.zeros((1, 1)), 0.0)  # q = prior: KL = 0
    res = montecarlo.elbo_mc(dec, enc, torch.tensor(x0[None, :]), samples=50, seed=0, device="cpu")
    assert res.value == pytest.approx(0.5 * Dx * (-LOG_2PI + 2e4), rel=1e-14)
    assert res.se < 1e-12 * abs(res.value)  # every sample gives the same value
    far = montecarlo.elbo_mc(
        dec, enc, torch.tensor(x0[None, :] + 1.0), samples=5, seed=0, device="cpu"
    )
    assert far.value == -np.inf


def test_auto_device_is_recorded() -> None:
    dec, enc, x, _, _ = _linear_problem(seed=7)
    res = montecarlo.elbo_mc(dec, enc, x, samples=10, seed=0, device="auto")
    assert res.device == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("seed", range(20))
def test_the_standard_errors_agree_with_their_batch_means_over_seeds(seed: int) -> None:
    """``se`` and the batch-means ``se_batch`` of the same draws (the gate's check of the
    SE, ratio within [1/3, 3]) agree for the ELBO and the delta-method IWAE at every seed;
    a planted x10 would not."""
    dec, enc, x, _, _ = _linear_problem()
    e = montecarlo.elbo_mc(dec, enc, x, samples=200, seed=seed, device="cpu")
    w = montecarlo.iwae_mc(dec, x, enc, samples=200, seed=seed, device="cpu")
    r = montecarlo.iwae_mc(dec, x, enc, samples=10, replicates=40, seed=seed, device="cpu")
    for res in (e, w, r):
        assert res.se > 0 and np.isfinite(res.se_batch)
        assert 1 / SE_RATIO_MAX < res.se / res.se_batch < SE_RATIO_MAX
        assert not 1 / SE_RATIO_MAX < 10 * res.se / res.se_batch < SE_RATIO_MAX


def test_batch_means_need_a_sample_per_batch() -> None:
    dec, enc, x, _, _ = _linear_problem()
    assert np.isnan(montecarlo.elbo_mc(dec, enc, x, samples=10, seed=0, device="cpu").se_batch)
    one = montecarlo.iwae_mc(dec, x, enc, samples=1, seed=0, device="cpu")
    assert one.se == 0.0 and one.se_batch == 0.0
