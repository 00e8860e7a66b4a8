"""The Bernoulli claims (S5, L3): on binary data the likelihood is bounded, and tightly.

The bound is the empirical distribution's log-likelihood ``sum_u n_u log(n_u / n)``
(:func:`wellposed.lines.exact.bernoulli_bound`); a search over Bernoulli MLP decoders stays
below it and the Bernoulli staircase approaches it without reaching it.
"""

from __future__ import annotations

import numpy as np
import torch

from wellposed.claims._common import fmt, staircase_tightness
from wellposed.claims._search import ascent
from wellposed.claims.registry import Context, Outcome, claim
from wellposed.evidence import INCONCLUSIVE, agree_close, check_bound, decide_bounded
from wellposed.ledger import Claim
from wellposed.lines import exact
from wellposed.lines.objectives import log_likelihood
from wellposed.models.networks import BernoulliMLPDecoder
from wellposed.models.validate import DTYPE

_KS = [2.0, 8.0, 32.0, 128.0]


def _grid_loglik(
    dec: torch.nn.Module, x: torch.Tensor, nodes: torch.Tensor, log_w: torch.Tensor
) -> torch.Tensor:
    """``sum_i log sum_g w_g p(x_i | t_g)`` with normalized Gauss-Hermite weights (torch).

    A mixture with weights summing to 1, so it obeys the same bound ``sum_u n_u log(n_u/n)``.
    """
    lp = dec.log_prob(x, nodes[:, None, None].expand(-1, x.shape[0], 1))  # (G, n)
    return torch.logsumexp(lp + log_w[:, None], dim=0).sum()


def _bernoulli_search(ctx: Context, x: np.ndarray, salt: int) -> dict[str, np.ndarray]:
    """Random Bernoulli MLP decoders plus Adam ascent on the Gauss-Hermite log-likelihood."""
    z, w = np.polynomial.hermite_e.hermegauss(48)
    nodes = torch.as_tensor(z, dtype=DTYPE)
    log_w = torch.as_tensor(np.log(w / w.sum()), dtype=DTYPE)
    xt = torch.as_tensor(x, dtype=DTYPE)
    D = x.shape[1]
    rng = ctx.rng(salt)
    rand = []
    for r in range(24):
        dec = BernoulliMLPDecoder(1, 6, D, seed=ctx.seed * 100 + r)
        with torch.no_grad():
            for p in dec.parameters():
                p.mul_(float(rng.uniform(0.5, 8.0)))
            rand.append(float(_grid_loglik(dec, xt, nodes, log_w)))
    dec = BernoulliMLPDecoder(1, 6, D, seed=ctx.seed * 100 + 999)
    asc = ascent(
        list(dec.parameters()), lambda: _grid_loglik(dec, xt, nodes, log_w), steps=300, lr=0.1
    )
    quad = log_likelihood(dec, x, method="quadrature").value
    return {"random": np.array(rand), "ascent": asc, "ascent_final_quadrature": np.array([quad])}


def _bernoulli_data(ctx: Context) -> np.ndarray:
    """Five random binary points in ``D = 4`` (the first two distinct) plus a duplicate."""
    rng = ctx.rng(50)
    x = (rng.uniform(size=(5, 4)) < 0.5).astype(float)
    x[1] = 1.0 - x[0]  # make the first two distinct
    return np.vstack([x, x[:1]])  # one duplicate: counts (2, 1, 1, ...)


@claim("S5")
def bernoulli_bounded(ctx: Context, entry: Claim) -> Outcome:
    """S5: with a duplicate point, ``l <= sum_u n_u log(n_u / n)``, approached by the staircase."""
    x = _bernoulli_data(ctx)
    B = exact.bernoulli_bound(x)
    found = _bernoulli_search(ctx, x, 51)
    tight, lines, vals = staircase_tightness(ctx, x, B, _KS, family="bernoulli", tol=5e-3)
    found["staircase"] = np.array(vals)
    bound = check_bound(B, found)
    return Outcome(
        decide_bounded(bound, tight),
        {"bound": bound, "search": {"sources": list(found)}, "tightness": tight},
        lines,
        f"B = sum n_u log(n_u/n) = {fmt(B)}; search max {fmt(bound.max_value)}; "
        f"staircase gap -> {fmt(tight.final_gap)}",
    )


@claim("L3")
def bernoulli_tight(ctx: Context, entry: Claim) -> Outcome:
    """L3: for distinct points ``B = -n log n``; the staircase approaches it, never reaches it."""
    rng = ctx.rng(52)
    x = np.unique((rng.uniform(size=(12, 5)) < 0.5).astype(float), axis=0)[:6]
    n = x.shape[0]
    B = exact.bernoulli_bound(x)
    found = _bernoulli_search(ctx, x, 53)
    tight, lines, vals = staircase_tightness(ctx, x, B, _KS, family="bernoulli", tol=5e-3)
    found["staircase"] = np.array(vals)
    bound = check_bound(B, found, symbols={"n": n})
    lines.append(
        agree_close(
            "B = -n log n for distinct points",
            entry.bound_at(n=n),
            B,
            line="closed form",
            reference_line="bernoulli_bound",
        )
    )
    never_reached = bool(np.all(np.array(vals) < B))  # approached, not attained (L3)
    return Outcome(
        decide_bounded(bound, tight) if never_reached else INCONCLUSIVE,
        {
            "bound": bound,
            "search": {"sources": list(found)},
            "tightness": tight,
            "never_reached": never_reached,
        },
        lines,
        f"B = -n log n = {fmt(B)} (n={n}); staircase gaps "
        f"{', '.join(fmt(g, 3) for g in tight.gaps)}",
    )
