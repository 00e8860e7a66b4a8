"""Evidence checks: growth-rate fits, witnesses, bound checks, tightness and line agreement.

Each check computes one :mod:`~wellposed.evidence.records` record whose ``ok`` says whether the
evidence holds; the decision rules that combine them are in :mod:`wellposed.evidence.decide`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from wellposed.evidence.records import (
    BoundCheck,
    LineCheck,
    RateFit,
    Tightness,
    Witness,
    as_float_tuple,
)

__all__ = [
    "agree_close",
    "agree_mc",
    "check_bound",
    "check_tightness",
    "check_witness",
    "fit_rate",
]

def fit_rate(
    x: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    expected: float,
    x_name: str = "k",
    rtol: float = 0.01,
    extra: tuple[str, np.ndarray] | None = None,
    extra_expected: float | None = None,
    extra_rtol: float | None = None,
    symbols: Mapping[str, float] | None = None,
) -> RateFit:
    """Fit the growth rate of ``values`` in ``x`` by least squares and compare to ``expected``.

    ``extra = (name, column)`` adds a second regressor (e.g. ``log k`` for the
    ``-((n-1)/2) log k`` encoder cost of L1) so the leading slope is not biased by it;
    with ``extra_expected`` its coefficient must match too (within ``extra_rtol``, default
    ``rtol``; a secondary term carries the O(1/k) corrections the leading slope does not).
    ``symbols`` (e.g. ``{"n": 3, "D": 2}``) records the sizes the rate depends on, so the
    claim runner can also check the slope against the ledger's ``rate_expr``.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(values, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1 or xs.size < 3:
        raise ValueError("fit_rate needs two 1-D arrays of the same length >= 3")
    cols = [xs]
    if extra is not None:
        cols.append(np.asarray(extra[1], dtype=np.float64))
    cols.append(np.ones_like(xs))
    A = np.stack(cols, axis=1)
    finite = bool(np.all(np.isfinite(ys)))
    if finite:
        coef, *_ = np.linalg.lstsq(A, ys, rcond=None)
        resid = float(np.max(np.abs(A @ coef - ys)))
    else:
        coef, resid = np.full(A.shape[1], math.nan), math.inf
    slope = float(coef[0])
    rel = abs(slope - expected) / abs(expected) if expected != 0 else abs(slope)
    ok = finite and rel <= rtol
    extra_coef = float(coef[1]) if extra is not None else None
    if extra_coef is not None and extra_expected is not None:
        denom = abs(extra_expected) if extra_expected != 0 else 1.0
        ok = ok and abs(extra_coef - extra_expected) / denom <= (extra_rtol or rtol)
    return RateFit(
        x_name=x_name,
        x=as_float_tuple(xs),
        values=as_float_tuple(ys),
        slope=slope,
        intercept=float(coef[-1]),
        residual=resid,
        expected=float(expected),
        rel_error=float(rel),
        rtol=float(rtol),
        ok=bool(ok),
        extra_name=extra[0] if extra is not None else None,
        extra_coef=extra_coef,
        extra_expected=extra_expected,
        symbols=None if symbols is None else {k: float(v) for k, v in symbols.items()},
    )


def check_witness(
    params: Mapping[str, float], value: float, target: float, *, line: str = "exact"
) -> Witness:
    """``passed`` iff ``value`` is finite and ``> target`` (``+inf`` counts only if exact)."""
    v = float(value)
    passed = v > target and not math.isnan(v)
    return Witness(dict(params), v, float(target), bool(passed), line)


