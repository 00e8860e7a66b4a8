"""The family audit: per-observation verdicts on sup log p(x | params), combined over the data.

The reduction (docs/claims.md#f1 to #f6): an expressive decoder's objective is unbounded
exactly when ``sup_params log p(x | params) = +inf`` at some data point; otherwise
``l <= sum_i c(x_i)``.  :func:`audit_family` resolves a family (a built-in name, a
``torch.distributions`` class or its name, ``module:Class``) and answers per observation

* analytically for the built-in families (:mod:`wellposed.audit.analytic`), with rates
  and bounds, and
* numerically for any univariate ``Distribution`` subclass (:mod:`wellposed.audit.search`),

then combines the coordinates of each row and the rows of the data set into one verdict
(the words of :mod:`wellposed.evidence.decide`), next to what torch's own code does at the
extreme parameters (:mod:`wellposed.audit.probes`).

An observation where the density is 0 for every parameter (``sup log p = -inf``) is outside
the family's support: its verdict is :data:`OUTSIDE_SUPPORT`, it is left out of the data
set's verdict (a note says so), and data entirely outside the support are an input error.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch.distributions as tdist
from torch.distributions import constraints

from wellposed.audit.analytic import ANALYTIC, ScalarVerdict, analytic_verdicts, fmt_number
from wellposed.audit.data import AuditInputError, validate_data
from wellposed.audit.probes import ProbeRow, probe_analytic, probe_numerical
from wellposed.audit.search import (
    RADII_LONG,
    UnsupportedFamily,
    classify,
    params_text,
    plan_search,
    search,
)
from wellposed.audit.structured import STRUCTURED, probe_structured, structured_verdicts
from wellposed.evidence.decide import BOUNDED, INCONCLUSIVE, UNBOUNDED
from wellposed.evidence.records import jsonable_dict
from wellposed.evidence.vocabulary import OUTSIDE_SUPPORT as _OUTSIDE_SUPPORT

__all__ = ["OUTSIDE_SUPPORT", "TORCH_TO_ANALYTIC", "FamilyAudit", "ObservationResult",
           "audit_family"]

#: per-observation verdict where the density is 0 for every parameter (sup log p = -inf)
OUTSIDE_SUPPORT = _OUTSIDE_SUPPORT  # the word is in wellposed.evidence.vocabulary


@dataclass(frozen=True)
class ObservationResult:
    """Verdict for one observation (row); D-dim rows combine their coordinates."""

    index: int
    verdict: str  # UNBOUNDED | BOUNDED | INCONCLUSIVE | OUTSIDE_SUPPORT
    rate: float | None
    rate_unit: str
    bound: float | None
    attained: bool | None
    reason: str
    coordinates: int = 1  # number of coordinates with this row's deciding verdict

    def to_dict(self) -> dict[str, Any]:
        return jsonable_dict({"index": self.index, "verdict": self.verdict, "rate": self.rate,
                         "rate_unit": self.rate_unit, "bound": self.bound,
                         "attained": self.attained, "reason": self.reason,
                         "coordinates": self.coordinates})


@dataclass(frozen=True)
class FamilyAudit:
    """Result of :func:`audit_family`."""

    family: str
    method: str  # analytic | numerical
    parameters: str
    claim: str | None
    data_condition: str
    verdict: str  # UNBOUNDED | BOUNDED | INCONCLUSIVE (over the whole data set)
    rate: float | None  # total divergence rate of l (sum over unbounded observations)
    rate_unit: str
    bound: float | None  # bound on l = sum of per-observation bounds (when bounded)
    observations: tuple[ObservationResult, ...]
    implementation: str
    probe: tuple[ProbeRow, ...] = ()
    evidence: str = ""
    seed: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    event_dim: int = 0  # > 0: each row is one observation of this many coordinates

    def counts(self, *, outside: bool | None = None) -> dict[str, int]:
        """Observations per verdict; ``OUTSIDE_SUPPORT`` is listed when there are any (or
        always with ``outside=True``, as in :meth:`to_dict`)."""
        out = {UNBOUNDED: 0, BOUNDED: 0, INCONCLUSIVE: 0, OUTSIDE_SUPPORT: 0}
        for o in self.observations:
            out[o.verdict] += 1
        if not (outside or (outside is None and out[OUTSIDE_SUPPORT])):
            del out[OUTSIDE_SUPPORT]
        return out

    def in_support(self) -> FamilyAudit:
        """This audit without its outside-support observations (what the verdict is about)."""
        keep = tuple(o for o in self.observations if o.verdict != OUTSIDE_SUPPORT)
        return self if len(keep) == len(self.observations) else replace(self,
                                                                         observations=keep)

    def to_dict(self) -> dict[str, Any]:
        return jsonable_dict({"family": self.family, "method": self.method,
                         "parameters": self.parameters, "claim": self.claim,
                         "data_condition": self.data_condition, "verdict": self.verdict,
                         "rate": self.rate, "rate_unit": self.rate_unit, "bound": self.bound,
                         "counts": self.counts(outside=True),
                         "observations": [o.to_dict() for o in self.observations],
                         "implementation": self.implementation,
                         "probe": [p.to_dict() for p in self.probe], "evidence": self.evidence,
                         "seed": self.seed, "notes": list(self.notes),
                         "event_dim": self.event_dim})


# ----------------------------------------------------------------------------------------
# combining scalar verdicts into observation verdicts
# ----------------------------------------------------------------------------------------

_CODE = {BOUNDED: 0, UNBOUNDED: 1, INCONCLUSIVE: 2, OUTSIDE_SUPPORT: 3}


def _is_outside(v: ScalarVerdict) -> bool:
    """sup log p = -inf: the density is 0 at x for every parameter."""
    return v.verdict == BOUNDED and v.bound is not None and v.bound == -math.inf


def _combine(X: np.ndarray, values: np.ndarray, verdicts: Sequence[ScalarVerdict],
             support: str = "") -> tuple[ObservationResult, ...]:
    """Map per-unique-value verdicts back to the (n, D) data, vectorised over coordinates.

    A row with a coordinate outside the support is outside it (its density is 0 for every
    parameter, whatever the other coordinates do); ``support`` names it in the reason.
    """
    idx = np.searchsorted(values, X)
    code = np.array([_CODE[OUTSIDE_SUPPORT if _is_outside(v) else v.verdict]
                     for v in verdicts])[idx]
    rate = np.array([np.nan if v.rate is None else v.rate for v in verdicts])[idx]
    bound = np.array([np.nan if v.bound is None else v.bound for v in verdicts])[idx]
    out = []
    for i in range(X.shape[0]):
        c = code[i]
        if np.any(c == _CODE[OUTSIDE_SUPPORT]):
            sel = c == _CODE[OUTSIDE_SUPPORT]
            out.append(ObservationResult(i, OUTSIDE_SUPPORT, None, "", -math.inf, None,
                                         support, int(np.sum(sel))))
            continue
        if np.any(c == _CODE[UNBOUNDED]):
            sel = c == _CODE[UNBOUNDED]
            verdict = UNBOUNDED
            r = float(np.sum(rate[i][sel])) if np.all(np.isfinite(rate[i][sel])) else None
            b = None
        elif np.any(c == _CODE[INCONCLUSIVE]):
            sel = c == _CODE[INCONCLUSIVE]
            verdict, r, b = INCONCLUSIVE, None, None
        else:
            sel = c == _CODE[BOUNDED]
            verdict, r = BOUNDED, None
            b = float(np.sum(bound[i]))
        first = verdicts[int(idx[i][np.argmax(sel)])]
        attained = None if verdict != BOUNDED else bool(
            all(verdicts[int(j)].attained for j in idx[i]))
        out.append(ObservationResult(i, verdict, r, first.rate_unit if r is not None else "",
                                     b, attained, first.reason, int(np.sum(sel))))
    return tuple(out)


def _overall(obs: Sequence[ObservationResult]) -> tuple[str, float | None, str, float | None]:
    """Unbounded if any observation is; bounded if all are; inconclusive otherwise (over the
    observations inside the support; the caller makes sure there is one)."""
    obs = [o for o in obs if o.verdict != OUTSIDE_SUPPORT]
    unb = [o for o in obs if o.verdict == UNBOUNDED]
    if unb:
        rates = [o.rate for o in unb]
        known = [r for r in rates if r is not None]
        rate = float(sum(known)) if len(known) == len(rates) else None
        return UNBOUNDED, rate, unb[0].rate_unit if rate is not None else "", None
    if any(o.verdict == INCONCLUSIVE for o in obs):
        return INCONCLUSIVE, None, "", None
    return BOUNDED, None, "", float(sum(o.bound for o in obs if o.bound is not None))


_INTERVAL = re.compile(r"outside the support ([\[(].*?[\])]):")


def _interval_text(text: str) -> str:
    """``"(0, inf)"`` -> ``"x > 0"``, ``"[0, inf)"`` -> ``"x >= 0"``, else ``"x in [0, 1]"``."""
    m = re.fullmatch(r"([\[(])\s*(\S+?),\s*inf\)", text)
    if m:
        return f"x {'>=' if m.group(1) == '[' else '>'} {m.group(2)}"
    return f"x in {text}"


def _support_of(cls: type | None, verdicts: Sequence[ScalarVerdict]) -> str:
    """The family's support in words, from the analytic reason or the class's constraint."""
    if cls is None:
        for v in verdicts:
            m = _INTERVAL.search(v.reason) if _is_outside(v) else None
            if m:
                return _interval_text(m.group(1))
        return "x where the density is 0 for every parameter"
    sup = inspect.getattr_static(cls, "support", None)
    lo = fmt_number(getattr(sup, "lower_bound", None))
    hi = fmt_number(getattr(sup, "upper_bound", None))
    if isinstance(sup, constraints._Boolean):
        return "x in {0, 1}"
    if isinstance(sup, constraints._IntegerInterval):
        return f"integer x in [{lo}, {hi}]"
    if isinstance(sup, constraints._IntegerGreaterThan):
        return f"integer x >= {lo}"
    if isinstance(sup, constraints._Interval):
        return f"x in [{lo}, {hi}]"
    if isinstance(sup, constraints._HalfOpenInterval):
        return f"x in [{lo}, {hi})"
    if isinstance(sup, constraints._GreaterThanEq):
        return f"x >= {lo}"
    if isinstance(sup, constraints._GreaterThan):
        return f"x > {lo}"
    if isinstance(sup, constraints._LessThan):
        return f"x < {hi}"
    return "x where log_prob = -inf at every parameter searched"


def _outside_reason(name: str, support: str) -> str:
    return f"outside the support of {name} ({support})"


def _check_support(name: str, support: str, outside: np.ndarray,
                   obs: Sequence[ObservationResult]) -> tuple[str, ...]:
    """AuditInputError when no observation is inside the support; else the note on those
    outside it (empty when none is)."""
    out = [o.index for o in obs if o.verdict == OUTSIDE_SUPPORT]
    if not out:
        return ()
    if len(out) == len(obs):
        vals = ", ".join(fmt_number(float(v)) for v in outside[:5])
        more = ", ..." if outside.size > 5 else ""
        who = (f"the observation x = {vals} is" if len(obs) == 1 else
               f"all {len(obs)} observations (x = {vals}{more}) are")
        raise AuditInputError(
            f"{who} {_outside_reason(name, support)}: the density is 0 there for every "
            "parameter; check the data, or audit a family whose support contains them")
    return (f"{len(out)} of {len(obs)} observations are {_outside_reason(name, support)}; "
            "they are left out of the verdict (an objective over all of them is -inf)",)


def _describe(X: np.ndarray) -> str:
    n, D = X.shape
    parts = [f"n={n}, D={D}, range [{fmt_number(float(X.min()))}, {fmt_number(float(X.max()))}]"]
    z = int(np.sum((X == 0.0) | (X == 1.0)))
    if z and X.min() >= 0 and X.max() <= 1:
        parts.append(f"{z} entries exactly 0 or 1")
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------
# the family audit
# ----------------------------------------------------------------------------------------

TORCH_TO_ANALYTIC = {"Normal": "normal", "Laplace": "laplace", "StudentT": "studentt",
                      "LogNormal": "lognormal", "Gamma": "gamma", "Beta": "beta",
                      "VonMises": "vonmises", "ContinuousBernoulli": "continuous_bernoulli",
                      "Bernoulli": "bernoulli"}


_WRAPPED = re.compile(r"(Independent|MixtureSameFamily)\((\w+)\)")


def _resolve(family: Any) -> tuple[str, type | None]:
    """Built-in name -> (name, None); Distribution subclass or its name -> (name, cls)."""
    if isinstance(family, str) and family in ("Independent", "MixtureSameFamily",
                                               "TransformedDistribution"):
        raise AuditInputError(
            f"{family} wraps another family and has no parameters of its own; name the base, "
            f"e.g. '{family if family != 'TransformedDistribution' else 'Independent'}(Normal)' "
            "(its verdict is the base family's: log p of Independent is the sum of the base's "
            "log p over the reinterpreted coordinates, and a mixture's log p >= log w_j + "
            "log p_j(x))")
    if isinstance(family, str):
        if family in ANALYTIC:
            return family, None
        if ":" in family:
            mod, _, attr = family.partition(":")
            try:
                cls = getattr(importlib.import_module(mod), attr)
            except (ImportError, AttributeError) as exc:
                raise AuditInputError(f"cannot import {family!r} ({exc}); write "
                                      "'package.module:ClassName'") from exc
        elif hasattr(tdist, family):
            cls = getattr(tdist, family)
        else:
            raise AuditInputError(
                f"unknown family {family!r}; use one of {', '.join(ANALYTIC)}, a "
                "torch.distributions class name (e.g. 'Kumaraswamy') or 'module:ClassName'")
        family = cls
    if isinstance(family, type) and issubclass(family, tdist.Distribution):
        return family.__name__, family
    raise AuditInputError(f"family must be a built-in name or a torch.distributions."
                          f"Distribution subclass, got {family!r}")


def audit_family(family: Any, data: Any, *, seed: int = 0, method: str = "auto",
                 data_label: str | None = None, max_values: int = 512,
                 probe: bool = True) -> FamilyAudit:
    """Decide per observation whether sup over params of log p(x | params) is finite.

    ``family``: a built-in name (:func:`~wellposed.audit.builtin_families`), a
    torch.distributions class name, ``"module:Class"``, or a ``Distribution`` subclass.
    ``data``: 1-D array of scalar observations or (n, D) array treated coordinate-wise
    (independent parameters per coordinate).  ``method``: ``"auto"`` (analytic when the
    family has a closed-form result), ``"analytic"`` or ``"numerical"``.  The numerical
    search is seeded by ``seed``.
    """
    X = validate_data(data)
    X2 = X[:, None] if X.ndim == 1 else X
    if method not in ("auto", "analytic", "numerical"):
        raise AuditInputError(f"method must be 'auto', 'analytic' or 'numerical', got {method!r}")
    wrapped = _WRAPPED.fullmatch(family) if isinstance(family, str) else None
    if wrapped is not None:
        return _audit_wrapped(wrapped.group(1), wrapped.group(2), X2, seed=seed,
                              method=method, data_label=data_label, probe=probe)
    name, cls = _resolve(family)
    if cls is not None and name in STRUCTURED and method != "numerical":
        return _audit_structured(name, X2, label=data_label or _describe(X2), seed=seed,
                                 probe=probe)
    analytic_name = name if cls is None else TORCH_TO_ANALYTIC.get(name)
    values = np.unique(X2)
    label = data_label or _describe(X2)
    if method == "numerical" and cls is None:
        raise AuditInputError(f"{name!r} has no torch.distributions class to search "
                              "numerically; use method='analytic'")
    if analytic_name is not None and method != "numerical":
        fam = ANALYTIC[analytic_name]
        verdicts = analytic_verdicts(analytic_name, values)
        support = _support_of(None, verdicts)
        shown = name if cls is None else f"{name} (torch)"
        obs = _combine(X2, values, verdicts, _outside_reason(shown, support))
        is_out = np.array([_is_outside(v) for v in verdicts])
        notes = _check_support(shown, support, values[is_out], obs)
        verdict, rate, unit, bound = _overall(obs)
        rows, impl = (probe_analytic(analytic_name, values[~is_out]) if probe else ((), ""))
        return FamilyAudit(shown, "analytic", fam.parameters, fam.claim, label, verdict, rate,
                           unit, bound, obs, impl, rows, f"closed form ({fam.source})", seed,
                           notes)
    if method == "analytic" or cls is None:
        raise AuditInputError(f"no analytic result for {name!r}; use method='numerical' or "
                              "'auto'")
    return _audit_numerical(name, cls, X2, values, seed=seed, label=label,
                            max_values=max_values)


def _audit_structured(name: str, X2: np.ndarray, *, label: str, seed: int, probe: bool
                      ) -> FamilyAudit:
    """Families decided in log space along a witness (:mod:`wellposed.audit.structured`)."""
    fam = STRUCTURED[name]
    if fam.event == "scalar":
        values = np.unique(X2)
        verdicts = structured_verdicts(name, values)
        support = fam.support_text
        obs = _combine(X2, values, verdicts, _outside_reason(name, support))
        outside_vals = values[np.array([_is_outside(v) for v in verdicts])]
        sample = values
    else:
        verdicts = structured_verdicts(name, X2)
        support = fam.support_text
        obs = tuple(ObservationResult(i, OUTSIDE_SUPPORT, None, "", -math.inf, None,
                                      _outside_reason(name, support), X2.shape[1])
                    if _is_outside(v) else
                    ObservationResult(i, v.verdict, v.rate, v.rate_unit if v.rate is not None
                                      else "", v.bound, v.attained, v.reason, X2.shape[1])
                    for i, v in enumerate(verdicts))
        outside_vals = np.array([i for i, v in enumerate(verdicts) if _is_outside(v)], float)
        sample = X2
    notes = _check_support(name, support, outside_vals, obs)
    verdict, rate, unit, bound = _overall(obs)
    rows, impl = probe_structured(name, sample) if probe else ((), "")
    if fam.note:
        notes += (fam.note,)
    if fam.event == "vector":
        notes += (f"each row is one observation of a {X2.shape[1]}-dimensional event; its "
                  "rate is for the whole row",)
    return FamilyAudit(name, "analytic", fam.parameters, None, label, verdict, rate, unit,
                       bound, obs, impl, rows, f"witness {fam.witness}, log density in log "
                       f"space ({fam.source})", seed, notes,
                       X2.shape[1] if fam.event == "vector" else 0)


def _audit_wrapped(wrapper: str, base: str, X2: np.ndarray, *, seed: int, method: str,
                   data_label: str | None, probe: bool) -> FamilyAudit:
    """Independent(Base): log p is the sum of the base's log p over the coordinates of a row,
    so the row's verdict is the coordinate-wise audit of Base (rates add).
    MixtureSameFamily(Base): log p >= log w_j + log p_j(x) for every component j, so an
    unbounded base makes the mixture unbounded at the same rate; a bounded base bounds it
    (a mixture of densities each <= c(x) is <= c(x))."""
    inner = audit_family(base, X2, seed=seed, method=method, data_label=data_label,
                         probe=probe)
    how = ("sum of the base's log p over each row's coordinates" if wrapper == "Independent"
           else "log p >= log w_j + log p_j(x) (unbounded base), <= max_j sup p_j (bounded)")
    return replace(inner, family=f"{wrapper}({base})",
                   parameters=f"{wrapper} of {base}: {inner.parameters}",
                   evidence=f"{how}; base: {inner.evidence}",
                   notes=inner.notes + (f"{wrapper}({base}) has the verdict of {base}: {how}",))


def _audit_numerical(name: str, cls: type, X2: np.ndarray, values: np.ndarray, *, seed: int,
                     label: str, max_values: int) -> FamilyAudit:
    """Generic path: plan from arg_constraints, search, classify, summarise torch behaviour."""
    try:
        plan = plan_search(cls, values)
    except UnsupportedFamily as exc:
        sv = ScalarVerdict(INCONCLUSIVE, reason=f"not searchable: {exc}")
        obs = _combine(X2, values, [sv] * len(values))
        return FamilyAudit(name, "numerical", params_text(cls), None, label, INCONCLUSIVE,
                           None, "", None, obs, "not evaluated", (), str(exc), seed)
    searched = values
    if len(values) > max_values:  # deterministic subset: evenly spaced order statistics
        searched = values[np.unique(np.linspace(0, len(values) - 1, max_values).astype(int))]
    try:
        trace = search(plan, searched, seed=seed)
    except Exception as exc:  # noqa: BLE001 - the implementation itself failed: say so
        sv = ScalarVerdict(INCONCLUSIVE, reason=f"log_prob raised "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
        obs = _combine(X2, values, [sv] * len(values))
        return FamilyAudit(name, "numerical", params_text(cls), None, label, INCONCLUSIVE,
                           None, "", None, obs, sv.reason, (), "search failed", seed)
    found = {float(v): classify(trace, n) for n, v in enumerate(searched)}
    slow = np.array([found[float(v)].rate_unit == "log|u|" for v in searched])
    if np.any(slow):  # logarithmic growth: continue far enough to tell it from a cap
        long_trace = search(plan, searched[slow], seed=seed, radii=RADII_LONG)
        for n, v in enumerate(searched[slow]):
            found[float(v)] = classify(long_trace, n)
    skipped = ScalarVerdict(INCONCLUSIVE, reason=f"not searched (more than "
                            f"{max_values} distinct values; raise max_values)")
    verdicts = [found.get(float(v), skipped) for v in values]
    support = _support_of(cls, verdicts)
    obs = _combine(X2, values, verdicts, _outside_reason(name, support))
    is_out = np.array([_is_outside(v) for v in verdicts])
    outside_note = _check_support(name, support, values[is_out], obs)
    verdict, rate, unit, bound = _overall(obs)
    impl = probe_numerical(plan, trace, searched)
    notes = tuple(note for _, _, note in plan.fixed) + tuple(p.note for p in plan.params
                                                             if p.note) + outside_note
    ev = (f"multi-start LM ascent, {len(trace.radii)} boxes |u| <= "
          f"{fmt_number(trace.radii[0])}..{fmt_number(trace.radii[-1])}, seed {seed}; best "
          "values " + "; ".join(f"x={fmt_number(float(v))}: "
                                + ", ".join(fmt_number(b, 4) for b in trace.best[:, j])
                                for j, v in enumerate(searched[:3])))
    return FamilyAudit(name, "numerical", params_text(cls), None, label, verdict, rate, unit,
                       bound, obs, impl, (), ev, seed, notes)
