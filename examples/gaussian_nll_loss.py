"""The App. C.2 head trained with ``torch.nn.GaussianNLLLoss`` (its ``eps`` clamp).

``GaussianNLLLoss(eps=1e-6, full=True)`` evaluates ``(1/2)(log max(var, eps) + (x - mu)^2 /
max(var, eps) + log 2pi)``: the value is clamped, so ``-loss <= -(1/2)(log eps + log 2pi)``
per coordinate (docs/claims.md, F6), although the gradient passes through the clamp.  The
factory returns the loss as the objective.  Expected verdict: ``bounded``.
"""

from __future__ import annotations

from torch import nn

from examples._common import Encoder
from examples.c2_logvar_head import Decoder

__all__ = ["factory"]


def factory(data_dim: int = 8) -> tuple[nn.Module, nn.Module, nn.Module]:
    """``(decoder, encoder, GaussianNLLLoss(eps=1e-6, full=True))``."""
    return Decoder(data_dim), Encoder(data_dim), nn.GaussianNLLLoss(full=True, eps=1e-6)
