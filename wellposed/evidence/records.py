"""Evidence records: frozen dataclasses with one JSON policy (rounding, infinities, NaN).

Every record serialises through :func:`jsonable`, the single rule for reports, chosen so a
report is the same on any CPU (other SIMD widths and BLAS kernels change the last bits):

* a value is rounded to :data:`SIG` (6) significant digits;
* an *error* (a field or key named ``rel_error``, ``residual``, ``max_abs_error``, ``rtol``,
  ``error_estimate`` or ``se_batch``: the difference of two computations of one number, a
  tolerance derived from one or a rough estimate of one, whose low digits are noise) is
  written as an upper bound: rounded up to 2 significant digits, and never below
  :data:`ERROR_FLOOR` (1e-8), which then reads "at most 1e-8";
* a *difference to a bound* (``margin``, ``gaps``, ``final_gap``, ``min_gap``, ``slack``,
  ``search_gap``) is rounded to the absolute
  grid :data:`ERROR_FLOOR` before its 6 digits, so a tie at rounding level prints as 0;
* non-finite floats are the strings ``"inf"``, ``"-inf"`` and ``"nan"``.

The checks that create the records live in :mod:`wellposed.evidence.checks`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeAlias, Union

import numpy as np

from wellposed.evidence.vocabulary import Attained

__all__ = [
    "ERROR_FLOOR",
    "SIG",
    "ATTAINED",
    "AuditFacts",
    "Attainment",
    "BoundCheck",
    "Certification",
    "Convergence",
    "Counterexample",
    "Evidence",
    "EvidenceItem",
    "Facts",
    "IdentityCheck",
    "LineCheck",
    "RateFit",
    "Search",
    "Symbolic",
    "Tightness",
    "TrainingFacts",
    "Witness",
    "as_float_tuple",
    "evidence_kinds",
    "jsonable",
    "jsonable_dict",
    "round_error",
    "round_value",
]

#: the answers of :class:`Attainment` (is the supremum of a bounded objective attained?)
ATTAINED = tuple(a.value for a in Attained)
#: significant digits of every reported value
SIG = 6
#: errors are reported as upper bounds no smaller than this; differences on this grid
ERROR_FLOOR = 1e-8
_ERROR_KEYS = frozenset(
    {"rel_error", "residual", "max_abs_error", "rtol", "error_estimate", "se_batch"}
)
_DIFFERENCE_KEYS = frozenset({"margin", "gaps", "final_gap", "min_gap", "slack", "search_gap"})


def _non_finite(v: float) -> str:
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def round_value(v: float) -> float | str:
    """``v`` to :data:`SIG` significant digits (non-finite as a string)."""
    if not math.isfinite(v):
        return _non_finite(v)
    return float(f"{v:.{SIG}g}") if v != 0 else 0.0


def round_error(v: float) -> float | str:
    """An error as an upper bound: ``max(|v|, ERROR_FLOOR)`` rounded up to 2 digits (a
    relative excess below 1e-6, e.g. a tolerance of 0.01 computed as 0.0100000001, is
    rounding noise and does not round up)."""
    if not math.isfinite(v):
        return _non_finite(v)
    a = abs(v)
    if a <= ERROR_FLOOR:
        return ERROR_FLOOR
    scale = 10.0 ** (math.floor(math.log10(a)) - 1)
    return float(f"{math.ceil(a / scale * (1 - 1e-6)) * scale:.2g}")


def _round_difference(v: float) -> float | str:
    if not math.isfinite(v):
        return _non_finite(v)
    return round_value(round(v / ERROR_FLOOR) * ERROR_FLOOR)


def jsonable(value: object, key: str = "") -> object:
    """Records, numpy scalars / arrays and floats as deterministic, portable JSON values
    (the rounding rule of :data:`SIG` / :data:`ERROR_FLOOR`; ``key`` selects it)."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if key in _ERROR_KEYS:
            return round_error(float(value))
        if key in _DIFFERENCE_KEYS:
            return _round_difference(float(value))
        return round_value(float(value))
    if isinstance(value, np.ndarray):
        return [jsonable(v, key) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, key) for v in value]
    return value


