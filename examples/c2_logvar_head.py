"""App. C.2 Gaussian decoder: a per-coordinate, latent-dependent log-variance head.

``mu = W4 h + b4``, ``log sigma^2 = W5 h + b5`` with ``h = tanh(W3 t + b3)`` (Kingma &
Welling, arXiv 1312.6114, App. C.2).  Returned as the protocol's ``(mean, log_var)`` tuple.
Nothing bounds ``log sigma^2`` below: the spike on one training point drives the ELBO to
+inf (docs/claims.md, L1).  Expected verdict: ``unbounded``.
"""

from __future__ import annotations

import torch
from torch import nn

from examples._common import HIDDEN, LATENT, Encoder, Trunk

__all__ = ["Decoder", "factory"]


class Decoder(nn.Module):
    """``t -> (mu(t), log sigma^2(t))``."""

    latent_dim = LATENT

    def __init__(self, data_dim: int) -> None:
        super().__init__()
        self.trunk = Trunk(LATENT, HIDDEN)
        self.mean = nn.Linear(HIDDEN, data_dim)
        self.log_var = nn.Linear(HIDDEN, data_dim)

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(t)
        return self.mean(h), self.log_var(h)


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for data with ``data_dim`` columns."""
    return Decoder(data_dim), Encoder(data_dim)
