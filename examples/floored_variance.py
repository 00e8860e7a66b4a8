"""App. C.2 decoder with a hand-written variance floor: ``sigma^2 = 1e-3 + softplus(raw)``.

Each coordinate's density is at most ``1 / sqrt(2 pi 1e-3)``, so the ELBO is at most
``-(n D / 2)(log 2pi + log 1e-3)`` (docs/claims.md, S4 and L2).  Expected verdict:
``bounded``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from examples._common import HIDDEN, LATENT, Encoder, Trunk

__all__ = ["Decoder", "factory"]


class Decoder(nn.Module):
    """``t -> (mu(t), log(1e-3 + softplus(raw(t))))``."""

    latent_dim = LATENT

    def __init__(self, data_dim: int) -> None:
        super().__init__()
        self.trunk = Trunk(LATENT, HIDDEN)
        self.mean = nn.Linear(HIDDEN, data_dim)
        self.raw = nn.Linear(HIDDEN, data_dim)

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(t)
        return self.mean(h), torch.log(1e-3 + F.softplus(self.raw(h)))


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for data with ``data_dim`` columns."""
    return Decoder(data_dim), Encoder(data_dim)
