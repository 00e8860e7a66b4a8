"""Monte Carlo standard errors and the pPCA fit at the edges of float64 (``|log sigma^2| =
1e300``, values overflowing to ``-inf``, data at scale ``1e154`` and ``1e-300``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wellposed.errors import WellposedInputError
from wellposed.evidence import agree_mc
from wellposed.lines import exact, montecarlo
from wellposed.models.networks import GaussianMLPDecoder, TabularEncoder

D = 2


def _constant_decoder(mean: float, log_var: float) -> GaussianMLPDecoder:
    dec = GaussianMLPDecoder(1, 1, D)
    dec.set_weights(
        W3=np.zeros((1, 1)),
        b3=np.zeros(1),
        W4=np.zeros((D, 1)),
        b4=np.full(D, mean),
        W5=np.zeros((D, 1)),
        b5=np.full(D, log_var),
    )
    return dec


@pytest.mark.parametrize("log_var", [1e300, -1e300])
def test_constant_estimates_at_huge_log_variance_have_se_zero(log_var: float) -> None:
    """The decoder ignores t: every sample is the same (huge) number, the SE is exactly 0
    (it overflowed to inf in the squares before) and the check is a code path."""
    x = torch.zeros((1, D), dtype=torch.float64)
    enc = TabularEncoder(np.zeros((1, 1)), np.zeros((1, 1)))
    dec = _constant_decoder(0.0, log_var)
    e = montecarlo.elbo_mc(dec, enc, x, samples=64, seed=0, device="cpu")
    i = montecarlo.iwae_mc(dec, x, samples=64, seed=0, device="cpu")
    for est in (e, i):
        assert math.isfinite(est.value) and abs(est.value) > 1e299 and est.se == 0.0
    ref = -0.5 * D * (math.log(2 * math.pi) + log_var)
    check = agree_mc("huge", ref, e.value, e.se, e.n_samples)
    assert check.ok and check.mode == "code path"


def test_values_overflowing_to_minus_inf_report_se_zero_and_agree_as_code_path() -> None:
    """A residual at variance e^-1e300: every log-density is -inf; the estimate is -inf with
    SE 0 (NaN before), and -inf against an exact -inf is a code-path agreement."""
    x = torch.zeros((1, D), dtype=torch.float64)
    enc = TabularEncoder(np.zeros((1, 1)), np.zeros((1, 1)))
    dec = _constant_decoder(1.0, -1e300)
    e = montecarlo.elbo_mc(dec, enc, x, samples=64, seed=0, device="cpu")
    i = montecarlo.iwae_mc(dec, x, samples=64, seed=0, device="cpu")
    for est in (e, i):
        assert est.value == -math.inf and est.se == 0.0
    check = agree_mc("overflow", -math.inf, e.value, e.se, e.n_samples)
    assert check.ok and check.mode == "code path"
    # against a finite reference it is a failed code-path check, never a pass by z = 0
    assert not agree_mc("overflow", -3.0, e.value, e.se, e.n_samples).ok


def test_mixed_minus_inf_samples_and_varying_huge_samples() -> None:
    rows = torch.tensor([-1.0, -math.inf, -2.0], dtype=torch.float64)
    assert montecarlo._mean_se(rows) == 0.0
    assert montecarlo._mean_se(torch.tensor([1.0, math.nan])) == math.inf
    big = torch.tensor([1e300, 2e300, 3e300], dtype=torch.float64)
    assert montecarlo._mean_se(big) == pytest.approx(1e300 / math.sqrt(3), rel=1e-12)
    assert montecarlo._mean_se(torch.tensor([1.0, 2.0, 3.0])) == pytest.approx(1 / math.sqrt(3))


@pytest.mark.parametrize("scale", [1e154, 1e-300, 1e100])
def test_ppca_fit_is_scale_equivariant(scale: float) -> None:
    """The fit at data scale c is the fit at scale 1 scaled back (NaN at 1e154 and
    'rank-deficient' at 1e-300 before)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)) * np.array([3.0, 2.0, 1.0, 0.5])
    ref = exact.ppca_fit(x, 2)
    fit = exact.ppca_fit(x * scale, 2)
    assert fit["max_log_lik"] == pytest.approx(
        ref["max_log_lik"] - 160 * math.log(scale), rel=1e-12
    )
    assert fit["log_var"] == pytest.approx(ref["log_var"] + 2 * math.log(scale), rel=1e-12)
    assert np.allclose(fit["W"] / scale, ref["W"], rtol=1e-10, atol=1e-12)
    marg = exact.linear_log_marginal(
        x * scale, fit["W"], fit["b"], np.full(4, fit["log_var"])
    ).sum()
    assert marg == pytest.approx(fit["max_log_lik"], rel=1e-10)


def test_ppca_fit_still_refuses_rank_deficient_and_constant_data() -> None:
    rng = np.random.default_rng(1)
    line = rng.normal(size=(20, 1)) * np.array([[1.0, 2.0, -1.0]]) * 1e-300
    with pytest.raises(WellposedInputError, match="unbounded"):
        exact.ppca_fit(line, 1)
    with pytest.raises(WellposedInputError, match="unbounded"):
        exact.ppca_fit(np.ones((5, 3)), 1)