def jsonable_dict(value: Mapping[str, object]) -> dict[str, Any]:
    """:func:`jsonable` of a mapping: a JSON object (string keys, rounded values)."""
    return {str(k): jsonable(v, str(k)) for k, v in value.items()}


class _Record:
    """Mixin: ``to_dict()`` over the dataclass fields (with ``kind`` first).  ``kind`` is
    the ledger's evidence kind the record shows (``rate``, ``bound``, ...; the gate finds
    kinds by record class, never by the key a claim files a record under)."""

    kind: str = "record"

    def kinds(self) -> set[str]:
        """The ledger evidence kinds this record shows (its ``kind``)."""
        return {self.kind}

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            out[f.name] = jsonable(getattr(self, f.name), f.name)
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
    corrections: tuple[str, ...] = ()
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
class Certification(_Record):
    """The exact line's float64 values a claim used, checked against rigorous enclosures.

    ``values`` counts the values enclosed; ``outside`` describes each value that lies outside
    its enclosure by more than its own rounding, ``not_certified`` each exact call no
    certified mirror could enclose, ``conservative`` each verdict that does not hold at the
    enclosure's conservative end (a witness whose ``lo`` is not above its target, a bound
    check whose ``hi`` exceeds the bound); ``ok`` iff all three are empty.  ``uncertified``
    names what else the verdict rests on (``MC only``, ``training``, ``network (float64)``,
    ``torch probe (float64)``; empty when nothing: the claim is certified, docs/design.md
    "What certified means").  A family claim's values are its closed forms (suprema, spike
    values; :data:`wellposed.lines.certify.FAMILY_MIRRORS`).
    """

    values: int
    outside: tuple[str, ...] = ()
    not_certified: tuple[str, ...] = ()
    conservative: tuple[str, ...] = ()
    uncertified: str = ""
    kind: str = field(default="certification", init=False)

    @property
    def ok(self) -> bool:
        """No value outside its enclosure, none left uncertified, no conservative failure."""
        return not (self.outside or self.not_certified or self.conservative)

    @property
    def certified(self) -> str:
        """The report's ``certified`` cell: ``yes``, or what is not certified."""
        if self.outside:
            return f"no: {len(self.outside)} outside"
        if self.conservative:
            return "no: conservative end"
        if self.not_certified:
            return f"no: {len(self.not_certified)} not certified"
        return self.uncertified or ("yes" if self.values else "no exact values")

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "ok": self.ok, "certified": self.certified}


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

    For ``mc``: ``z = (value - reference) / se``, ``ok`` iff ``|z| <= zmax`` and, where the
    line gave one, ``se`` is within a factor of the batch-means SE ``se_batch``.  For
    ``quadrature`` / ``scipy`` / ``symbolic``: relative error, ``ok`` iff ``<= rtol`` and,
    where the line gave one, its own ``error_estimate`` supports ``rtol`` and covers the
    difference (:func:`wellposed.evidence.checks.agree_close`).
    ``mode`` says what the comparison can show: ``statistical`` (Monte Carlo with a
    positive standard error), ``numerical`` (two deterministic computations within a
    tolerance) or ``code path`` (a zero-variance Monte Carlo estimate: it exercises the
    torch code, and is never counted as statistical agreement).
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
    mode: str = "numerical"
    se_batch: float | None = None
    error_estimate: float | None = None
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

    def kinds(self) -> set[str]:
        """``identity``, and ``symbolic`` when the identity was also proved symbolically."""
        return {self.kind, "symbolic"} if self.symbolic else {self.kind}


@dataclass(frozen=True)
class Counterexample(_Record):
    """A concrete parameterization contradicting a claim, with the values that show it."""

    description: str
    values: dict[str, object]
    ok: bool
    kind: str = field(default="counterexample", init=False)


