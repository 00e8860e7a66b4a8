"""One global learned log-variance parameter shared by every coordinate and latent value.

The latent-diffusion autoencoder's ``logvar`` (Rombach et al. 2022): ``p(x | t) =
N(mu(t), exp(logvar) I)`` with ``logvar`` a single ``nn.Parameter``.  Unbounded whenever the
decoder can reconstruct the training points exactly (data on a manifold of dimension below
the latent size, Dai & Wipf 2019; docs/claims.md, L4/L5).  Expected verdict: ``unbounded``.
"""

from __future__ import annotations

import torch
from torch import nn

from examples._common import HIDDEN, LATENT, Encoder, Trunk

__all__ = ["Decoder", "factory"]


class Decoder(nn.Module):
    """``t -> (mu(t), logvar)`` with one scalar ``logvar``."""

    latent_dim = LATENT

    def __init__(self, data_dim: int) -> None:
        super().__init__()
        self.trunk = Trunk(LATENT, HIDDEN)
        self.mean = nn.Linear(HIDDEN, data_dim)
        self.logvar = nn.Parameter(torch.zeros(()))

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.mean(self.trunk(t))
        return mean, self.logvar.expand(mean.shape)


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for data with ``data_dim`` columns."""
    return Decoder(data_dim), Encoder(data_dim)
