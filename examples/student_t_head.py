"""A Student-t decoder head: per-coordinate location and learned log-scale, 3 degrees of
freedom.

``log p(x | mu, s) <= log Gamma(2) - log Gamma(3/2) - log(3 pi)/2 - log s``: nothing bounds
``log s`` below, so one reconstructed training point with a shrinking scale drives the ELBO
to +inf, as for the Gaussian.  Expected verdict: ``unbounded``.
"""

from __future__ import annotations

import torch
import torch.distributions as tdist
from torch import nn

from examples._common import HIDDEN, LATENT, Encoder, Trunk

__all__ = ["Decoder", "factory"]


class Decoder(nn.Module):
    """``t -> StudentT(3, mu(t), exp(log_s(t)))`` per coordinate."""

    latent_dim = LATENT

    def __init__(self, data_dim: int) -> None:
        super().__init__()
        self.trunk = Trunk(LATENT, HIDDEN)
        self.loc = nn.Linear(HIDDEN, data_dim)
        self.log_scale = nn.Linear(HIDDEN, data_dim)

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        h = self.trunk(t)
        return tdist.StudentT(3.0, self.loc(h), torch.exp(self.log_scale(h)))


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for data with ``data_dim`` columns."""
    return Decoder(data_dim), Encoder(data_dim)