@dataclass(frozen=True)
class Attainment(_Record):
    """Is the supremum ``sup`` of a bounded objective attained (does a maximiser exist)?

    ``attained`` is one of :data:`ATTAINED`: ``yes`` when a member of the tightness sequence
    at a *finite* parameter has gap ``<= tol * max(1, |sup|)`` (a maximiser, found);
    ``no`` when the claim's derivation gives a strict inequality at every finite parameter
    (``reason``) and every computed gap is above that resolution while the gaps shrink to the
    tolerance (the supremum is a limit only); ``unknown`` otherwise.  ``at`` is the parameter
    of the zero gap (``yes``), ``min_gap`` the smallest gap at a finite parameter, ``case``
    says which supremum (e.g. ``n = 1: the bound``), ``rule`` how it was decided.
    """

    attained: Attained
    case: str
    sup: float
    x_name: str
    at: float | None
    min_gap: float
    tol: float
    rule: str
    reason: str | None = None
    kind: str = field(default="attainment", init=False)


@dataclass(frozen=True)
class Search(_Record):
    """Which search sources ran for a bound (their values are in the :class:`BoundCheck`)."""

    sources: tuple[str, ...]
    n_evaluated: int | None = None
    kind: str = field(default="search", init=False)

    def to_dict(self) -> dict[str, object]:
        """``{"sources": [...]}`` (and ``n_evaluated`` when counted); no ``kind`` key."""
        out: dict[str, object] = {"sources": list(self.sources)}
        if self.n_evaluated is not None:
            out["n_evaluated"] = self.n_evaluated
        return out


class Facts(Mapping[str, "EvidenceItem"]):
    """Named values a claim reports beside its checks (a read-only mapping; JSON: the mapping
    itself).  A subclass names the ledger evidence kind the values show (:class:`Symbolic`,
    :class:`AuditFacts`, :class:`TrainingFacts`, :class:`Convergence`); plain ``Facts`` show
    none, so a bare mapping under an evidence key never satisfies the gate."""

    kind: ClassVar[str] = "facts"

    def __init__(
        self, values: Mapping[str, EvidenceItem] | None = None, /, **more: EvidenceItem
    ) -> None:
        self._values: dict[str, EvidenceItem] = {**(values or {}), **more}

    def __getitem__(self, key: str) -> EvidenceItem:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._values!r})"

    def to_dict(self) -> dict[str, object]:
        """The values under :func:`jsonable`'s rounding (the keys select it)."""
        return {str(k): jsonable(v, str(k)) for k, v in self._values.items()}


class Symbolic(Facts):
    """A symbolic derivation's results (sympy expressions as text, identities checked)."""

    kind: ClassVar[str] = "symbolic"


class AuditFacts(Facts):
    """What an audit of :mod:`wellposed.audit` computed for a claim."""

    kind: ClassVar[str] = "audit"


class TrainingFacts(Facts):
    """What the training runs of :mod:`wellposed.training` showed for a claim."""

    kind: ClassVar[str] = "training"


class Convergence(Facts):
    """Terms that approach a limit from below (an upper bound approached: ``bound`` kind)."""

    kind: ClassVar[str] = "bound"


#: one value of a claim's evidence: a record, facts, or a nesting of them (per case / part)
EvidenceItem: TypeAlias = Union[  # noqa: UP007 (a recursive alias needs the string form)
    _Record,
    Facts,
    Mapping[str, "EvidenceItem"],
    Sequence["EvidenceItem"],
    np.ndarray,
    float,
    int,
    str,
    bool,
    None,
]
#: a claim's evidence: what it found, by the name the report files it under
Evidence: TypeAlias = dict[str, EvidenceItem]


def evidence_kinds(item: object) -> set[str]:
    """The ledger evidence kinds of every record and facts object anywhere in ``item``."""
    if isinstance(item, _Record):
        return item.kinds()
    if isinstance(item, Facts):
        return {item.kind}.union(*(evidence_kinds(v) for v in item.values()))
    if isinstance(item, Mapping):
        return set().union(*(evidence_kinds(v) for v in item.values()))
    if isinstance(item, list | tuple):
        return set().union(*(evidence_kinds(v) for v in item))
    return set()
