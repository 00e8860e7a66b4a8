"""Verdicts from evidence: growth-rate fits, bound checks, line agreement, decision rules.

The decision rules are the ones in DESIGN.md ("Rules that make the verdicts trustworthy"):

* **unbounded**: a witness whose exact (or rigorous lower-bound) value passes a target
  ``M``, a least-squares growth rate within ``rtol`` (1 %) of the derived rate, and Monte
  Carlo agreement with the exact line (``|z| <= 4``) at moderate ``k``;
* **bounded**: no evaluated parameterization (constructions, random and gradient search)
  above the analytic bound ``B``, and, where the supremum is known, a sequence whose gap
  to it shrinks (tightness);
* **identity** / **refuted**: symbolic or exact checks at many points, with the
  counterexample shown.

Every record is a frozen dataclass with ``to_dict()`` (JSON-ready: floats rounded to 10
significant digits so reports are byte-identical across reruns; non-finite floats become
the strings ``"inf"``, ``"-inf"``, ``"nan"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

__all__ = [
    "BOUNDED",
    "BOUND_VIOLATED",
    "IDENTITY",
    "INCONCLUSIVE",
    "REFUTED",
    "UNBOUNDED",
    "VERDICTS",
    "BoundCheck",
    "Counterexample",
    "IdentityCheck",
    "LineCheck",
    "RateFit",
    "Tightness",
    "Witness",
    "agree_close",
    "agree_mc",
    "check_bound",
    "check_tightness",
    "check_witness",
    "decide_bounded",
    "decide_unbounded",
    "fit_rate",
    "format_verdict",
    "jsonable",
]

UNBOUNDED = "unbounded"
BOUNDED = "bounded"
IDENTITY = "identity"
REFUTED = "refuted"
VERDICTS = (UNBOUNDED, BOUNDED, IDENTITY, REFUTED)
# observed-only outcomes: the evidence did not establish any ledger verdict
INCONCLUSIVE = "inconclusive"
BOUND_VIOLATED = "bound violated"

_SIG = 10  # significant digits kept in JSON


def jsonable(value: object) -> object:
    """Convert records, numpy scalars/arrays and floats into deterministic JSON values."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return float(f"{v:.{_SIG}g}") if v != 0 else 0.0
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


class _Record:
    """Mixin: ``to_dict()`` over the dataclass fields (with ``kind`` first)."""

    kind: str = "record"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            out[f.name] = jsonable(getattr(self, f.name))
        return out


def _as_float_tuple(values: Sequence[float] | np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=np.float64).ravel())


# ---------------------------------------------------------------- growth-rate fits


@dataclass(frozen=True)
class RateFit(_Record):
    """Least-squares fit ``value = slope * x + extra_coef * extra(x) + intercept``.

    ``residual`` is the largest absolute residual, ``rel_error = |slope - expected| /
    |expected|``; ``ok`` when ``rel_error <= rtol`` and every value is finite.
    """

    x_name: str
    x: tuple[float, ...]
    values: tuple[float, ...]
    slope: float
    intercept: float
    residual: float
    expected: float
    rel_error: float
    rtol: float
    ok: bool
    extra_name: str | None = None
    extra_coef: float | None = None
    extra_expected: float | None = None
    symbols: dict[str, float] | None = None
    kind: str = field(default="rate", init=False)


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
    if extra is not None and extra_expected is not None:
        denom = abs(extra_expected) if extra_expected != 0 else 1.0
        ok = ok and abs(extra_coef - extra_expected) / denom <= (extra_rtol or rtol)
    return RateFit(
        x_name=x_name,
        x=_as_float_tuple(xs),
        values=_as_float_tuple(ys),
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


# ---------------------------------------------------------------- witnesses and bounds


@dataclass(frozen=True)
class Witness(_Record):
    """A member of a divergent sequence whose value passes the target ``M``."""

    params: dict[str, float]
    value: float
    target: float
    passed: bool
    line: str = "exact"
    kind: str = field(default="witness", init=False)


def check_witness(
    params: Mapping[str, float], value: float, target: float, *, line: str = "exact"
) -> Witness:
    """``passed`` iff ``value`` is finite and ``> target`` (``+inf`` counts only if exact)."""
    v = float(value)
    passed = v > target and not math.isnan(v)
    return Witness(dict(params), v, float(target), bool(passed), line)


@dataclass(frozen=True)
class BoundCheck(_Record):
    """The largest value found by each source (constructions, random, ascent) vs bound ``B``."""

    bound: float
    max_by_source: dict[str, float]
    n_evaluated: int
    max_value: float
    margin: float
    tol: float
    ok: bool
    symbols: dict[str, float] | None = None
    kind: str = field(default="bound", init=False)


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


@dataclass(frozen=True)
class Tightness(_Record):
    """A sequence approaching the supremum ``sup`` from below: gaps ``sup - value``."""

    sup: float
    x_name: str
    x: tuple[float, ...]
    gaps: tuple[float, ...]
    final_gap: float
    tol: float
    ok: bool
    kind: str = field(default="tightness", init=False)


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
        _as_float_tuple(x),
        _as_float_tuple(gaps),
        float(gaps[-1]),
        float(tol),
        bool(ok),
    )


