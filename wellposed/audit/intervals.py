"""Interval arithmetic on scalars: sound ``[lo, hi]`` enclosures of elementwise operations.

An interval ``(lo, hi)`` (float64, ``lo <= hi``, either end possibly infinite) encloses every
value a tensor's elements can take.  Each rule returns an enclosure of the operation's value
for every input inside its intervals (the textbook rules of interval arithmetic, Moore,
Kearfott & Cloud, *Introduction to Interval Analysis*, SIAM 2009, ch. 2-5), rounded outwards
(:func:`down`, :func:`up`: one float64 step, ``math.nextafter``) wherever the result is not
exact, so the enclosure also holds for the float64 values torch computes.  A NaN value is
not a value (it compares false with every bound; docs/your-model.md).

:func:`lin_bound` sharpens sums in which one tensor ``u`` enters through several terms
(``a u + b e^u + c u^2``, e.g. the KL term ``1 + lv - exp(lv)``), where plain interval
arithmetic loses the dependence: the supremum and infimum of each one-variable group are
found from its endpoints, its limits and its stationary point.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = [
    "FREE",
    "INF",
    "Iv",
    "Lin",
    "abs_",
    "add",
    "clamp",
    "down",
    "exp",
    "hull",
    "increasing",
    "lin_bound",
    "log",
    "logaddexp",
    "mul",
    "pow_const",
    "recip",
    "scale",
    "softplus",
    "sqrt",
    "up",
]

INF = math.inf
#: an enclosure ``(lo, hi)``
Iv = tuple[float, float]
#: anything: a free parameter, a free latent, an unknown operation
FREE: Iv = (-INF, INF)
#: a linear form over atoms: ``{(kind, ident): coefficient}`` and a constant; kinds
#: ``id`` (``u``), ``exp`` (``e^u``), ``sq`` (``u^2``)
Lin = tuple[dict[tuple[str, str], float], float]


def down(x: float) -> float:
    """One float64 step towards ``-inf`` (``math.nextafter``); infinities stay."""
    return math.nextafter(x, -INF) if math.isfinite(x) else x


def up(x: float) -> float:
    """One float64 step towards ``+inf``; infinities stay."""
    return math.nextafter(x, INF) if math.isfinite(x) else x


def _ok(iv: Iv) -> Iv:
    """An enclosure with a NaN end (``inf - inf``) encloses nothing known: :data:`FREE`."""
    return FREE if math.isnan(iv[0]) or math.isnan(iv[1]) else iv


def hull(*ivs: Iv) -> Iv:
    """The smallest interval holding all of ``ivs``."""
    return (min(i[0] for i in ivs), max(i[1] for i in ivs))


def add(a: Iv, b: Iv) -> Iv:
    """``[a0 + b0, a1 + b1]``."""
    return _ok((down(a[0] + b[0]), up(a[1] + b[1])))


def _prod(x: float, y: float) -> float:
    """``x y`` with ``0 * inf = 0`` (the factors are reals; infinity only marks no bound)."""
    return 0.0 if x == 0.0 or y == 0.0 else x * y


def mul(a: Iv, b: Iv) -> Iv:
    """``[min, max]`` of the four end products."""
    p = [_prod(x, y) for x in a for y in b]
    return _ok((down(min(p)), up(max(p))))


def scale(a: Iv, k: float) -> Iv:
    """``k a`` for a constant ``k``."""
    return mul(a, (k, k))


def recip(a: Iv) -> Iv:
    """``1 / a``; :data:`FREE` when 0 is inside ``a`` (``1/0`` is ``inf``: an end at 0
    gives an infinite end)."""
    if a[0] > 0.0 or a[1] < 0.0:
        return (down(1.0 / a[1]) if a[1] != 0.0 else -INF, up(1.0 / a[0]) if a[0] != 0 else INF)
    if a[0] == 0.0 and a[1] > 0.0:
        return (down(1.0 / a[1]), INF)
    if a[1] == 0.0 and a[0] < 0.0:
        return (-INF, up(1.0 / a[0]))
    return FREE


def increasing(f: Callable[[float], float], a: Iv, lo: float = -INF, hi: float = INF) -> Iv:
    """A non-decreasing ``f`` with range inside ``[lo, hi]``: ``[f(a0), f(a1)]`` rounded
    outwards and clipped to the range (``f`` gets infinite arguments too)."""

    def ev(x: float) -> float:
        try:
            return f(x)
        except OverflowError:
            return INF if x > 0 else -INF

    return _ok((max(lo, _wide(ev(a[0]), -1.0)), min(hi, _wide(ev(a[1]), 1.0))))


def _wide(v: float, side: float) -> float:
    """``v`` moved outwards by 4 units of relative rounding and one float64 step: libm's
    and torch's kernels for the same function may differ by a few ulps."""
    if not math.isfinite(v):
        return v
    v = v + side * 4.5e-16 * abs(v)
    return up(v) if side > 0 else down(v)


def _exp(x: float) -> float:
    return 0.0 if x == -INF else INF if x > 709.0 else math.exp(x)


def exp(a: Iv) -> Iv:
    """``[e^a0, e^a1]``, at least 0."""
    return increasing(_exp, a, 0.0)


def log(a: Iv) -> Iv:
    """``[log a0, log a1]``; an end at or below 0 gives ``-inf`` (negative inputs are NaN)."""
    if a[1] <= 0.0:
        return (-INF, -INF) if a[1] == 0.0 else FREE
    return (
        _wide(math.log(a[0]), -1.0) if a[0] > 0 else -INF,
        _wide(math.log(a[1]), 1.0) if a[1] < INF else INF,
    )


