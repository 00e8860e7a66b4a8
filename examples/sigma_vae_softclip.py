"""sigma-VAE: one shared learned ``log sigma`` with the soft-clip ``log sigma >= -6``.

Rybkin et al. (arXiv 2006.13202): ``log sigma = -6 + softplus(s + 6)`` for a shared learned
``s`` (the project's :class:`wellposed.models.variance.SoftClip` policy, which works on
``log sigma^2``).  Every coordinate's density is at most ``e^6 / sqrt(2 pi)``, so the ELBO
is at most ``n D (6 - log(2 pi) / 2)`` (docs/claims.md, F6).  Expected verdict: ``bounded``.
"""

from __future__ import annotations

import torch
import torch.distributions as tdist
from torch import nn

from examples._common import HIDDEN, LATENT, Encoder, Trunk
from wellposed.models.variance import SoftClip

__all__ = ["Decoder", "factory"]


class Decoder(nn.Module):
    """``t -> Independent(Normal(mu(t), sigma), 1)`` with the soft-clipped shared sigma."""

    latent_dim = LATENT

    def __init__(self, data_dim: int) -> None:
        super().__init__()
        self.trunk = Trunk(LATENT, HIDDEN)
        self.mean = nn.Linear(HIDDEN, data_dim)
        self.raw_log_var = nn.Parameter(torch.zeros(()))
        self.variance = SoftClip(-6.0)

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        mean = self.mean(self.trunk(t))
        log_var = self.variance(self.raw_log_var.expand(mean.shape))
        return tdist.Independent(tdist.Normal(mean, torch.exp(0.5 * log_var)), 1)


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for data with ``data_dim`` columns."""
    return Decoder(data_dim), Encoder(data_dim)
