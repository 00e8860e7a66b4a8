"""Shared pieces of the examples: a tanh MLP trunk and the App. C.2 Gaussian encoder."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["HIDDEN", "LATENT", "Encoder", "Trunk"]

LATENT = 2
HIDDEN = 16


class Trunk(nn.Module):
    """``h = tanh(W t + b)``: the one hidden layer of Kingma & Welling App. C.2."""

    def __init__(self, inputs: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.layer = nn.Linear(inputs, hidden)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.layer(t))


class Encoder(nn.Module):
    """App. C.2 encoder: ``q(t | x) = N(m(x), diag exp(log s^2(x)))``, returned as a tuple."""

    def __init__(self, data_dim: int, latent_dim: int = LATENT, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.trunk = Trunk(data_dim, hidden)
        self.mean = nn.Linear(hidden, latent_dim)
        self.log_var = nn.Linear(hidden, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.mean(h), self.log_var(h)