# ---------------------------------------------------------------- agreement of the lines


@dataclass(frozen=True)
class LineCheck(_Record):
    """One comparison between an evaluation line and the reference (usually ``exact``).

    For ``mc``: ``z = (value - reference) / se``, ``ok`` iff ``|z| <= zmax``.  For
    ``quadrature`` / ``scipy`` / ``symbolic``: relative error, ``ok`` iff ``<= rtol``.
    """

    label: str
    line: str
    reference_line: str
    reference: float
    value: float
    ok: bool
    se: float | None = None
    n: int | None = None
    z: float | None = None
    rel_error: float | None = None
    tol: float | None = None
    note: str | None = None
    kind: str = field(default="line", init=False)


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
    """Monte Carlo vs reference within ``zmax`` standard errors.

    A difference at float64 round-off (``1e-11`` relative) also agrees: a ``t``-independent
    decoder gives an MC standard error of ~1e-16, and z would then measure rounding.
    """
    diff = float(value) - float(reference)
    rounding = abs(diff) <= 1e-11 * max(1.0, abs(float(reference)))  # float64 round-off
    if se > 0:
        z = diff / float(se)
    else:
        z = 0.0 if rounding else math.copysign(math.inf, diff) if diff else 0.0
    ok = rounding or (math.isfinite(z) and abs(z) <= zmax)
    note = None
    if se <= 1e-12 * max(1.0, abs(float(reference))):
        note = ("zero-variance estimator (the decoder ignores t): checks the torch code path "
                "against the reference, not a statistical agreement")
    return LineCheck(
        label,
        "mc",
        reference_line,
        float(reference),
        float(value),
        bool(ok),
        se=float(se),
        n=int(n),
        z=float(z),
        tol=float(zmax),
        note=note,
    )


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


# ---------------------------------------------------------------- identity / refutation


@dataclass(frozen=True)
class IdentityCheck(_Record):
    """An identity checked symbolically (``symbolic``) and numerically at ``n_points``."""

    statement: str
    symbolic: bool
    n_points: int
    max_abs_error: float
    tol: float
    ok: bool
    kind: str = field(default="identity", init=False)


@dataclass(frozen=True)
class Counterexample(_Record):
    """A concrete parameterization contradicting a claim, with the values that show it."""

    description: str
    values: dict[str, object]
    ok: bool
    kind: str = field(default="counterexample", init=False)


# ---------------------------------------------------------------- decision rules


def decide_unbounded(witness: Witness, rate: RateFit, lines: Sequence[LineCheck]) -> str:
    """``unbounded`` iff the witness passed ``M``, the rate matched and MC agreed."""
    mc_ok = any(c.line == "mc" for c in lines) and all(c.ok for c in lines)
    return UNBOUNDED if witness.passed and rate.ok and mc_ok else INCONCLUSIVE


def decide_bounded(bound: BoundCheck, tightness: Tightness | None = None) -> str:
    """``bounded`` iff nothing exceeded ``B`` (and the sequence approached the sup, if known)."""
    if not bound.ok:
        return BOUND_VIOLATED
    if tightness is not None and not tightness.ok:
        return INCONCLUSIVE
    return BOUNDED


def format_verdict(verdict: str | Mapping[str, str]) -> str:
    """``"bounded"`` or, for a conditional verdict, ``"conditional(a=bounded, b=unbounded)"``."""
    if isinstance(verdict, Mapping):
        inner = ", ".join(f"{k}={v}" for k, v in verdict.items())
        return f"conditional({inner})"
    return str(verdict)
