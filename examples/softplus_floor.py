"""A Gaussian decoder whose scale is ``0.05 + softplus(raw)``, written by hand.

``sigma >= 0.05`` everywhere, so each coordinate's density is at most
``1 / (0.05 sqrt(2 pi))`` and the ELBO is at most ``n D (-log 0.05 - log(2 pi) / 2)``.
Expected verdict: ``bounded``.
"""

from __future__ import annotations

import torch
import torch.distributions as tdist
from torch import nn
from torch.nn import functional as F

from examples._common import HIDDEN, LATENT, Encoder, Trunk

__all__ = ["Decoder", "factory"]


class Decoder(nn.Module):
    """``t -> Normal(mu(t), 0.05 + softplus(raw(t)))`` per coordinate."""

    latent_dim = LATENT

    def __init__(self, data_dim: int) -> None:
        super().__init__()
        self.trunk = Trunk(LATENT, HIDDEN)
        self.mean = nn.Linear(HIDDEN, data_dim)
        self.raw = nn.Linear(HIDDEN, data_dim)

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        h = self.trunk(t)
        return tdist.Normal(self.mean(h), 0.05 + F.softplus(self.raw(h)))


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for data with ``data_dim`` columns."""
    return Decoder(data_dim), Encoder(data_dim)
