"""sigma-VAE: one shared learned ``log sigma`` with a hand-written soft clip at ``-6``.

Rybkin et al. (arXiv 2006.13202) soft-clip the shared ``log sigma``:
``log sigma = -6 + softplus(s + 6)``, written here the way their code does.  Every
coordinate's density is at most ``e^6 / sqrt(2 pi)``, so the ELBO is at most
``n D (6 - log(2 pi) / 2)`` (docs/claims.md, F6).  Expected verdict: ``bounded``.
"""

from __future__ import annotations

import torch
import torch.distributions as tdist
from torch import nn
from torch.nn import functional as F

from examples._common import HIDDEN, LATENT, Encoder, Trunk

__all__ = ["Decoder", "factory", "softclip"]


def softclip(t: torch.Tensor, lower: float) -> torch.Tensor:
    """``lower + softplus(t - lower)``: a smooth ``max(t, lower)``."""
    return lower + F.softplus(t - lower)


class Decoder(nn.Module):
    """``t -> Independent(Normal(mu(t), sigma), 1)`` with the soft-clipped shared sigma."""

    latent_dim = LATENT

    def __init__(self, data_dim: int) -> None:
        super().__init__()
        self.trunk = Trunk(LATENT, HIDDEN)
        self.mean = nn.Linear(HIDDEN, data_dim)
        self.log_sigma = nn.Parameter(torch.zeros(()))

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        mean = self.mean(self.trunk(t))
        sigma = torch.exp(softclip(self.log_sigma, -6.0)).expand(mean.shape)
        return tdist.Independent(tdist.Normal(mean, sigma), 1)


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for data with ``data_dim`` columns."""
    return Decoder(data_dim), Encoder(data_dim)
