"""A decoder that holds a variance floor it never uses (a decoy).

The module keeps a ``variance`` helper with a ``log_var_floor`` attribute, the way a
refactoring can leave one behind, but its ``forward`` returns the raw App. C.2 log-variance
head: nothing bounds ``log sigma^2`` below.  An audit must judge what ``forward`` computes,
not what the module holds.  Expected verdict: ``unbounded``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from examples._common import HIDDEN, LATENT, Encoder, Trunk

__all__ = ["Decoder", "UnusedFloor", "factory"]


class UnusedFloor(nn.Module):
    """``log(1e-3 + softplus(raw))``: a floor at ``log 1e-3`` (held, never called)."""

    log_var_floor = -6.907755278982137

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.log(1e-3 + F.softplus(raw))


class Decoder(nn.Module):
    """``t -> (mu(t), log sigma^2(t))``, the floor module unused."""

    latent_dim = LATENT

    def __init__(self, data_dim: int) -> None:
        super().__init__()
        self.trunk = Trunk(LATENT, HIDDEN)
        self.mean = nn.Linear(HIDDEN, data_dim)
        self.log_var = nn.Linear(HIDDEN, data_dim)
        self.variance = UnusedFloor()

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(t)
        return self.mean(h), self.log_var(h)


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for data with ``data_dim`` columns."""
    return Decoder(data_dim), Encoder(data_dim)