def sqrt(a: Iv) -> Iv:
    """``[sqrt(max(a0, 0)), sqrt(a1)]``."""
    if a[1] < 0.0:
        return FREE
    return (max(0.0, down(math.sqrt(max(a[0], 0.0)))), up(math.sqrt(a[1])))


def _softplus(x: float, beta: float) -> float:
    """``log(1 + e^{beta x}) / beta``, stable for large ``beta x``."""
    z = beta * x
    if z == -INF:
        return 0.0
    if z == INF:
        return INF
    return (max(z, 0.0) + math.log1p(math.exp(-abs(z)))) / beta


def softplus(a: Iv, beta: float = 1.0, threshold: float = 20.0) -> Iv:
    """``F.softplus(x, beta, threshold)``: ``log(1 + e^{beta x}) / beta``, and ``x`` itself
    where ``beta x > threshold`` (torch's switch; the value drops there by at most
    ``e^-threshold / beta``, so the infimum also takes ``threshold / beta``)."""
    if not beta > 0.0:
        return FREE
    switch = threshold / beta
    lo = _softplus(a[0], beta) if a[0] <= switch else a[0]
    if a[1] > switch >= a[0]:
        lo = min(lo, switch)
    hi = _softplus(a[1], beta) if a[1] <= switch else max(a[1], _softplus(switch, beta))
    return _ok((max(0.0, _wide(lo, -1.0)), _wide(hi, 1.0)))


def logaddexp(a: Iv, b: Iv) -> Iv:
    """``log(e^a + e^b)`` lies in ``[max(a, b), max(a, b) + log 2]``."""
    return _ok((max(a[0], b[0]), up(up(max(a[1], b[1])) + math.log(2.0) * (1 + 1e-15))))


def clamp(a: Iv, low: Iv | None, high: Iv | None) -> Iv:
    """``min(max(x, low), high)`` (torch's ``clamp``; ``high`` wins where ``low > high``)."""
    lo, hi = a
    if low is not None:
        lo, hi = max(lo, low[0]), max(hi, low[1])
    if high is not None:
        lo, hi = min(lo, high[0]), min(hi, high[1])
    return (lo, hi)


def abs_(a: Iv) -> Iv:
    """``|x|``."""
    if a[0] >= 0.0:
        return a
    if a[1] <= 0.0:
        return (-a[1], -a[0])
    return (0.0, max(-a[0], a[1]))


def pow_const(a: Iv, p: float) -> Iv:
    """``x^p`` for a constant exponent ``p`` (real powers of negative ``x`` are NaN)."""
    if p == 0.0:
        return (1.0, 1.0)
    if p == int(p) and int(p) % 2 == 0:
        return (
            increasing(lambda x: x**p, abs_(a), 0.0)
            if p > 0
            else recip(increasing(lambda x: x**-p, abs_(a), 0.0))
        )
    if p == int(p):  # odd: increasing on the reals
        return increasing(lambda x: x ** int(p), a) if p > 0 else recip(pow_const(a, -p))
    pos = (max(a[0], 0.0), a[1])
    if pos[1] < 0.0:
        return FREE
    if p > 0.0:
        return increasing(lambda x: x**p, pos, 0.0)
    return recip(increasing(lambda x: x**-p, pos, 0.0))


# ----------------------------------------------------------------------------------------
# linear forms over atoms (the dependence plain interval arithmetic loses)
# ----------------------------------------------------------------------------------------


def _group_value(a: float, b: float, c: float, u: float) -> float:
    return a * u + b * _exp(u) + c * u * u


def _group_sup(a: float, b: float, c: float, iv: Iv) -> float:
    """``sup a u + b e^u + c u^2`` over ``u`` in ``iv``: endpoints (or limits at infinite
    ends) and the stationary point ``a + b e^u + 2 c u = 0`` (closed form when ``b = 0``
    or ``c = 0``; ``inf`` otherwise, i.e. unknown)."""
    if b != 0.0 and c != 0.0:
        return INF
    cands = []
    for end, sign in ((iv[0], -1.0), (iv[1], 1.0)):
        if math.isfinite(end):
            cands.append(_group_value(a, b, c, end))
            continue
        lead = (b if b else c if c else a) if sign > 0 else (c if c else -a if a else 0.0)
        cands.append(INF if lead > 0 else (-INF if lead < 0 else 0.0))
    if b != 0.0 and -a / b > 0.0:
        u = math.log(-a / b)
        if iv[0] <= u <= iv[1]:
            cands.append(_group_value(a, b, c, u))
    if c != 0.0 and b == 0.0:
        u = -a / (2.0 * c)
        if iv[0] <= u <= iv[1]:
            cands.append(_group_value(a, b, c, u))
    top = max(cands)
    return top + 1e-12 * (1.0 + abs(top)) if math.isfinite(top) else top


def lin_bound(lin: Lin, bases: dict[str, Iv]) -> Iv:
    """An enclosure of ``const + sum_u (a_u u + b_u e^u + c_u u^2)`` with each ``u`` in
    ``bases[u]``: each group's infimum and supremum (:func:`_group_sup`), summed."""
    terms, const = lin
    groups: dict[str, list[float]] = {}
    for (kind, ident), coef in terms.items():
        g = groups.setdefault(ident, [0.0, 0.0, 0.0])
        g[["id", "exp", "sq"].index(kind)] += coef
    lo = hi = const
    for ident, (a, b, c) in groups.items():
        iv = bases.get(ident, FREE)
        hi += _group_sup(a, b, c, iv)
        lo -= _group_sup(-a, -b, -c, iv)
    return _ok((down(lo), up(hi)))
