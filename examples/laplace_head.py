"""A Laplace decoder head: per-coordinate location and learned log-scale (an L1
reconstruction loss with a learned scale).

``log p(x | mu, b) <= -log(2 b)``: nothing bounds
``log b`` below, so one reconstructed training point with a shrinking scale drives the ELBO
to +inf, as for the Gaussian.  Expected verdict: ``unbounded``.
"""

from __future__ import annotations

import torch
import torch.distributions as tdist
from torch import nn

from examples._common import HIDDEN, LATENT, Encoder, Trunk

__all__ = ["Decoder", "factory"]


class Decoder(nn.Module):
    """``t -> Laplace(mu(t), exp(log_b(t)))`` per coordinate."""

    latent_dim = LATENT

    def __init__(self, data_dim: int) -> None:
        super().__init__()
        self.trunk = Trunk(LATENT, HIDDEN)
        self.loc = nn.Linear(HIDDEN, data_dim)
        self.log_scale = nn.Linear(HIDDEN, data_dim)

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        h = self.trunk(t)
        return tdist.Laplace(self.loc(h), torch.exp(self.log_scale(h)))


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for data with ``data_dim`` columns."""
    return Decoder(data_dim), Encoder(data_dim)
