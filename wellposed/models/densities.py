"""Observation families: numerically safe log-space densities and their suprema.

Densities are float64 torch, elementwise over coordinates (the decoders sum them over the
last axis).  The per-observation supremum (:func:`gaussian_supremum`,
:func:`bernoulli_supremum`)
``sup_params log p(x | params)`` is the quantity that decides boundedness
(docs/claims.md, table F): an expressive decoder makes the objective unbounded
exactly when it is infinite at some data point.
"""

from __future__ import annotations

import math

import torch

from wellposed.numerics import LOG_2PI

__all__ = [
    "bernoulli_log_prob",
    "bernoulli_supremum",
    "gaussian_log_prob",
    "gaussian_sq_term",
    "gaussian_supremum",
]


def gaussian_sq_term(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Return ``(x - mean)^2 / sigma^2`` computed as ``exp(2 log|x - mean| - log sigma^2)``.

    A zero residual gives exactly 0 for any ``log_var`` (even ``-1e4``, where
    ``1/sigma^2`` overflows and the naive product is ``0 * inf = NaN``).  A non-zero
    residual whose scaled square exceeds the float64 range gives ``+inf``: the
    mathematical value is finite but not representable.
    """
    resid = torch.abs(x - mean)
    nonzero = resid > 0
    # double-where keeps gradients finite at a zero residual: the masked exponent is -inf
    # (exp'(-inf) = 0), not 2 log 1 - log_var, whose exp overflows for log_var < -709
    safe = torch.where(nonzero, resid, torch.ones_like(resid))
    expo = torch.where(nonzero, 2.0 * torch.log(safe) - log_var, -math.inf)
    return torch.exp(expo)


def gaussian_rows_inplace_(
    x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    """Fast ``sum_j log N(x_j | mean_j, sigma_j^2)`` over the last axis, overwriting the inputs.

    ``mean`` and ``log_var`` (same shape ``(..., D)``, ``x`` broadcastable) are scratch:
    ``log_var`` becomes ``e = exp(-log sigma^2 / 2)`` and ``mean`` the scaled residual
    ``z = (mean - x) e``, so the value is ``-(D log 2pi + sum_j log sigma_j^2 + z.z)/2``
    with no temporaries of size ``D``.  ``z`` is exact up to rounding wherever ``e`` is finite
    (``log sigma^2 > -1419``): it under- or overflows only where ``z^2`` does.  Rows where
    ``e`` overflows (``0 * inf`` or ``inf``) come out NaN or infinite; callers recompute those
    rows with :func:`gaussian_log_prob` (the safe ``exp(2 log|r| - log sigma^2)`` path).
    Use only without autograd.
    """
    D = mean.shape[-1]
    lv_sum = log_var.sum(-1)
    scale = log_var.mul_(-0.5).exp_()
    z = mean.sub_(x).mul_(scale)
    sq = torch.linalg.vecdot(z, z)
    return lv_sum.add_(sq).add_(D * LOG_2PI).mul_(-0.5)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Elementwise ``log N(x | mean, sigma^2) = -(log 2pi + log sigma^2 + (x-mean)^2/sigma^2)/2``.

    Stable for ``|log sigma^2|`` up to the float64 range; see :func:`gaussian_sq_term`.
    """
    return -0.5 * (LOG_2PI + log_var + gaussian_sq_term(x, mean, log_var))


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Elementwise ``x log sigmoid(l) + (1 - x) log sigmoid(-l)`` (BCE with logits, negated).

    Each ``log sigmoid`` is computed as ``min(l, 0) - log1p(e^{-|l|})``, so the value keeps
    full relative precision for any finite logit (``log sigmoid(40) = -4.2e-18``, where
    ``x*l - softplus(l)`` would round to 0); for binary ``x`` it is ``<= 0`` and for ``x``
    in [0, 1] it is ``<= -H(x)`` (binary entropy).
    """
    logsig = torch.nn.functional.logsigmoid
    return x * logsig(logits) + (1.0 - x) * logsig(-logits)


def gaussian_supremum(data_dim: int, log_var_floor: float | None) -> float:
    """``sup_{mu, sigma^2 >= e^floor} log N(x | mu, diag sigma^2)`` for one observation.

    ``mu = x`` and the smallest variance give ``-(D/2)(log 2pi + floor)`` (S4, L2, F6); with
    no floor (``None``: learned variance) the supremum is ``+inf`` at every ``x`` (F1).
    """
    if log_var_floor is None:
        return math.inf
    return -0.5 * data_dim * (LOG_2PI + float(log_var_floor))


def bernoulli_supremum(x: torch.Tensor) -> torch.Tensor:
    """``sup_l sum_j [x_j l_j - softplus(l_j)] = -sum_j H(x_j)`` (binary entropy, nats).

    The maximiser is ``l_j = logit(x_j)``; for binary ``x`` the supremum 0 is approached as
    ``l -> +-inf`` and never attained (S5, L3, F4).
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    ent: torch.Tensor = -(torch.special.xlogy(x, x) + torch.special.xlogy(1.0 - x, 1.0 - x))
    return -ent.sum(-1)
