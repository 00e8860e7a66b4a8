"""Evidence records: frozen dataclasses with one JSON policy (rounding, infinities, NaN).

Every record serialises through :func:`jsonable`, the single rule for reports: floats rounded
to 10 significant digits, non-finite floats written as the strings ``"inf"``, ``"-inf"``,
``"nan"``.  The checks that create the records live in :mod:`wellposed.evidence.checks`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

__all__ = [
    "BoundCheck",
    "Counterexample",
    "IdentityCheck",
    "LineCheck",
    "RateFit",
    "Tightness",
    "Witness",
    "as_float_tuple",
    "jsonable",
]

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


def as_float_tuple(values: Sequence[float] | np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=np.float64).ravel())


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


@dataclass(frozen=True)
class Witness(_Record):
    """A member of a divergent sequence whose value passes the target ``M``."""

    params: dict[str, float]
    value: float
    target: float
    passed: bool
    line: str = "exact"
    kind: str = field(default="witness", init=False)


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
