"""Observation families: numerically safe log-space densities and their suprema.

Everything is float64 torch, elementwise over coordinates, summed over the last
(coordinate) axis by :meth:`log_prob`.  The per-observation supremum
``sup_params log p(x | params)`` is the quantity that decides boundedness
(CLAIMS.md, section F): an expressive decoder makes the objective unbounded
exactly when it is infinite at some data point.
"""

from __future__ import annotations

import math

import torch

__all__ = ["LOG_2PI", "bernoulli_log_prob", "gaussian_log_prob", "gaussian_sq_term"]

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_sq_term(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Return ``(x - mean)^2 / sigma^2`` computed as ``exp(2 log|x - mean| - log sigma^2)``.

    A zero residual gives exactly 0 for any ``log_var`` (even ``-1e4``, where
    ``1/sigma^2`` overflows and the naive product is ``0 * inf = NaN``).  A non-zero
    residual whose scaled square exceeds the float64 range gives ``+inf``: the
    mathematical value is finite but not representable.
    """
    resid = torch.abs(x - mean)
    nonzero = resid > 0
    # double-where keeps gradients finite at a zero residual
    safe = torch.where(nonzero, resid, torch.ones_like(resid))
    scaled = torch.exp(2.0 * torch.log(safe) - log_var)
    return torch.where(nonzero, scaled, torch.zeros_like(scaled))


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Elementwise ``log N(x | mean, sigma^2) = -(log 2pi + log sigma^2 + (x-mean)^2/sigma^2)/2``.

    Stable for ``|log sigma^2|`` up to the float64 range; see :func:`gaussian_sq_term`.
    """
    return -0.5 * (LOG_2PI + log_var + gaussian_sq_term(x, mean, log_var))


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Elementwise ``x log sigmoid(l) + (1 - x) log sigmoid(-l)`` (BCE with logits, negated).

    Written as ``x*l - softplus(l)``, exact in log space for any finite logit; for
    binary ``x`` it is ``<= 0`` and for ``x`` in [0, 1] it is ``<= -H(x)`` (binary entropy).
    """
    return x * logits - torch.nn.functional.softplus(logits)
