"""The conv VAE as most code writes it: one ``Linear`` from the latent to a 64x7x7 map.

Encoder: two stride-2 convolutions and a dense layer; decoder: ``relu(fc(z))`` reshaped to
64x7x7, then two transposed convolutions to a mean image and a per-pixel ``log sigma^2``
image, ``p(x | z) = Normal(mean, exp(log_var / 2))`` per pixel, activations called as
functions.  No hidden layer lies between the latent and the convolutions, so the audit's
detector is the ``Linear`` layer itself (docs/your-model.md, "The constructive spike").
Nothing bounds ``log sigma^2`` below: expected verdict ``unbounded``.  About 0.9M parameters.
"""

from __future__ import annotations

import torch
import torch.distributions as tdist
import torch.nn.functional as F
from torch import nn

__all__ = ["Decoder", "Encoder", "factory"]

LATENT = 16


class Encoder(nn.Module):
    """``x (n, 784) -> (mu, log_var)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 4, 2, 1)
        self.conv2 = nn.Conv2d(32, 64, 4, 2, 1)
        self.fc = nn.Linear(64 * 7 * 7, 256)
        self.mu = nn.Linear(256, LATENT)
        self.log_var = nn.Linear(256, LATENT)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.conv2(F.relu(self.conv1(x.view(-1, 1, 28, 28)))))
        h = F.relu(self.fc(h.flatten(1)))
        return self.mu(h), self.log_var(h)


class Decoder(nn.Module):
    """``z (..., d) -> Independent(Normal(mean, exp(log_var / 2)), 1)`` over 784 pixels."""

    latent_dim = LATENT

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(LATENT, 64 * 7 * 7)
        self.deconv1 = nn.ConvTranspose2d(64, 32, 4, 2, 1)
        self.deconv2 = nn.ConvTranspose2d(32, 2, 4, 2, 1)

    def forward(self, z: torch.Tensor) -> tdist.Distribution:
        lead = z.shape[:-1]
        h = F.relu(self.fc(z.reshape(-1, LATENT))).view(-1, 64, 7, 7)
        out = self.deconv2(F.relu(self.deconv1(h))).view(*lead, 2, 784)
        mean, log_var = out[..., 0, :], out[..., 1, :]
        return tdist.Independent(tdist.Normal(mean, torch.exp(0.5 * log_var)), 1)


def factory() -> tuple[nn.Module, nn.Module]:
    """``(decoder, encoder)`` for 28x28 images flattened to 784 columns."""
    return Decoder(), Encoder()
