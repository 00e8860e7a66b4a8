"""Gradient-ascent searches shared by the claim modules (common random numbers, Adam).

Private to :mod:`wellposed.claims`.  A search looks for values above a claimed bound: random
parameters plus Adam ascent on a common-random-number objective; its values go to
:func:`wellposed.evidence.check_bound`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from wellposed.claims.recipes import held_below_sup
from wellposed.claims.registry import Context
from wellposed.evidence import BoundCheck
from wellposed.lines.objectives import elbo, log_likelihood
from wellposed.models.networks import Decoder, GaussianMLPDecoder, TabularEncoder
from wellposed.models.validate import DTYPE

__all__ = ["SUP_TOL", "ascent", "crn_elbo", "crn_eps", "mlp_elbo_search", "mlp_elbo_search_held"]

#: relative tolerance of an exact (quadrature) log-likelihood held against a known supremum
SUP_TOL = 1e-7


def ascent(
    params: Sequence[torch.Tensor],
    objective: Callable[[], torch.Tensor],
    *,
    steps: int = 300,
    lr: float = 0.05,
) -> np.ndarray:
    """Adam ascent on ``objective()``; returns the value at every step (float64)."""
    opt = torch.optim.Adam(params, lr=lr)
    values = np.empty(steps)
    for i in range(steps):
        opt.zero_grad()
        val = objective()
        values[i] = float(val.detach())
        if not torch.isfinite(val):
            return values[: i + 1]
        (-val).backward()  # type: ignore[no-untyped-call]
        opt.step()
    return values


def crn_elbo(
    decoder: Decoder, encoder: TabularEncoder, x: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """ELBO with fixed ``eps`` (common random numbers) and the KL in closed form (torch)."""
    m, lv = encoder(x)
    t = m + torch.exp(0.5 * lv) * eps
    kl = 0.5 * (m * m + torch.exp(lv) - 1.0 - lv).sum()
    value: torch.Tensor = decoder.log_prob(x, t).mean(0).sum() - kl
    return value


def crn_eps(ctx: Context, salt: int, S: int, n: int, d: int) -> torch.Tensor:
    """``(S, n, d)`` standard normal common random numbers seeded by ``(ctx.seed, salt)``."""
    g = torch.Generator().manual_seed(ctx.seed * 1000 + salt)
    return torch.randn((S, n, d), generator=g, dtype=DTYPE)


def mlp_elbo_search(
    ctx: Context,
    make_decoder: Callable[[int], GaussianMLPDecoder],
    x: np.ndarray,
    *,
    salt: int,
    **options: Any,
) -> dict[str, np.ndarray]:
    """The searched values of :func:`_searched` (its keyword ``options``): random decoders
    and an Adam ascent on the common-random-numbers ELBO, then a fresh 256-draw estimate."""
    return _searched(ctx, make_decoder, x, salt=salt, **options)[0]


def mlp_elbo_search_held(
    ctx: Context,
    make_decoder: Callable[[int], GaussianMLPDecoder],
    x: np.ndarray,
    sup: float,
    *,
    salt: int,
    extra: dict[str, np.ndarray] | None = None,
    **options: Any,
) -> tuple[dict[str, np.ndarray], BoundCheck]:
    """:func:`mlp_elbo_search`, and the exact log-likelihood ``l`` of the decoder the ascent
    ended at (quadrature line, one latent dimension; ``>=`` every ELBO of that decoder) held
    against a known supremum ``sup`` of ``l`` (with ``extra`` exact values of ``l``, e.g.
    constructions), to quadrature's tolerance (:func:`held_below_sup`).  The Monte Carlo
    values are not held against ``sup``: the ascent's are of the objective at its own fixed
    draws (overfitted to them, they may pass ``sup`` with no error anywhere), the fresh
    estimate has its standard error; each obeys the per-sample bound ``B`` (checked with
    the rest).  ``found`` gains ``ascent_final_l``."""
    found, _, dec = _searched(ctx, make_decoder, x, salt=salt, **options)
    with torch.no_grad():
        found["ascent_final_l"] = np.array([log_likelihood(dec, x, method="quadrature").value])
    held = {"ascent_final_l": found["ascent_final_l"], **(extra or {})}
    return found, held_below_sup(sup, held, nats=SUP_TOL * max(1.0, abs(sup)))


def _searched(
    ctx: Context,
    make_decoder: Callable[[int], GaussianMLPDecoder],
    x: np.ndarray,
    *,
    salt: int,
    random_draws: int = 24,
    steps: int = 300,
    scale: float = 3.0,
    penalty: Callable[[Decoder], torch.Tensor] | None = None,
) -> tuple[dict[str, np.ndarray], float, Decoder]:
    """Random decoders (weights scaled up to ``scale``) + Adam ascent on the CRN ELBO.

    Valid as a search for a *deterministic* bound ``log p(x|t) <= B`` (every sample obeys
    it, and the KL is >= 0), which is what S2, S4 and L8 claim.  Every value, the final
    256-sample Monte Carlo ELBO included, is of the penalized objective (ELBO - ``penalty``).
    """
    n = x.shape[0]
    xt = torch.as_tensor(x, dtype=DTYPE)
    pen = penalty or (lambda _dec: torch.zeros((), dtype=DTYPE))
    rng = ctx.rng(salt)
    rand_vals = []
    for r in range(random_draws):
        dec = make_decoder(ctx.seed * 100 + r)
        with torch.no_grad():
            for p in dec.parameters():
                p.mul_(float(rng.uniform(0.1, scale)))
        enc = TabularEncoder(
            rng.normal(size=(n, dec.latent_dim)), rng.uniform(-6, 1, size=(n, dec.latent_dim))
        )
        with torch.no_grad():
            rand_vals.append(
                float(
                    crn_elbo(dec, enc, xt, crn_eps(ctx, salt + r, 32, n, dec.latent_dim)) - pen(dec)
                )
            )
    dec = make_decoder(ctx.seed * 100 + 999)
    enc = TabularEncoder(np.zeros((n, dec.latent_dim)), np.zeros((n, dec.latent_dim)))
    eps = crn_eps(ctx, salt + 999, 64, n, dec.latent_dim)
    params = [p for p in list(dec.parameters()) + list(enc.parameters()) if p.requires_grad]
    asc = ascent(params, lambda: crn_elbo(dec, enc, xt, eps) - pen(dec), steps=steps, lr=0.05)
    with torch.no_grad():  # the objective the ascent climbed: the penalty is part of it
        res = elbo(dec, enc, x, method="mc", samples=256, seed=ctx.seed, device="cpu")
        final = res.value - float(pen(dec))
    found = {"random": np.array(rand_vals), "ascent": asc, "ascent_final_mc": np.array([final])}
    return found, float(res.se), dec
