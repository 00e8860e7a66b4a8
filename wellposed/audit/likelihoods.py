"""Rules for likelihood nodes: distribution constructors, ``log_prob``, KL and torch's losses.

Part of the rule table of :mod:`wellposed.audit.rules` (docs/your-model.md, "What is
proved, and how"):

* a ``torch.distributions`` constructor becomes a :class:`~wellposed.audit.values.DistVal`
  (``Independent`` looked through) holding its parameters' values;
* ``log_prob`` of a location-scale family is at most its supremum over the location at the
  scale's floor (:func:`location_scale_sup`), times the event size;
* ``kl_divergence`` is ``>= 0`` (Gibbs' inequality);
* torch's losses: ``mse_loss``, ``l1_loss``, ``smooth_l1_loss``, ``huber_loss`` are ``>= 0``;
  ``binary_cross_entropy[_with_logits]`` is ``>= 0`` for targets in ``[0, 1]``;
  ``cross_entropy`` / ``nll_loss`` of ``log_softmax`` are ``>= 0`` for class indices or
  non-negative targets; ``gaussian_nll_loss(mu, x, var, full, eps)`` is ``>= (1/2)(log
  max(var, eps) [+ log 2pi])`` per element (torch clamps the variance's value at ``eps``).
  The functional forms are kept as single graph nodes while tracing (:data:`LOSSES`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F

from wellposed.audit import intervals as I
from wellposed.audit.intervals import INF, Iv
from wellposed.audit.values import LOG_2PI, Ctx, DistVal, Val, point

__all__ = ["LIKELIHOODS", "LOSSES", "distribution", "location_scale_sup"]

#: torch's functional losses, recorded as one node each while tracing
LOSSES = (
    F.mse_loss,
    F.l1_loss,
    F.smooth_l1_loss,
    F.huber_loss,
    F.gaussian_nll_loss,
    F.binary_cross_entropy,
    F.binary_cross_entropy_with_logits,
    F.cross_entropy,
    F.nll_loss,
)


def distribution(ctx: Ctx) -> Any:
    """A distribution constructor node: its family and parameters' values."""
    cls = cast(Callable[..., Any], ctx.node.target)  # a call_function node: not a str target
    if ctx.op == "Independent":
        base = ctx.arg(0, "base_distribution")
        if not isinstance(base, DistVal):
            return None
        return DistVal(base.family, base.params, ctx.out, (*base.path, ctx.node.name))
    try:
        bound = inspect.signature(cls).bind(*ctx.args, **ctx.kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    params = {
        k: v if isinstance(v, Val) else point(float(v))
        for k, v in bound.arguments.items()
        if isinstance(v, Val) or (isinstance(v, int | float) and not isinstance(v, bool))
    }
    path = tuple(p for v in params.values() for p in v.path)[-12:]
    return DistVal(ctx.op, params, ctx.out, (*path, ctx.node.name))


def _above(v: float) -> float:
    """``v`` rounded upwards with room for the rounding of its formula."""
    return I.up(I.up(v) + 1e-15 * abs(v))


def location_scale_sup(dist: DistVal) -> tuple[float, str] | None:
    """``sup_loc log p(x | loc, scale)`` per coordinate for ``scale >= s`` (the lower end of
    the scale's enclosure): Normal ``-log s - log(2 pi)/2``; Laplace ``-log(2 s)``; Cauchy
    ``-log(pi s)``; Student-t ``log c(df) - log s`` with ``c(df) = Gamma((df+1)/2) /
    (Gamma(df/2) sqrt(df pi))`` increasing in ``df`` to the Normal's ``1/sqrt(2 pi)``
    (so the upper end of df's enclosure, or the Normal's value when df is free or above
    ``1e4``).  Rounded upwards; ``None`` when the scale has no positive floor or the family
    is not one of these.  Also returns the formula's text."""
    scale = dist.params.get("scale")
    if scale is None or not scale.iv[0] > 0.0:
        return None
    ls = math.log(scale.iv[0])
    if dist.family == "Normal":
        return _above(-ls - 0.5 * LOG_2PI), "-log(scale) - log(2 pi)/2"
    if dist.family == "Laplace":
        return _above(-ls - math.log(2.0)), "-log(2 scale)"
    if dist.family == "Cauchy":
        return _above(-ls - math.log(math.pi)), "-log(pi scale)"
    if dist.family == "StudentT":
        df = dist.params.get("df")
        top = df.iv[1] if df is not None else INF
        if not (df is None or df.iv[0] > 0.0):
            return None
        lc = (
            -0.5 * LOG_2PI
            if not top <= 1e4
            else (math.lgamma((top + 1) / 2) - math.lgamma(top / 2) - 0.5 * math.log(top * math.pi))
        )
        return _above(
            lc - ls + 1e-12 * (1 + abs(lc - ls))
        ), "log c(df) - log(scale), c(df) <= 1/sqrt(2 pi)"
    return None


def _log_prob(ctx: Ctx) -> Any:
    dist = ctx.args[0]
    if not isinstance(dist, DistVal):
        return None
    sup = location_scale_sup(dist)
    if sup is None:
        return None
    n = math.prod(dist.c.event_shape) if hasattr(dist.c, "event_shape") else 1
    return ctx.make((-INF, _above(sup[0] * n)))


def _options(ctx: Ctx) -> dict[str, Any]:
    """The loss's options: a module's attributes, or the functional call's arguments bound
    to its signature (defaults applied)."""
    m = ctx.module
    if m is not None:
        return {k: getattr(m, k) for k in ("reduction", "full", "eps", "weight") if hasattr(m, k)}
    try:
        bound = inspect.signature(cast(Callable[..., Any], ctx.node.target)).bind(
            *ctx.args, **ctx.kwargs
        )
    except (TypeError, ValueError):
        return {"reduction": None}
    bound.apply_defaults()
    out = {k: v.c if isinstance(v, Val) else v for k, v in bound.arguments.items()}
    if out.get("size_average") is not None or out.get("reduce") is not None:
        out["reduction"] = None  # the legacy flags: not read
    return out


def _reduced(ctx: Ctx, per: float) -> Any:
    """A loss whose every element is ``>= per``: ``mean`` and ``none`` keep it, ``sum``
    multiplies by the number of elements."""
    reduction = _options(ctx).get("reduction")
    if reduction not in ("mean", "sum", "none"):
        return None
    if reduction == "sum" and per < 0.0:
        first = ctx.arg(0, "input")
        n = first.c.numel() if isinstance(first, Val) and isinstance(first.c, torch.Tensor) else 1
        per = I.scale((per, per), float(n))[0]
    return ctx.make((I.down(per - 1e-15 * abs(per)), INF))


def _in_unit(iv: Iv | None) -> bool:
    return iv is not None and iv[0] >= 0.0 and iv[1] <= 1.0


def _bce(ctx: Ctx) -> Any:
    return _reduced(ctx, 0.0) if _in_unit(ctx.iv(1, "target")) else None


def _cross_entropy(ctx: Ctx) -> Any:
    target = ctx.arg(1, "target")
    ok = (
        isinstance(target, Val)
        and isinstance(target.c, torch.Tensor)
        and (not target.c.is_floating_point() or target.iv[0] >= 0)
    )
    if (
        not ok
        or _options(ctx).get("weight") is not None
        or (
            ctx.op in ("nll_loss", "NLLLoss")
            and not (isinstance(ctx.args[0], Val) and ctx.args[0].iv[1] <= 0.0)
        )
    ):
        return None
    return _reduced(ctx, 0.0)


def _gaussian_nll(ctx: Ctx) -> Any:
    opts = _options(ctx)
    eps = float(opts.get("eps", 1e-6))
    var = ctx.iv(2, "var")
    v = max(eps, var[0] if var is not None else 0.0)
    per = 0.5 * math.log(v) + (0.5 * LOG_2PI if opts.get("full") else 0.0)
    return _reduced(ctx, per)


_NONNEG: Callable[[Ctx], Any] = lambda c: _reduced(c, 0.0)  # noqa: E731
LIKELIHOODS: dict[str, Callable[[Ctx], Any]] = {
    "log_prob": _log_prob,
    "kl_divergence": lambda c: c.make((0.0, INF)),
    "mse_loss": _NONNEG,
    "MSELoss": _NONNEG,
    "l1_loss": _NONNEG,
    "L1Loss": _NONNEG,
    "smooth_l1_loss": _NONNEG,
    "SmoothL1Loss": _NONNEG,
    "huber_loss": _NONNEG,
    "HuberLoss": _NONNEG,
    "binary_cross_entropy": _bce,
    "BCELoss": _bce,
    "binary_cross_entropy_with_logits": _bce,
    "BCEWithLogitsLoss": _bce,
    "cross_entropy": _cross_entropy,
    "CrossEntropyLoss": _cross_entropy,
    "nll_loss": _cross_entropy,
    "NLLLoss": _cross_entropy,
    "gaussian_nll_loss": _gaussian_nll,
    "GaussianNLLLoss": _gaussian_nll,
}
