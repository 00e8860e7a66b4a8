"""Ball-arithmetic enclosures (python-flint / Arb): the interval type, its check, 1-D integrals.

An :class:`Enclosure` ``[lo, hi]`` holds a true value; it is made from ``arb`` balls rounded
outwards to float64 (:func:`outward`), computed at 64 bits and again at 128, 256, 512 while
wider than :data:`TARGET` relative (:func:`refine`).  :func:`agrees` says whether a float64
value lies in its enclosure up to that value's own rounding (:data:`ROUNDING`).
:func:`integral` encloses ``int f`` of a holomorphic integrand with ``acb.integral`` (Arb's
rigorous Gauss-Legendre, error bounds from ``|f|`` on complex ellipses; Johansson 2018,
"Numerical integration in arbitrary-precision ball arithmetic"), piece by piece, proving the
pieces where ``f`` is negligible by real-ball bounds instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from flint import acb, arb, ctx

from wellposed.errors import WellposedInputError
from wellposed.lines import meshes

__all__ = [
    "ROUNDING",
    "SPAN",
    "TARGET",
    "Enclosure",
    "agrees",
    "breaks",
    "check",
    "difference",
    "exactly",
    "integral",
    "log_2pi",
    "outward",
    "prior_tail",
    "refine",
    "sigmoid",
    "span_for",
    "union0",
]

SPAN = meshes.SPAN  # the exact line's integration range; tails beyond are bounded

#: relative allowance for a float64 value's own rounding: the exact line sums up to ~10^4
#: float64 terms (quadrature panels, points), each correct to ~eps, so its error is below
#: ~10^4 eps = 2e-12 of the value's size; 2^-36 = 1.5e-11 leaves a margin and still catches
#: a shift of 1e-10 relative
ROUNDING = 2.0**-36
#: relative radius at which an enclosure is accepted (else recomputed at twice the bits)
TARGET = 2.0**-46
_PRECS = (64, 128, 256, 512)
SPAN = meshes.SPAN  # the exact line's integration range; tails beyond are bounded


@dataclass(frozen=True)
class Enclosure:
    """A closed interval ``[lo, hi]`` (float64 ends, rounded outwards) holding a true value."""

    lo: float
    hi: float

    @property
    def mid(self) -> float:
        return 0.5 * (self.lo + self.hi)

    @property
    def width(self) -> float:
        return self.hi - self.lo


def outward(b: arb) -> Enclosure:
    """``[lower, upper]`` of a ball rounded outwards to float64 (``[-inf, inf]`` if not
    finite)."""
    if not b.is_finite():
        return Enclosure(-math.inf, math.inf)
    lo_a, hi_a = b.lower(), b.upper()
    lo, hi = float(lo_a), float(hi_a)
    if arb(lo) > lo_a:
        lo = math.nextafter(lo, -math.inf)
    if arb(hi) < hi_a:
        hi = math.nextafter(hi, math.inf)
    return Enclosure(lo, hi)


def _tight(b: arb) -> bool:
    return bool(b.is_finite()) and float(b.rad()) <= TARGET * max(1.0, abs(float(b.mid())))


def refine(compute: Callable[[], Sequence[arb]]) -> list[Enclosure]:
    """Run ``compute`` at 64 bits, then 128, 256, 512 while any ball is wider than
    :data:`TARGET` relative; the last balls, rounded outwards."""
    balls: Sequence[arb] = []
    for prec in _PRECS:
        with ctx.workprec(prec):
            balls = compute()
        if all(_tight(b) for b in balls):
            break
    return [outward(b) for b in balls]


def exactly(v: float) -> arb:
    """A float64 read exactly (refuses NaN and infinities: they have no enclosure)."""
    v = float(v)
    if not math.isfinite(v):
        raise WellposedInputError(
            f"cannot enclose a value computed from {v!r}: pass finite float64 inputs"
        )
    return arb(v)


def agrees(value: float, enclosure: Enclosure, rtol: float = ROUNDING, atol: float = 0.0) -> bool:
    """``lo - e <= value <= hi + e`` with ``e = rtol * max(1, |value|) + atol``: the float64
    value is the true one up to its own rounding (:data:`ROUNDING`; ``atol``: a bound on a
    cancellation inside the float64 formula, e.g. wellposed.lines.certify's residuals).  A NaN
    agrees only with a NaN enclosure (the formula is undefined there, e.g. ``lam <= 1/2``)."""
    if math.isnan(value) or math.isnan(enclosure.lo):
        return math.isnan(value) and math.isnan(enclosure.lo)
    if not math.isfinite(value):
        return False
    slack = rtol * max(1.0, abs(value)) + atol
    return enclosure.lo - slack <= value <= enclosure.hi + slack


def check(values: object, enclosures: Sequence[Enclosure], rtol: float = ROUNDING) -> np.ndarray:
    """:func:`agrees` elementwise: a boolean array, one entry per value."""
    vals = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if len(vals) != len(enclosures):
        raise WellposedInputError(f"{len(vals)} values against {len(enclosures)} enclosures")
    return np.array([agrees(float(v), e, rtol) for v, e in zip(vals, enclosures, strict=True)])


def log_2pi() -> arb:
    return (2 * arb.pi()).log()


def union0(t: arb) -> arb:
    """The ball ``[0, t]`` for ``t >= 0``."""
    return arb(0).union(t)


def prior_tail(L: float) -> arb:
    """``P(|u| > L) = erfc(L / sqrt 2)`` for ``u ~ N(0, 1)``."""
    return (exactly(L) / arb(2).sqrt()).erfc()


def integral(f: Callable[[acb, bool], acb], points: Sequence[float], size: float = 1.0) -> arb:
    """``int f`` over ``[points[0], points[-1]]`` (real part), to about ``2^-(prec-8)`` of
    ``max(1, size)`` absolute, piece by piece (:func:`_piece`)."""
    tol = arb(2) ** -(ctx.prec - 8) * max(1.0, abs(size))
    span = points[-1] - points[0]
    total = arb(0)
    for a, b in zip(points[:-1], points[1:], strict=False):
        total += _piece(f, a, b, tol * (b - a) / span)
    return total


def _bound(f: Callable[[acb, bool], acb], a: float, b: float) -> arb:
    """``(b - a) sup_{[a, b]} |f|`` from one evaluation on the real ball ``[a, b]``."""
    whole = f(acb(arb(a).union(arb(b))), False)
    return (arb(b) - arb(a)) * whole.abs_upper() if whole.is_finite() else arb("inf")


def _dead(f: Callable[[acb, bool], acb], a: float, b: float, tol: arb, depth: int) -> arb | None:
    """``[-w, w]`` holding ``int_a^b f`` with ``w <= tol``, proved by halving ``[a, b]`` until
    every real-ball bound (:func:`_bound`) is small; ``None`` if ``depth`` halvings do not."""
    w = _bound(f, a, b)
    if w < tol:
        return arb(0, w.upper())
    mid = 0.5 * (a + b)
    if depth == 0 or not a < mid < b:
        return None
    left = _dead(f, a, mid, tol / 2, depth - 1)
    right = _dead(f, mid, b, tol / 2, depth - 1) if left is not None else None
    return None if right is None or left is None else left + right


def _piece(f: Callable[[acb, bool], acb], a: float, b: float, tol: arb) -> arb:
    """``int_a^b f``.  Where ``f`` is negligible at 5 probe points (beyond a cliff, where its
    complex extension is huge and ``acb.integral`` would have to creep), a proof by real-ball
    bounds (:func:`_dead`) is tried first; otherwise, or if that fails, ``acb.integral``."""
    probes = [f(acb(a + (b - a) * t / 4), False) for t in range(5)]
    small = tol * arb(2) ** -30 / (arb(b) - arb(a))
    if all(p.is_finite() and p.abs_upper() < small for p in probes):
        dead = _dead(f, a, b, tol, 40)
        if dead is not None:
            return dead
    goal = arb(2) ** -(ctx.prec - 8)
    return acb.integral(f, a, b, rel_tol=goal, abs_tol=tol).real


def breaks(points: object, L: float, scale: float | None = None) -> list[float]:
    """``[-L, L]`` cut at the given points inside it and, with ``scale``, at ``p +- scale
    2^j`` (``j >= -2``) around each (pieces as wide as their distance to the nearest point,
    so ``acb.integral`` meets each switch or cliff on a piece of its own size)."""
    pts = np.atleast_1d(np.asarray(points, dtype=np.float64))
    pts = pts[np.isfinite(pts) & (np.abs(pts) < L)]
    if scale is not None and len(pts):
        steps = scale * 2.0 ** np.arange(-2, 80)
        steps = steps[steps < 2 * L]
        pts = np.concatenate([pts, (pts[:, None] + steps).ravel(), (pts[:, None] - steps).ravel()])
    inner = [float(p) for p in pts if -L < p < L]
    return sorted({-L, L, *inner})


def span_for(log_sup: float) -> float:
    """``L >= 40`` with ``e^{log_sup} erfc(L / sqrt 2) < e^{-60}``: the expectation's tail
    beyond ``L`` is then below ``e^{-60}`` absolute."""
    return max(SPAN, math.sqrt(2.0 * max(log_sup + 60.0, 0.0)))


_Ball = TypeVar("_Ball", acb, arb)


def sigmoid(z: _Ball) -> _Ball:
    """``1 / (1 + e^-z)``, written ``e^z / (1 + e^z)`` where ``Re z < 0``: on a complex ball
    far from the switch the ``e^-z`` form would wrap a huge ball around ``-1`` (a spurious
    pole), the other stays near ``0``."""
    if z.real < 0:
        e = z.exp()
        return e / (1 + e)
    return 1 / (1 + (-z).exp())


def difference(a: Enclosure, b: Enclosure) -> Enclosure:
    """``a - b`` of two enclosures, rounded outwards (in arb, then to float64)."""
    ends = (a.lo, a.hi, b.lo, b.hi)
    if not all(math.isfinite(v) for v in ends):
        return Enclosure(-math.inf, math.inf)
    return outward((exactly(a.lo) - exactly(b.hi)).union(exactly(a.hi) - exactly(b.lo)))
