"""Evidence checks: growth-rate fits, witnesses, bounds, tightness, attainment, line agreement.

Each check computes one :mod:`~wellposed.evidence.records` record whose ``ok`` says whether the
evidence holds; the decision rules that combine them are in :mod:`wellposed.evidence.decide`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from wellposed.evidence.records import (
    Attainment,
    BoundCheck,
    LineCheck,
    RateFit,
    Tightness,
    Witness,
    as_float_tuple,
)
from wellposed.evidence.vocabulary import Attained

__all__ = [
    "agree_close",
    "agree_mc",
    "check_attained",
    "check_bound",
    "check_tightness",
    "check_witness",
    "fit_rate",
]

# a tolerance derived from the fit may not exceed this: a looser fit cannot pin the rate
FIT_RTOL_CEILING = 0.01
# ... nor go below this (float64 values of size ~1e3 fitted over ~1e3 units of k)
FIT_RTOL_FLOOR = 1e-8
# the tolerance is this many times the fit's own error estimate
FIT_RTOL_FACTOR = 10.0
# a Monte Carlo SE agrees with its batch-means estimate within this factor either way (the
# ratio's spread is ~16% with 20 batches: a factor 3 is ~7 of those spreads on the log scale)
SE_RATIO_MAX = 3.0
# float64 round-off of one value: a difference within this many ulps of it is no statistics
ROUNDOFF_ULPS = 64.0
# a quadrature error estimate must cover the difference to the reference, up to this factor
# and the reference's own accuracy (the exact line: certified to 2^-36 relative)
ERROR_COVER_FACTOR = 10.0
REFERENCE_RTOL = 2.0**-36


def _lstsq_slope(A: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of ``A c = ys``."""
    coef: np.ndarray = np.linalg.lstsq(A, ys, rcond=None)[0]
    return coef


