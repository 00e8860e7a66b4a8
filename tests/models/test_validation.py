"""Bad input: every case raises WellposedInputError whose message names the fix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wellposed import (
    BernoulliMLPDecoder,
    GaussianMLPDecoder,
    GaussianMLPEncoder,
    LinearGaussianDecoder,
    TabularEncoder,
    WellposedInputError,
    elbo,
    log_likelihood,
)
from wellposed.lines import montecarlo
from wellposed.models.variance import Fixed, Floor

D = 3


@pytest.fixture
def model() -> tuple[LinearGaussianDecoder, TabularEncoder]:
    return LinearGaussianDecoder(np.ones((D, 1)), np.zeros(D), 0.0), TabularEncoder(
        np.zeros((2, 1)), 0.0
    )


def test_error_type_is_a_value_error() -> None:
    assert issubclass(WellposedInputError, ValueError)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_nan_or_inf_data_is_rejected(model, bad: float, as_tensor: bool) -> None:
    dec, enc = model
    x = np.zeros((2, D))
    x[1, 2] = bad
    data = torch.tensor(x) if as_tensor else x
    with pytest.raises(WellposedInputError, match=r"NaN or inf \(rows \[1\].*drop or impute"):
        elbo(dec, enc, data)
    with pytest.raises(WellposedInputError, match="drop or impute"):
        log_likelihood(dec, data, method="mc")


@pytest.mark.parametrize("shape", [(2, D + 1), (2, D - 1), (D,), (2, D, 1)])
def test_wrong_shapes_are_rejected(model, shape: tuple[int, ...]) -> None:
    dec, _ = model
    with pytest.raises(WellposedInputError, match=r"shape \(n, 3\).*reshape"):
        log_likelihood(dec, np.zeros(shape))


def test_empty_and_non_numeric_data_are_rejected(model) -> None:
    dec, _ = model
    with pytest.raises(WellposedInputError, match="at least one observation"):
        log_likelihood(dec, np.zeros((0, D)))
    with pytest.raises(WellposedInputError, match="numeric"):
        log_likelihood(dec, [["a", "b", "c"]])


@pytest.mark.parametrize("value", [0.5, 2.0, -1.0])
def test_non_binary_data_for_a_bernoulli_decoder_is_rejected(value: float) -> None:
    dec = BernoulliMLPDecoder(1, 4, D, seed=0)
    x = np.array([[0.0, 1.0, value]])
    with pytest.raises(WellposedInputError, match=r"binary \(0/1\).*binarize"):
        log_likelihood(dec, x, method="mc", samples=10)
    assert np.isfinite(log_likelihood(dec, (x > 0.5).astype(float), method="mc", samples=10).value)


@pytest.mark.parametrize("xi", [0.0, -1e-3])
def test_negative_or_zero_floor_is_rejected(xi: float) -> None:
    with pytest.raises(WellposedInputError, match=r"must be a finite number > 0.*e\.g\. 1e-3"):
        Floor(xi)
    with pytest.raises(WellposedInputError, match=r"> 0.*Fixed\(1\.0\)"):
        Fixed(xi)


def test_unknown_method_is_rejected(model) -> None:
    dec, enc = model
    with pytest.raises(
        WellposedInputError, match=r"method must be one of \('exact', 'quadrature', 'mc'\)"
    ):
        elbo(dec, enc, np.zeros((2, D)), method="laplace")
    with pytest.raises(WellposedInputError, match="method must be one of"):
        log_likelihood(dec, np.zeros((2, D)), method="MC")


def test_no_closed_form_names_the_other_methods() -> None:
    dec = GaussianMLPDecoder(1, 4, D, seed=0)
    with pytest.raises(WellposedInputError, match="method='quadrature'.*method='mc'"):
        log_likelihood(dec, np.zeros((2, D)), method="exact")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_is_rejected(model) -> None:
    dec, enc = model
    with pytest.raises(WellposedInputError, match="device='cpu'"):
        elbo(dec, enc, np.zeros((2, D)), method="mc", device="cuda")
    with pytest.raises(WellposedInputError, match="device='cpu'"):
        montecarlo.resolve_device("cuda")


def test_unknown_device_is_rejected() -> None:
    with pytest.raises(WellposedInputError, match="'auto', 'cpu' or 'cuda'"):
        montecarlo.resolve_device("gpu")


def test_quadrature_with_a_latent_dimension_above_one_is_rejected() -> None:
    dec = LinearGaussianDecoder(np.ones((D, 2)), np.zeros(D), 0.0)
    with pytest.raises(WellposedInputError, match="latent_dim=2: use method='mc'"):
        log_likelihood(dec, np.zeros((2, D)), method="quadrature")


@pytest.mark.parametrize("samples", [0, -5, 1.5, True, None, "100"])
def test_bad_sample_counts_are_rejected(model, samples: object) -> None:
    dec, enc = model
    with pytest.raises(WellposedInputError, match=r"samples must be a positive integer \(e\.g\."):
        elbo(dec, enc, np.zeros((2, D)), method="mc", samples=samples)


def test_bad_kl_option_and_replicates_are_rejected(model) -> None:
    dec, enc = model
    x = torch.zeros((2, D), dtype=torch.float64)
    with pytest.raises(WellposedInputError, match="'analytic' or 'sampled'"):
        montecarlo.elbo_mc(dec, enc, x, kl="mc")
    with pytest.raises(WellposedInputError, match="replicates must be a positive integer"):
        montecarlo.iwae_mc(dec, x, enc, replicates=0)


def test_mismatched_encoder_is_rejected() -> None:
    dec = LinearGaussianDecoder(np.ones((D, 2)), np.zeros(D), 0.0)
    with pytest.raises(WellposedInputError, match="same latent_dim"):
        elbo(dec, TabularEncoder(np.zeros((2, 1)), 0.0), np.zeros((2, D)))
    with pytest.raises(WellposedInputError, match="encoder with the decoder's data_dim"):
        elbo(dec, GaussianMLPEncoder(D + 1, 4, 2), np.zeros((2, D)), method="mc")
    with pytest.raises(WellposedInputError, match="one row per data point"):
        elbo(dec, TabularEncoder(np.zeros((5, 2)), 0.0), np.zeros((2, D)))


def test_bad_weights_are_rejected() -> None:
    dec = GaussianMLPDecoder(1, 4, D, seed=0)
    with pytest.raises(WellposedInputError, match=r"no weight 'W9'; choose from \["):
        dec.set_weights(W9=np.zeros(3))
    with pytest.raises(WellposedInputError, match=r"must have shape \(3, 4\)"):
        dec.set_weights(W4=np.zeros((4, 3)))
    with pytest.raises(WellposedInputError, match="must be finite"):
        dec.set_weights(b5=np.array([0.0, math.nan, 0.0]))


def test_bad_constructor_arguments_are_rejected() -> None:
    with pytest.raises(WellposedInputError, match="latent_dim must be a positive integer"):
        GaussianMLPDecoder(0, 4, D)
    with pytest.raises(WellposedInputError, match=r"policy such as Learned\(\)"):
        GaussianMLPDecoder(1, 4, D, variance="learned")  # type: ignore[arg-type]
    with pytest.raises(WellposedInputError, match=r"\(data_dim, latent_dim\) matrix"):
        LinearGaussianDecoder(np.ones(D), np.zeros(D), 0.0)
    with pytest.raises(WellposedInputError, match=r"must be \(n, d\)"):
        TabularEncoder(np.zeros(3), 0.0)
