"""App. C.1 Bernoulli decoder: ``p(x | t) = Bernoulli(logits = W4 h + b4)`` on binary data.

A probability mass is at most 1, so the ELBO is at most 0 (docs/claims.md, F4; on data in
[0, 1] the bound is ``-sum H(x)``, binary entropy).  Expected verdict: ``bounded``.
"""

from __future__ import annotations

import torch
import torch.distributions as tdist
from torch import nn

from examples._common import HIDDEN, LATENT, Encoder, Trunk

__all__ = ["Decoder", "factory"]


class Decoder(nn.Module):
    """``t -> Bernoulli(logits(t))`` (event dims summed by the harness)."""

    latent_dim = LATENT

    def __init__(self, data_dim: int) -> None:
        super().__init__()
        self.trunk = Trunk(LATENT, HIDDEN)
        self.logits = nn.Linear(HIDDEN, data_dim)

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        return tdist.Bernoulli(logits=self.logits(self.trunk(t)), validate_args=False)


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for data with ``data_dim`` columns."""
    return Decoder(data_dim), Encoder(data_dim)