def fit_rate(
    x: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    expected: float,
    x_name: str = "k",
    rtol: float | None = 0.01,
    extra: tuple[str, np.ndarray] | None = None,
    extra_expected: float | None = None,
    extra_rtol: float | None = None,
    corrections: Sequence[tuple[str, np.ndarray]] = (),
    symbols: Mapping[str, float] | None = None,
) -> RateFit:
    """Fit the growth rate of ``values`` in ``x`` by least squares and compare to ``expected``.

    ``extra = (name, column)`` adds a second regressor (e.g. ``log k`` for the
    ``-((n-1)/2) log k`` encoder cost of L1) so the leading slope is not biased by it;
    with ``extra_expected`` its coefficient must match too (within ``extra_rtol``, default
    ``rtol``; a secondary term carries the O(1/k) corrections the leading slope does not).
    ``corrections`` are further nuisance columns (e.g. ``("1/k", 1/k)``) for known
    lower-order terms; their names are recorded, their coefficients are not judged.
    ``rtol=None`` sets the tolerance from the fit's own error: ``FIT_RTOL_FACTOR`` times the
    change of the slope when the smallest ``x`` is left out (the bias the asymptotics have
    not shed yet), at least ``FIT_RTOL_FLOOR``; a fit whose error puts that tolerance above
    ``FIT_RTOL_CEILING`` is not ok (too poor to pin the rate; docs/design.md, "Rates").
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
    cols.extend(np.asarray(c, dtype=np.float64) for _, c in corrections)
    cols.append(np.ones_like(xs))
    A = np.stack(cols, axis=1)
    if rtol is None and xs.size <= A.shape[1]:
        raise ValueError("rtol=None needs more points than coefficients plus one")
    finite = bool(np.all(np.isfinite(ys)))
    if finite:
        coef = _lstsq_slope(A, ys)
        resid = float(np.max(np.abs(A @ coef - ys)))
    else:
        coef, resid = np.full(A.shape[1], math.nan), math.inf
    slope = float(coef[0])
    scale = abs(expected) if expected != 0 else 1.0
    if rtol is None:
        first = int(np.argmin(xs))
        keep = np.arange(xs.size) != first
        later = float(_lstsq_slope(A[keep], ys[keep])[0]) if finite else math.nan
        err = abs(slope - later) / scale
        rtol = max(FIT_RTOL_FLOOR, FIT_RTOL_FACTOR * err) if math.isfinite(err) else math.inf
        finite = finite and rtol <= FIT_RTOL_CEILING
    rel = abs(slope - expected) / scale
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
        corrections=tuple(name for name, _ in corrections),
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
    x: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
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


def check_attained(
    tight: Tightness,
    *,
    case: str,
    strict: str | None = None,
    tol: float = 1e-9,
) -> Attainment:
    """Is the supremum ``tight.sup`` attained?  Decided from the tightness sequence (whose
    members are all at finite parameters) and the claim's derivation (docs/claims.md):

    * ``yes``: some member's gap is ``<= tol * max(1, |sup|)`` (and ``>= -`` that: above it
      the bound check fails): the member is a maximiser at a finite parameter;
    * ``no``: the derivation gives a strict inequality at every finite parameter
      (``strict``, e.g. ``"sigmoid(logit) < 1"``), every gap is above that resolution and the
      sequence reached the supremum to its tolerance (``tight.ok``): the supremum is a limit
      only.  A zero gap with ``strict`` given yields ``yes``, contradicting the derivation
      (the gate then reports the mismatch with the ledger's ``attained``);
    * ``unknown``: neither (no derivation, or the sequence did not approach the supremum).
    """
    gaps = np.asarray(tight.gaps, dtype=np.float64)
    xs = np.asarray(tight.x, dtype=np.float64)
    res = tol * max(1.0, abs(tight.sup))
    finite = bool(gaps.size) and bool(np.all(np.isfinite(gaps))) and bool(np.all(np.isfinite(xs)))
    min_gap = float(np.min(gaps)) if gaps.size else math.inf
    zero = np.flatnonzero(np.abs(gaps) <= res) if finite else np.array([], dtype=int)
    at: float | None = None
    if zero.size:
        attained, at = Attained.YES, float(xs[zero[0]])
        rule = (
            f"the gap is <= {tol:g} * max(1, |sup|) at the finite parameter "
            f"{tight.x_name} = {at:g}: a maximiser"
        )
    elif strict is not None and finite and tight.ok and bool(np.all(gaps > res)):
        attained = Attained.NO
        rule = (
            f"every gap > {tol:g} * max(1, |sup|) at finite {tight.x_name} while the gaps "
            f"shrink to {tight.tol:g}, and the derivation (reason) is strict at every "
            "finite parameter"
        )
    else:
        attained = Attained.UNKNOWN
        rule = (
            "no strict inequality derived"
            if strict is None
            else "the sequence did not reach the supremum to its tolerance"
        )
    return Attainment(
        attained, case, float(tight.sup), tight.x_name, at, min_gap, float(tol), rule, strict
    )


def _se_problem(se: float, se_batch: float | None) -> str | None:
    """Why ``se`` disagrees with its batch-means estimate ``se_batch`` (``None``: it agrees,
    or the line gave none)."""
    if se_batch is None:
        return None
    ratio = se / se_batch if math.isfinite(se_batch) and se_batch > 0 else math.nan
    if 1.0 / SE_RATIO_MAX <= ratio <= SE_RATIO_MAX:
        return None
    return (
        f"standard error {se:.6g} disagrees with its batch-means estimate {se_batch:.6g} "
        f"(ratio outside [1/{SE_RATIO_MAX:g}, {SE_RATIO_MAX:g}])"
    )


def agree_mc(
    label: str,
    reference: float,
    value: float,
    se: float,
    n: int | None,
    *,
    zmax: float = 4.0,
    reference_line: str = "exact",
    se_batch: float | None = None,
) -> LineCheck:
    """Monte Carlo vs reference within ``zmax`` standard errors (``mode="statistical"``).

    The estimate and its SE must be finite, and the SE at most ``max(1, |reference|)``: an
    SE as large as the value (e.g. overflowed by a broken estimator) shows nothing, so the
    check fails instead of reading ``z = diff / inf = 0`` as agreement.  ``se_batch`` (the
    line's batch-means SE of the same draws, :class:`wellposed.lines.montecarlo.MCResult`)
    checks the SE itself: a ratio ``se / se_batch`` outside ``[1/3, 3]`` fails, so an
    inflated SE cannot buy agreement nor a deflated one fake precision.
    A zero-variance estimate is a ``code path`` check: the SE is below ``1e-12`` relative
    (the decoder ignores ``t``; or a value that overflowed to ``-inf``, whose SE the Monte
    Carlo line reports as 0), or the estimate equals the reference to its own float64
    round-off (``64 eps |value|``: a round-off SE such as ``4e-9`` with ``z = 0`` is not
    statistics).  It must equal the reference to float64 round-off (``1e-11`` relative;
    ``-inf`` equals ``-inf``), ``z`` is not reported, and it never counts as statistical
    agreement.
    """
    ref, val, se = float(reference), float(value), float(se)
    scale = max(1.0, abs(ref))
    diff = val - ref
    roundoff = ROUNDOFF_ULPS * np.finfo(np.float64).eps * max(abs(ref), abs(val))
    tiny_se = math.isfinite(se) and 0.0 <= se <= 1e-12 * scale
    if tiny_se or (math.isfinite(se) and math.isfinite(diff) and abs(diff) <= roundoff):
        # equal infinities (both -inf: a value that overflowed on both lines) agree exactly
        ok = val == ref or (math.isfinite(diff) and abs(diff) <= 1e-11 * scale)
        note: str | None = (
            "zero-variance estimator (the decoder ignores t, or the estimate equals the "
            "reference to round-off): checks the torch code path against the reference, "
            "not a statistical agreement"
        )
        return LineCheck(
            label,
            "mc",
            reference_line,
            ref,
            val,
            bool(ok),
            se=se,
            n=None if n is None else int(n),
            tol=float(zmax),
            note=note,
            mode="code path",
        )
    plausible = math.isfinite(val) and math.isfinite(se) and 0.0 < se <= scale
    z = diff / se if plausible else math.nan
    se_wrong = _se_problem(se, se_batch) if plausible else None
    ok = plausible and abs(z) <= zmax and se_wrong is None
    note = (
        se_wrong if plausible else f"standard error {se!r} is not finite or exceeds max(1, |ref|)"
    )
    return LineCheck(
        label,
        "mc",
        reference_line,
        ref,
        val,
        bool(ok),
        se=se,
        n=None if n is None else int(n),
        z=float(z),
        tol=float(zmax),
        note=note,
        mode="statistical",
        se_batch=None if se_batch is None else float(se_batch),
    )


def agree_close(
    label: str,
    reference: float,
    value: float,
    *,
    line: str = "quadrature",
    rtol: float = 1e-8,
    reference_line: str = "exact",
    error: float | None = None,
) -> LineCheck:
    """``|value - reference| <= rtol * max(1, |reference|)``.

    ``error`` is the line's own error estimate (quadrature: the summed QUADPACK estimates,
    :attr:`wellposed.lines.objectives.Estimate.se`).  Given, it is checked too: it must be
    ``<= rtol * max(1, |reference|)`` (the line claims the accuracy the comparison relies
    on: a loosened tolerance fails here even where the value happens to agree), and it must
    cover the difference, ``|value - reference| <= 10 error + 2^-36 max(1, |reference|)``
    (the reference's own certified accuracy): an estimate that understates the error fails.
    """
    ref, val = float(reference), float(value)
    scale = max(1.0, abs(ref))
    if math.isfinite(ref) and math.isfinite(val):
        rel = abs(val - ref) / scale
    else:
        rel = 0.0 if ref == val else math.inf
    ok = rel <= rtol
    note = None
    if error is not None:
        err = float(error)
        if not (math.isfinite(err) and 0.0 <= err <= rtol * scale):
            ok, note = False, f"the line's error estimate {err:.3g} exceeds the tolerance"
        elif not rel * scale <= ERROR_COVER_FACTOR * err + REFERENCE_RTOL * scale:
            ok, note = False, f"the line's error estimate {err:.3g} understates the difference"
    return LineCheck(
        label,
        line,
        reference_line,
        ref,
        val,
        bool(ok),
        rel_error=float(rel),
        tol=float(rtol),
        note=note,
        error_estimate=None if error is None else float(error),
    )
