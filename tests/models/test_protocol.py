"""The model protocol: plain torch modules through elbo / log_likelihood, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributions as tdist
from torch import nn

import wellposed as wp
from wellposed.models.networks import GaussianMLPDecoder, GaussianMLPEncoder
from wellposed.models.protocol import (
    ModuleDecoder,
    conform,
    decoder_distribution,
    encoder_gaussian,
    family_name,
)

X = np.random.default_rng(3).normal(size=(6, 3))


class TupleDecoder(nn.Module):
    """A user's App. C.2 decoder that returns (mean, log_var): wraps the harness's weights."""

    def __init__(self, inner: GaussianMLPDecoder) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inner(t)


class NormalDecoder(TupleDecoder):
    def forward(self, t: torch.Tensor) -> tdist.Distribution:  # type: ignore[override]
        mean, log_var = self.inner(t)
        return tdist.Normal(mean, torch.exp(0.5 * log_var))  # event shape (): summed


class DistEncoder(nn.Module):
    def __init__(self, inner: GaussianMLPEncoder) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> tdist.Distribution:
        m, lv = self.inner(x)
        return tdist.Independent(tdist.Normal(m, torch.exp(0.5 * lv)), 1)


@pytest.fixture
def native() -> tuple[GaussianMLPDecoder, GaussianMLPEncoder]:
    return GaussianMLPDecoder(2, 5, 3, seed=1), GaussianMLPEncoder(3, 5, 2, seed=1)


@pytest.mark.parametrize("dec_cls", [TupleDecoder, NormalDecoder])
def test_user_modules_give_the_native_estimate(native, dec_cls) -> None:
    """Same weights, same seed: the protocol path sees the same draws as the native one."""
    dec, enc = native
    ref = wp.elbo(dec, enc, X, method="mc", samples=200, seed=4)
    user = wp.elbo(dec_cls(dec), DistEncoder(enc), X, method="mc", samples=200, seed=4)
    assert user.value == pytest.approx(ref.value, rel=1e-12)
    assert user.se == pytest.approx(ref.se, rel=1e-9)
    ref_ll = wp.log_likelihood(dec, X, method="mc", encoder=enc, samples=50, seed=2)
    user_ll = wp.log_likelihood(
        dec_cls(dec), X, method="mc", encoder=DistEncoder(enc), samples=50, seed=2
    )
    assert user_ll.value == pytest.approx(ref_ll.value, rel=1e-12)


def test_native_modules_pass_through_unchanged(native) -> None:
    dec, enc = native
    d2, e2 = conform(dec, enc, X)
    assert d2 is dec and e2 is enc


def test_tuple_output_is_a_diagonal_gaussian() -> None:
    mean, log_var = (
        torch.zeros(4, 3, dtype=torch.float64),
        torch.full((4, 3), -2.0, dtype=torch.float64),
    )
    dist = decoder_distribution((mean, log_var))
    x = torch.ones(4, 3, dtype=torch.float64)
    by_hand = -0.5 * (math.log(2 * math.pi) - 2.0 + math.exp(2.0)) * 3
    assert dist.log_prob(x)[0].item() == pytest.approx(by_hand, rel=1e-14)
    assert family_name(dist) == "Normal"


def test_the_user_module_is_not_modified(native) -> None:
    dec, enc = native
    user = TupleDecoder(dec).float()
    wp.elbo(user, DistEncoder(enc), X, method="mc", samples=10)
    assert next(user.parameters()).dtype == torch.float32


def test_a_bernoulli_decoder_sums_its_coordinates() -> None:
    class Bern(nn.Module):
        latent_dim = 2

        def forward(self, t: torch.Tensor) -> tdist.Distribution:
            return tdist.Bernoulli(logits=torch.zeros(*t.shape[:-1], 4, dtype=t.dtype))

    xb = (np.random.default_rng(0).uniform(size=(5, 4)) > 0.5).astype(float)
    est = wp.log_likelihood(Bern(), xb, method="mc", samples=3)
    assert est.value == pytest.approx(5 * 4 * math.log(0.5), rel=1e-13)


def test_a_decoder_returning_a_tensor_is_told_what_to_return(native) -> None:
    class Bad(nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return t

    with pytest.raises(wp.WellposedInputError, match=r"Distribution.*\(mean, log_var\)"):
        wp.elbo(Bad(), DistEncoder(native[1]), X, method="mc", samples=5)


def test_an_encoder_returning_a_tensor_is_told_what_to_return(native) -> None:
    class BadEnc(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(wp.WellposedInputError, match="Gaussian over the latents"):
        wp.elbo(TupleDecoder(native[0]), BadEnc(), X, method="mc", samples=5)
    with pytest.raises(wp.WellposedInputError, match="Gaussian over the latents"):
        encoder_gaussian(tdist.Laplace(torch.zeros(2), torch.ones(2)))


def test_an_unknown_latent_size_and_other_lines_are_input_errors(native) -> None:
    with pytest.raises(wp.WellposedInputError, match="latent_dim"):
        wp.log_likelihood(TupleDecoder(native[0]), X, method="mc", samples=5)
    with pytest.raises(wp.WellposedInputError, match="method='mc'"):
        wp.elbo(TupleDecoder(native[0]), DistEncoder(native[1]), X, method="exact")
    with pytest.raises(wp.WellposedInputError, match="torch.nn.Module"):
        ModuleDecoder(lambda t: t, latent_dim=2)  # type: ignore[arg-type]


def test_a_wrong_log_prob_shape_is_reported() -> None:
    class Joint(nn.Module):
        latent_dim = 1

        def forward(self, t: torch.Tensor) -> tdist.Distribution:  # one event over everything
            return tdist.Independent(
                tdist.Normal(torch.zeros(t.shape[:-1] + (3,), dtype=t.dtype), 1.0), 2
            )

    with pytest.raises(wp.WellposedInputError, match="one value per latent row"):
        wp.log_likelihood(Joint(), X, method="mc", samples=4)
