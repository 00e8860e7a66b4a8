"""One interface over three lines: ``elbo`` / ``log_likelihood`` agree across methods."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wellposed import Estimate, elbo, log_likelihood
from wellposed.lines import exact
from wellposed.models.networks import LinearGaussianDecoder, TabularEncoder


@pytest.fixture
def linear_d1() -> tuple[LinearGaussianDecoder, TabularEncoder, np.ndarray]:
    rng = np.random.default_rng(3)
    dec = LinearGaussianDecoder(rng.normal(size=(3, 1)), rng.normal(size=3), rng.normal(size=3))
    enc = TabularEncoder(rng.normal(size=(4, 1)), rng.normal(size=(4, 1)) - 0.5)
    return dec, enc, rng.normal(size=(4, 3))


def test_all_three_lines_agree_on_the_elbo(linear_d1, assert_within_se) -> None:
    dec, enc, x = linear_d1
    ex = elbo(dec, enc, x, method="exact")
    q = elbo(dec, enc, x, method="quadrature")
    mc = elbo(dec, enc, x, method="mc", samples=4000, seed=5, device="cpu")
    assert q.value == pytest.approx(ex.value, rel=1e-8)
    z = assert_within_se(mc.value, mc.se, ex.value, what="elbo(method='mc') vs exact")
    assert isinstance(z, float)
    assert (ex.method, q.method, mc.method) == ("exact", "quadrature", "mc")
    assert ex.se == 0.0
    assert ex.n_samples is None
    assert ex.seed is None
    assert (mc.n_samples, mc.seed, mc.device) == (4000, 5, "cpu")
    for est in (ex, q, mc):
        assert isinstance(est, Estimate)
        assert est.per_point.shape == (4,)
        assert est.value == pytest.approx(float(est.per_point.sum()), rel=1e-14)


def test_all_three_lines_agree_on_the_log_likelihood(linear_d1, assert_within_se) -> None:
    dec, enc, x = linear_d1
    ex = log_likelihood(dec, x, method="exact")
    q = log_likelihood(dec, x, method="quadrature")
    # a proposal near the exact posterior (1.3x wider): IWAE needs a reasonable proposal
    W, b, lv = (a.detach().numpy() for a in (dec.W, dec.b, dec.log_var_vector))
    means, cov = exact.linear_posterior(x, W, b, lv)
    near = TabularEncoder(means + 0.1, np.log(1.3 * cov[0, 0]))
    mc = log_likelihood(dec, x, method="mc", encoder=near, samples=3000, seed=2, device="cpu")
    mc_prior = log_likelihood(dec, x, method="mc", samples=3000, seed=2, device="cpu")
    assert q.value == pytest.approx(ex.value, rel=1e-8)
    assert_within_se(mc.value, mc.se, ex.value, what="IWAE (encoder proposal) vs exact")
    assert_within_se(mc_prior.value, mc_prior.se, ex.value, what="IWAE (prior proposal) vs exact")
    assert elbo(dec, enc, x).value < ex.value  # ELBO <= log-likelihood


def test_data_may_be_a_list_an_array_or_a_tensor(linear_d1) -> None:
    dec, enc, x = linear_d1
    values = {elbo(dec, enc, d).value for d in (x, x.tolist(), torch.tensor(x))}
    assert len(values) == 1


def test_default_method_is_exact(linear_d1) -> None:
    dec, enc, x = linear_d1
    assert elbo(dec, enc, x).method == "exact"
    assert log_likelihood(dec, x).method == "exact"
