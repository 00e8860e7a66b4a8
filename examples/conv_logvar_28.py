"""A convolutional VAE for 28x28 images with a per-pixel log-variance output channel.

The decoder's last transposed convolution has two channels: the mean image and a per-pixel
``log sigma^2`` image; ``p(x | t) = Normal(mean, exp(log_var / 2))`` per pixel, the way many
image VAEs are written.  Nothing bounds ``log sigma^2`` below, so reconstructing one
training image and shrinking its variance drives the ELBO to +inf (Mattei & Frellsen 2018).
About 1.7M parameters.  Expected verdict: ``unbounded``.
"""

from __future__ import annotations

import torch
import torch.distributions as tdist
from torch import nn

__all__ = ["ConvDecoder", "ConvEncoder", "factory"]

LATENT = 16
SIDE = 28


class ConvEncoder(nn.Module):
    """``x (n, 784) -> (m, log s^2)`` through two stride-2 convolutions and a dense layer."""

    def __init__(self, latent_dim: int = LATENT) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 256),
            nn.ReLU(),
        )
        self.head = nn.Linear(256, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.head(self.conv(x.reshape(-1, 1, SIDE, SIDE)))
        m, log_var = h.chunk(2, dim=-1)
        return m, log_var


class ConvDecoder(nn.Module):
    """``t (..., n, d) -> Independent(Normal(mean, exp(log_var / 2)), 1)`` over 784 pixels."""

    latent_dim = LATENT

    def __init__(self, latent_dim: int = LATENT) -> None:
        super().__init__()
        self.dense = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 64 * 7 * 7), nn.ReLU()
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 2, 4, 2, 1)
        )

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        lead = t.shape[:-1]
        h = self.dense(t.reshape(-1, t.shape[-1])).reshape(-1, 64, 7, 7)
        out = self.deconv(h).reshape(*lead, 2, SIDE * SIDE)
        mean, log_var = out[..., 0, :], out[..., 1, :]
        return tdist.Independent(tdist.Normal(mean, torch.exp(0.5 * log_var)), 1)


def factory() -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for 28x28 images flattened to 784 columns."""
    return ConvDecoder(), ConvEncoder()
