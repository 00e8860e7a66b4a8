"""Hypothesis properties for the graph proofs of ``audit-model`` (docs/your-model.md).

A decoder with a drawn floor ``c`` written by hand (``log(c + softplus)`` on the variance,
a soft-clip on ``log sigma``, ``clamp(min=log c)``, a Laplace scale ``c + relu``) is proved
from its own graph; at drawn parameter values (every parameter, wide scales) the ELBO never
exceeds the proved bound, and the bound is the family's supremum at ``c`` (docs/claims.md,
L2 and F6).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributions as tdist
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from wellposed.audit.attack import build_model, draws, objective_value
from wellposed.audit.proof import prove

D, LATENT = 16, 2
X = np.random.default_rng(5).uniform(-1.0, 1.0, size=(4, D))
LOG_2PI = math.log(2 * math.pi)


class Floored(nn.Module):
    latent_dim = LATENT

    def __init__(self, kind: int, c: float) -> None:
        super().__init__()
        self.kind, self.c = kind, c
        self.hidden = nn.Linear(LATENT, 8)
        self.mean, self.raw = nn.Linear(8, D), nn.Linear(8, D)

    def forward(self, t):
        h = torch.tanh(self.hidden(t))
        mu, raw = self.mean(h), self.raw(h)
        if self.kind == 0:
            return mu, torch.log(self.c + F.softplus(raw))
        if self.kind == 1:
            lo = 0.5 * math.log(self.c)
            return tdist.Normal(mu, torch.exp(lo + F.softplus(raw - lo)))
        if self.kind == 2:
            return mu, raw.clamp(min=math.log(self.c))
        return tdist.Laplace(mu, self.c + torch.relu(raw))


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.m, self.lv = nn.Linear(D, LATENT), nn.Linear(D, LATENT)

    def forward(self, x):
        return self.m(x), self.lv(x)


def supremum(kind: int, c: float) -> float:
    """Per coordinate: Normal with variance >= c; Laplace with scale >= c."""
    return -math.log(2 * c) if kind == 3 else -0.5 * (LOG_2PI + math.log(c))


@pytest.mark.claims("L2", "F6")
@given(
    kind=st.integers(0, 3),
    c=st.floats(1e-4, 10.0),
    spread=st.floats(0.1, 100.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_hand_written_floors_are_proved_and_never_exceeded(scores, kind, c, spread, seed) -> None:
    model = build_model(lambda: (Floored(kind, c), Encoder()), D)
    proof, _, notes = prove(model, X, "Normal")
    assert proof is not None, notes
    exact = X.shape[0] * D * supremum(kind, c)
    assert exact <= proof.bound <= exact + 1e-6 * max(1.0, abs(exact))
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(X, dtype=torch.float64)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * spread)
        value = float(objective_value(model, x, draws(seed, 4, X.shape[0], LATENT), seed))
    scores.observe(value, proof.bound)
    assert not value > proof.bound
