"""Helpers shared by the claim modules: number formatting, seeded data, staircase tightness.

Private to :mod:`wellposed.claims`; every claim module takes these from here, so a summary
number, a seeded data set or the witness target means the same thing in every claim.
"""

from __future__ import annotations

import numpy as np

from wellposed import constructions
from wellposed.claims.registry import Context
from wellposed.evidence import LineCheck, Tightness, agree_mc, check_tightness
from wellposed.lines.objectives import log_likelihood
from wellposed.models.variance import VariancePolicy
from wellposed.report.text import fmt_number

__all__ = ["TARGET_M", "fmt", "seeded_data", "staircase_tightness"]

TARGET_M = 1000.0  # the target an unbounded witness must pass (exact line)


def fmt(v: float, digits: int = 4) -> str:
    """Short deterministic number formatting for summaries (:func:`fmt_number`, 4 digits)."""
    return fmt_number(v, digits)


def seeded_data(ctx: Context, salt: int, n: int, D: int, scale: float = 1.0) -> np.ndarray:
    """``n`` standard normal points in ``D`` dimensions (times ``scale``) from ``ctx.rng(salt)``."""
    return ctx.rng(salt).normal(size=(n, D)) * scale


def staircase_tightness(
    ctx: Context,
    x: np.ndarray,
    sup: float,
    ks: list[float],
    *,
    family: str,
    variance: VariancePolicy | None = None,
    tol: float,
) -> tuple[Tightness, list[LineCheck], list[float]]:
    """The staircase's log-likelihood (quadrature) along ``ks`` against ``sup``; the second
    member is also checked by Monte Carlo.  Returns (tightness, line checks, values)."""
    vals, lines = [], []
    for i, k in enumerate(ks):
        c = constructions.staircase(x, k, family=family, variance=variance)
        q = log_likelihood(c.decoder, x, method="quadrature").value
        vals.append(q)
        if i == 1:
            mc = log_likelihood(
                c.decoder, x, method="mc", samples=4000, seed=ctx.seed, device=ctx.device
            )
            lines.append(
                agree_mc(
                    f"staircase log-lik, k={fmt(k)}",
                    q,
                    mc.value,
                    mc.se,
                    mc.n_samples,
                    reference_line="quadrature",
                    se_batch=mc.se_batch,
                )
            )
    return check_tightness(sup, ks, vals, tol=tol), lines, vals