def check_bound(
    bound: float,
    found: Mapping[str, Sequence[float] | np.ndarray],
    *,
    tol: float = 1e-9,
    symbols: Mapping[str, float] | None = None,
) -> BoundCheck:
    """``ok`` iff every found value is ``<= bound + tol * max(1, |bound|)`` (NaN fails).

    ``symbols`` (e.g. ``{"n": 4, "D": 3, "xi": 0.01}``) records the sizes the bound was
    computed for, so the claim runner can check ``bound`` against the ledger's ``bound_expr``.
    """
    maxima: dict[str, float] = {}
    count = 0
    for source, vals in found.items():
        arr = np.asarray(vals, dtype=np.float64).ravel()
        count += arr.size
        maxima[source] = (
            float(np.nan if np.isnan(arr).any() else np.max(arr)) if arr.size else -math.inf
        )
    top = max(maxima.values()) if maxima else -math.inf
    slack = tol * max(1.0, abs(bound))
    ok = count > 0 and not math.isnan(top) and top <= bound + slack
    syms = None if symbols is None else {k: float(v) for k, v in symbols.items()}
    return BoundCheck(float(bound), maxima, count, top, float(bound - top), tol, bool(ok), syms)


def check_tightness(
    sup: float,
    x: Sequence[float],
    values: Sequence[float],
    *,
    tol: float,
    x_name: str = "k",
    slack: float = 1e-9,
) -> Tightness:
    """``ok`` iff every gap is ``>= -slack`` (never above), gaps shrink, last gap ``<= tol``."""
    vals = np.asarray(values, dtype=np.float64)
    gaps = float(sup) - vals
    finite = bool(np.all(np.isfinite(gaps)))
    shrinking = bool(np.all(np.diff(gaps) <= slack * max(1.0, abs(sup))))
    ok = (
        finite
        and shrinking
        and bool(np.all(gaps >= -slack * max(1.0, abs(sup))))
        and float(gaps[-1]) <= tol
    )
    return Tightness(
        float(sup),
        x_name,
        as_float_tuple(x),
        as_float_tuple(gaps),
        float(gaps[-1]),
        float(tol),
        bool(ok),
    )


def agree_mc(
    label: str,
    reference: float,
    value: float,
    se: float,
    n: int,
    *,
    zmax: float = 4.0,
    reference_line: str = "exact",
) -> LineCheck:
    """Monte Carlo vs reference within ``zmax`` standard errors (``mode="statistical"``).

    The estimate and its SE must be finite, and the SE at most ``max(1, |reference|)``: an
    SE as large as the value (e.g. overflowed by a broken estimator) shows nothing, so the
    check fails instead of reading ``z = diff / inf = 0`` as agreement.  A zero-variance
    estimate (the decoder ignores ``t``: SE below ``1e-12`` relative) is a ``code path``
    check: it must equal the reference to float64 round-off (``1e-11`` relative), ``z`` is
    not reported, and it never counts as statistical agreement.
    """
    ref, val, se = float(reference), float(value), float(se)
    scale = max(1.0, abs(ref))
    diff = val - ref
    if math.isfinite(se) and 0.0 <= se <= 1e-12 * scale:
        ok = math.isfinite(diff) and abs(diff) <= 1e-11 * scale
        note: str | None = (
            "zero-variance estimator (the decoder ignores t): checks the torch code path "
            "against the reference, not a statistical agreement"
        )
        return LineCheck(label, "mc", reference_line, ref, val, bool(ok), se=se, n=int(n),
                         tol=float(zmax), note=note, mode="code path")
    plausible = math.isfinite(val) and math.isfinite(se) and 0.0 < se <= scale
    z = diff / se if plausible else math.nan
    ok = plausible and abs(z) <= zmax
    note = None if plausible else f"standard error {se!r} is not finite or exceeds max(1, |ref|)"
    return LineCheck(label, "mc", reference_line, ref, val, bool(ok), se=se, n=int(n),
                     z=float(z), tol=float(zmax), note=note, mode="statistical")


def agree_close(
    label: str,
    reference: float,
    value: float,
    *,
    line: str = "quadrature",
    rtol: float = 1e-8,
    reference_line: str = "exact",
) -> LineCheck:
    """``|value - reference| <= rtol * max(1, |reference|)``."""
    ref, val = float(reference), float(value)
    if math.isfinite(ref) and math.isfinite(val):
        rel = abs(val - ref) / max(1.0, abs(ref))
    else:
        rel = 0.0 if ref == val else math.inf
    return LineCheck(
        label,
        line,
        reference_line,
        ref,
        val,
        bool(rel <= rtol),
        rel_error=float(rel),
        tol=float(rtol),
    )
