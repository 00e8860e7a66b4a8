"""Family and data audit (issue 5): is sup over parameters of log p(x | params) finite?

The reduction (CLAIMS.md, table F): an expressive decoder's objective is unbounded exactly
when ``sup_params log p(x | params) = +inf`` at some data point; otherwise
``l <= sum_i c(x_i)``.  :func:`audit_family` answers per observation

* analytically for the built-in families of table F (F1-F6), with rates and bounds, and
* numerically for ANY ``torch.distributions.Distribution`` subclass: parameters and
  constraints are read from ``cls.arg_constraints`` and mapped to R with
  ``torch.distributions.transform_to``; a multi-start saddle-free Levenberg-Marquardt ascent
  in float64 runs inside boxes |u| <= R = 1, 2, 4, ..., and the growth of the best value
  with R decides ``diverges`` (fitted rate), ``bounded`` (bound reached) or
  ``inconclusive`` (with the reason).

It also reports "mathematics versus implementation": what torch's own code returns along
the witness sequence (clamping caps, NaN, +inf, validate_args exceptions).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wellposed.audit import _families_tmp as _fam
from wellposed.audit.data import (
    AuditInputError,
    DataAudit,
    DataFinding,
    audit_data,
    load_data,
    validate_data,
)

__all__ = [
    "AuditInputError",
    "DataAudit",
    "DataFinding",
    "FamilyAudit",
    "ObservationResult",
    "ProbeRow",
    "add_audit_parsers",
    "audit_data",
    "audit_family",
    "builtin_families",
    "family_claim_evidence",
    "load_data",
    "render_families_markdown",
    "report_family_audits",
    "torch_univariate_families",
]

SIG = 6  # significant digits for display and JSON evidence


def _r(x: float | None, sig: int = SIG) -> float | None:
    """Round to `sig` significant digits (None, inf and nan pass through as float/None)."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x) or x == 0.0:
        return x
    return float(f"{x:.{sig}g}")


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return f"{x:.{SIG}g}"


def _jsonable(x: float | None) -> float | str | None:
    """JSON-safe float: inf/nan become strings."""
    if x is None:
        return None
    if math.isfinite(x):
        return _r(x)
    return "nan" if math.isnan(x) else ("+inf" if x > 0 else "-inf")


@dataclass(frozen=True)
class ObservationResult:
    """Verdict for one observation (row); D-dim rows combine their coordinates."""

    index: int
    verdict: str  # diverges | bounded | inconclusive
    rate: float | None
    rate_unit: str
    bound: float | None
    attained: bool | None
    reason: str
    coordinates: int = 1  # number of coordinates with this row's deciding verdict

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "verdict": self.verdict, "rate": _jsonable(self.rate),
                "rate_unit": self.rate_unit, "bound": _jsonable(self.bound),
                "attained": self.attained, "reason": self.reason,
                "coordinates": self.coordinates}


@dataclass(frozen=True)
class ProbeRow:
    """One point of the implementation probe: sequence index, exact and torch values."""

    k: float
    exact: float | None
    torch_value: float | None
    kind: str  # ok | capped | nan | +inf | -inf | deviates | raises
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"k": _jsonable(self.k), "exact": _jsonable(self.exact),
                "torch": _jsonable(self.torch_value), "kind": self.kind, "note": self.note}


@dataclass(frozen=True)
class FamilyAudit:
    """Result of :func:`audit_family`."""

    family: str
    method: str  # analytic | numerical
    parameters: str
    claim: str | None
    data_condition: str
    verdict: str  # unbounded | bounded | inconclusive (over the whole data set)
    rate: float | None  # total divergence rate of l (sum over diverging observations)
    rate_unit: str
    bound: float | None  # bound on l = sum of per-observation bounds (when bounded)
    observations: tuple[ObservationResult, ...]
    implementation: str
    probe: tuple[ProbeRow, ...] = ()
    evidence: str = ""
    seed: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def counts(self) -> dict[str, int]:
        out = {"diverges": 0, "bounded": 0, "inconclusive": 0}
        for o in self.observations:
            out[o.verdict] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "method": self.method, "parameters": self.parameters,
                "claim": self.claim, "data_condition": self.data_condition,
                "verdict": self.verdict, "rate": _jsonable(self.rate),
                "rate_unit": self.rate_unit, "bound": _jsonable(self.bound),
                "counts": self.counts(),
                "observations": [o.to_dict() for o in self.observations],
                "implementation": self.implementation,
                "probe": [p.to_dict() for p in self.probe], "evidence": self.evidence,
                "seed": self.seed, "notes": list(self.notes)}


def builtin_families() -> tuple[str, ...]:
    """Names accepted by :func:`audit_family` besides Distribution subclasses."""
    return tuple(_fam.ANALYTIC)


def torch_univariate_families() -> dict[str, type]:
    """Univariate torch.distributions classes with a scale/rate/concentration/probs/df."""
    return _fam.torch_univariate_families()


# ----------------------------------------------------------------------------------------
# combining scalar verdicts into observation verdicts
# ----------------------------------------------------------------------------------------

_CODE = {"bounded": 0, "diverges": 1, "inconclusive": 2}


def _combine(X: np.ndarray, values: np.ndarray, verdicts: Sequence[_fam.ScalarVerdict]
             ) -> tuple[ObservationResult, ...]:
    """Map per-unique-value verdicts back to the (n, D) data, vectorised over coordinates."""
    idx = np.searchsorted(values, X)
    code = np.array([_CODE[v.verdict] for v in verdicts])[idx]
    rate = np.array([np.nan if v.rate is None else v.rate for v in verdicts])[idx]
    bound = np.array([np.nan if v.bound is None else v.bound for v in verdicts])[idx]
    out = []
    for i in range(X.shape[0]):
        c = code[i]
        if np.any(c == 1):
            sel = c == 1
            verdict = "diverges"
            r = float(np.sum(rate[i][sel])) if np.all(np.isfinite(rate[i][sel])) else None
            b = None
        elif np.any(c == 2):
            sel = c == 2
            verdict, r, b = "inconclusive", None, None
        else:
            sel = c == 0
            verdict, r = "bounded", None
            b = float(np.sum(bound[i]))
        first = verdicts[int(idx[i][np.argmax(sel)])]
        attained = None if verdict != "bounded" else bool(
            all(verdicts[int(j)].attained for j in idx[i]))
        out.append(ObservationResult(i, verdict, r, first.rate_unit if r is not None else "",
                                     b, attained, first.reason, int(np.sum(sel))))
    return tuple(out)


def _overall(obs: Sequence[ObservationResult]) -> tuple[str, float | None, str, float | None]:
    """unbounded if any observation diverges; bounded if all are; inconclusive otherwise."""
    div = [o for o in obs if o.verdict == "diverges"]
    if div:
        rates = [o.rate for o in div]
        rate = float(sum(rates)) if all(r is not None for r in rates) else None
        return "unbounded", rate, div[0].rate_unit if rate is not None else "", None
    if any(o.verdict == "inconclusive" for o in obs):
        return "inconclusive", None, "", None
    return "bounded", None, "", float(sum(o.bound for o in obs))


def _describe(X: np.ndarray) -> str:
    n, D = X.shape
    parts = [f"n={n}, D={D}, range [{_fmt(float(X.min()))}, {_fmt(float(X.max()))}]"]
    z = int(np.sum((X == 0.0) | (X == 1.0)))
    if z and X.min() >= 0 and X.max() <= 1:
        parts.append(f"{z} entries exactly 0 or 1")
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------
# the family audit
# ----------------------------------------------------------------------------------------


def _resolve(family: Any) -> tuple[str, type | None]:
    """Built-in name -> (name, None); Distribution subclass or its name -> (name, cls)."""
    import torch.distributions as tdist

    if isinstance(family, str):
        if family in _fam.ANALYTIC:
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
                f"unknown family {family!r}; use one of {', '.join(_fam.ANALYTIC)}, a "
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

    ``family``: a built-in name (:func:`builtin_families`), a torch.distributions class name,
    ``"module:Class"``, or a ``Distribution`` subclass.  ``data``: 1-D array of scalar
    observations or (n, D) array treated coordinate-wise (independent parameters per
    coordinate).  ``method``: ``"auto"`` (analytic when the family has a table-F result),
    ``"analytic"`` or ``"numerical"``.  The numerical search is seeded by ``seed``.
    """
    X = validate_data(data)
    X2 = X[:, None] if X.ndim == 1 else X
    if method not in ("auto", "analytic", "numerical"):
        raise AuditInputError(f"method must be 'auto', 'analytic' or 'numerical', got {method!r}")
    name, cls = _resolve(family)
    analytic_name = name if cls is None else _TORCH_TO_ANALYTIC.get(name)
    values = np.unique(X2)
    label = data_label or _describe(X2)
    if method == "numerical" and cls is None:
        raise AuditInputError(f"{name!r} has no torch.distributions class to search "
                              "numerically; use method='analytic'")
    if analytic_name is not None and method != "numerical":
        fam = _fam.ANALYTIC[analytic_name]
        verdicts = _fam.analytic_verdicts(analytic_name, values)
        obs = _combine(X2, values, verdicts)
        verdict, rate, unit, bound = _overall(obs)
        rows, impl = (_probe_analytic(analytic_name, values) if probe else ((), ""))
        return FamilyAudit(name if cls is None else f"{name} (torch)", "analytic",
                           fam.parameters, fam.claim, label, verdict, rate, unit, bound, obs,
                           impl, rows, f"closed form ({fam.source})", seed)
    if method == "analytic":
        raise AuditInputError(f"no analytic result for {name!r}; use method='numerical' or "
                              "'auto'")
    return _audit_numerical(name, cls, X2, values, seed=seed, label=label,
                            max_values=max_values)


def _audit_numerical(name: str, cls: type, X2: np.ndarray, values: np.ndarray, *, seed: int,
                     label: str, max_values: int) -> FamilyAudit:
    """Generic path: plan from arg_constraints, search, classify, summarise torch behaviour."""
    try:
        plan = _fam.plan_search(cls, values)
    except _fam.UnsupportedFamily as exc:
        sv = _fam.ScalarVerdict("inconclusive", reason=f"not searchable: {exc}")
        obs = _combine(X2, values, [sv] * len(values))
        return FamilyAudit(name, "numerical", _params_text(cls), None, label, "inconclusive",
                           None, "", None, obs, "not evaluated", (), str(exc), seed)
    searched = values
    if len(values) > max_values:  # deterministic subset: evenly spaced order statistics
        searched = values[np.unique(np.linspace(0, len(values) - 1, max_values).astype(int))]
    try:
        trace = _fam.search(plan, searched, seed=seed)
    except Exception as exc:  # noqa: BLE001 - the implementation itself failed: say so
        sv = _fam.ScalarVerdict("inconclusive", reason=f"log_prob raised "
                                f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
        obs = _combine(X2, values, [sv] * len(values))
        return FamilyAudit(name, "numerical", _params_text(cls), None, label, "inconclusive",
                           None, "", None, obs, sv.reason, (), "search failed", seed)
    found = {float(v): _fam.classify(trace, n) for n, v in enumerate(searched)}
    skipped = _fam.ScalarVerdict("inconclusive", reason=f"not searched (more than "
                                 f"{max_values} distinct values; raise max_values)")
    verdicts = [found.get(float(v), skipped) for v in values]
    obs = _combine(X2, values, verdicts)
    verdict, rate, unit, bound = _overall(obs)
    impl = _probe_numerical(plan, trace, searched)
    notes = tuple(note for _, _, note in plan.fixed) + tuple(p.note for p in plan.params
                                                             if p.note)
    ev = (f"multi-start LM ascent, {len(trace.radii)} boxes |u| <= "
          f"{_fmt(trace.radii[0])}..{_fmt(trace.radii[-1])}, seed {seed}; best values "
          + "; ".join(f"x={_fmt(float(v))}: " + ", ".join(_fmt(b) for b in trace.best[:, j])
                      for j, v in enumerate(searched[:3])))
    return FamilyAudit(name, "numerical", _params_text(cls), None, label, verdict, rate, unit,
                       bound, obs, impl, (), ev, seed, notes)


def _params_text(cls: type) -> str:
    from inspect import getattr_static

    ac = getattr_static(cls, "arg_constraints", None)
    if not isinstance(ac, dict):
        return "(dependent)"
    return ", ".join(f"{k}: {c}" for k, c in ac.items())


_TORCH_TO_ANALYTIC = {"Normal": "normal", "Laplace": "laplace", "StudentT": "studentt",
                      "LogNormal": "lognormal", "Gamma": "gamma", "Beta": "beta",
                      "VonMises": "vonmises", "ContinuousBernoulli": "continuous_bernoulli",
                      "Bernoulli": "bernoulli"}


# ----------------------------------------------------------------------------------------
# mathematics versus implementation
# ----------------------------------------------------------------------------------------

K_GRID = (1.0, 4.0, 16.0, 64.0, 256.0, 350.0, 400.0, 700.0, 750.0, 1000.0)
K_GRID_CB = (0.5, 1.0, 2.0, 3.0, 3.5, 4.0, 5.0, 10.0, 100.0)


def _classify_probe(ks: Sequence[float], exact: Sequence[float], tv: Sequence[float],
                    raised: Sequence[str]) -> tuple[tuple[ProbeRow, ...], str]:
    """Label each probe point and summarise the first departure from the mathematics."""
    rows = []
    prev_t = None
    for k, e, t, err in zip(ks, exact, tv, raised, strict=True):
        if math.isnan(t):
            kind = "nan"
        elif math.isinf(t):
            kind = "+inf" if t > 0 else "-inf"
        elif abs(t - e) <= 1e-6 * (1.0 + abs(e)):
            kind = "ok"
        elif prev_t is not None and t == prev_t:
            kind = "capped"
        else:
            kind = "deviates"
        rows.append(ProbeRow(k, e, t, kind, err))
        prev_t = t
    ok = [r for r in rows if r.kind == "ok"]
    bad = [r for r in rows if r.kind != "ok"]
    parts = []
    if ok:
        parts.append(f"matches the mathematics up to k = {_fmt(ok[-1].k)} "
                     f"(log p = {_fmt(ok[-1].torch_value)})")
    if bad:
        b = bad[0]
        if b.kind == "capped" or (b.kind == "deviates" and any(r.kind == "capped" for r in bad)):
            cap = max(r.torch_value for r in bad if r.torch_value is not None
                      and math.isfinite(r.torch_value))
            parts.append(f"then capped at {_fmt(cap)} from k = {_fmt(b.k)} while the exact "
                         f"value keeps growing ({_fmt(bad[-1].exact)} at k = {_fmt(bad[-1].k)})")
        else:
            parts.append(f"from k = {_fmt(b.k)}: {b.kind} (torch {_fmt(b.torch_value)}, exact "
                         f"{_fmt(b.exact)})")
    first_raise = next((r for r in rows if r.note), None)
    if first_raise is not None:
        parts.append(f"validate_args=True raises from k = {_fmt(first_raise.k)}: "
                     f"{first_raise.note}")
    return tuple(rows), "; ".join(parts)


def _torch_eval(make: Any, x: float) -> tuple[float, str]:
    """torch log_prob (validate_args=False) and the exception text with validate_args=True."""
    import torch

    xt = torch.tensor(x, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            val = float(make(False).log_prob(xt))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            val = math.nan
            return val, f"{type(exc).__name__}"
        try:
            make(True).log_prob(xt)
            err = ""
        except ValueError as exc:
            err = "ValueError: " + str(exc).split(" of distribution")[0][:60]
    return val, err


def _pick(values: np.ndarray, lo: float, hi: float, default: float) -> float:
    inside = values[(values > lo) & (values < hi)]
    return float(inside[len(inside) // 2]) if len(inside) else default


def _probe_analytic(name: str, values: np.ndarray) -> tuple[tuple[ProbeRow, ...], str]:
    """What torch (or the common loss code) returns along the witness sequence."""
    import torch
    import torch.distributions as tdist

    t64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    if name in ("normal", "laplace", "studentt", "lognormal", "gamma", "beta", "vonmises"):
        x = {"lognormal": _pick(values, 0, math.inf, 1.0), "gamma": _pick(values, 0, math.inf, 1.0),
             "beta": _pick(values, 0, 1, 0.5)}.get(name, float(np.median(values)))
        ks = K_GRID if name in ("normal", "laplace", "studentt", "lognormal") else (
            1.0, 4.0, 16.0, 32.0, 64.0, 128.0, 256.0, 700.0, 720.0)
        spike = _fam.ANALYTIC[name].spike
        exact = [float(spike(np.array(x), np.array(k))) for k in ks]
        makers = {
            "normal": lambda k, va: tdist.Normal(t64(x), t64(math.exp(-k)), validate_args=va),
            "laplace": lambda k, va: tdist.Laplace(t64(x), t64(math.exp(-k)), validate_args=va),
            "studentt": lambda k, va: tdist.StudentT(t64(3.0), t64(x), t64(math.exp(-k)),
                                                     validate_args=va),
            "lognormal": lambda k, va: tdist.LogNormal(t64(math.log(x)), t64(math.exp(-k)),
                                                       validate_args=va),
            "gamma": lambda k, va: tdist.Gamma(t64(_exp(k)), t64(_exp(k) / x), validate_args=va),
            "beta": lambda k, va: tdist.Beta(t64(_exp(k) * x), t64(_exp(k) * (1 - x)),
                                             validate_args=va),
            "vonmises": lambda k, va: tdist.VonMises(t64(x), t64(_exp(k)), validate_args=va),
        }
        res = [_torch_eval(lambda va, k=k: makers[name](k, va), x) for k in ks]
        rows, text = _classify_probe(ks, exact, [r[0] for r in res], [r[1] for r in res])
        unit = "log(1/scale)" if name in ("normal", "laplace", "studentt", "lognormal") else \
            "log(concentration)"
        cls_name = _fam.ANALYTIC[name].torch_class
        return rows, f"torch.distributions.{cls_name} at x = {_fmt(x)}, k = {unit}: {text}"
    if name == "continuous_bernoulli":
        exact = [float(_fam.spike_cb_boundary(np.array(0.0), np.array(k))) for k in K_GRID_CB]
        res = [_torch_eval(lambda va, k=k: tdist.ContinuousBernoulli(
            logits=t64(-math.exp(k)), validate_args=va), 0.0) for k in K_GRID_CB]
        rows, text = _classify_probe(K_GRID_CB, exact, [r[0] for r in res], [r[1] for r in res])
        cap = math.log(math.log((1 - _EPS64) / _EPS64))
        return rows, (f"torch.distributions.ContinuousBernoulli at x = 0, logits = -e^k "
                      f"(k = log|logit|): {text}; the cap is log log((1-eps)/eps) = "
                      f"{_fmt(cap)} with eps = float64 machine epsilon (probs clamped)")
    if name == "bernoulli":
        ks = (1.0, 4.0, 16.0, 64.0, 700.0)
        exact = [float(_fam.log_bernoulli(np.array(1.0), np.array(_exp(k)))) for k in ks]
        res = [_torch_eval(lambda va, k=k: tdist.Bernoulli(logits=t64(_exp(k)), validate_args=va),
                           1.0) for k in ks]
        rows, text = _classify_probe(ks, exact, [r[0] for r in res], [r[1] for r in res])
        frac = _pick(values, 0, 1, 0.3)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tdist.Bernoulli(logits=t64(0.0), validate_args=True).log_prob(t64(frac))
            fr = "accepts fractional x"
        except ValueError:
            fr = f"validate_args=True rejects fractional x = {_fmt(frac)} (BCE users pass " \
                 "validate_args=False or use binary_cross_entropy)"
        return rows, f"torch.distributions.Bernoulli at x = 1, logits = e^k: {text}; {fr}"
    if name == "gaussian_nll_loss":
        return _probe_gaussian_nll()
    if name == "softclip_gaussian":
        return _probe_softclip()
    if name == "studentt_floor":
        return _probe_studentt_floor()
    if name == "global_logvar_gaussian":
        return _probe_global_logvar()
    return (), "no torch.distributions class; closed form evaluated in numpy (log space)"


_EPS64 = float(np.finfo(np.float64).eps)


def _exp(k: float) -> float:
    return math.exp(k) if k < 709.0 else math.inf


def _probe_gaussian_nll() -> tuple[tuple[ProbeRow, ...], str]:
    """torch.nn.GaussianNLLLoss(eps=1e-6, full=True): value and d loss / d var below eps."""
    import torch

    rows = []
    grads = []
    for j in (2, 4, 6, 8, 12, 30):
        var = torch.tensor([10.0 ** (-j)], dtype=torch.float64, requires_grad=True)
        x = torch.tensor([0.25], dtype=torch.float64)
        loss = torch.nn.GaussianNLLLoss(eps=_fam.GAUSSIAN_NLL_EPS, full=True)(x, x, var)
        loss.backward()
        exact = float(_fam.log_gaussian_nll_value(np.array(0.25), np.array(0.25),
                                                  np.array(10.0 ** (-j))))
        tv = -float(loss.detach())
        g = float(var.grad[0])
        grads.append((j, g))
        rows.append(ProbeRow(float(j), exact, tv, "ok" if abs(tv - exact) < 1e-9 else "deviates",
                             f"d loss/d var = {_fmt(g)}"))
    below = [(j, g) for j, g in grads if j > 6]
    text = (f"-loss (full=True) with residual 0 equals min(-(1/2)log var, -(1/2)log eps) - "
            f"log(2pi)/2 and never exceeds {_fmt(_fam.GAUSSIAN_NLL_BOUND)}; below eps the value "
            f"is constant but d loss/d var = {_fmt(below[0][1])} at var = 1e-{below[0][0]} "
            "(= 1/(2 eps): the clamp runs under no_grad, so the gradient passes through and "
            "keeps pushing var down)")
    return tuple(rows), "torch.nn.GaussianNLLLoss(eps=1e-6), k = -log10(var): " + text


def _probe_softclip() -> tuple[tuple[ProbeRow, ...], str]:
    """sigma-VAE softclip in torch: log sigma = -6 + softplus(raw + 6)."""
    import torch
    import torch.nn.functional as F

    rows = []
    for raw in (0.0, -6.0, -20.0, -40.0, -800.0, -1e4):
        r = torch.tensor(raw, dtype=torch.float64)
        log_sigma = _fam.SOFTCLIP_MIN + F.softplus(r - _fam.SOFTCLIP_MIN)
        tv = float(torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64),
                                              log_sigma.exp()).log_prob(
            torch.tensor(0.0, dtype=torch.float64)))
        exact = float(_fam.log_softclip_gaussian(np.array(0.0), np.array(0.0), np.array(raw)))
        rows.append(ProbeRow(raw, exact, tv, "ok" if abs(tv - exact) < 1e-9 else "deviates"))
    top = max(r.torch_value for r in rows)
    return tuple(rows), (f"softclip + torch Normal, k = raw log sigma: max value {_fmt(top)} "
                         f"<= bound {_fmt(_fam.SOFTCLIP_BOUND)}; reaches it in floating point "
                         "once softplus underflows to 0 (raw <= about -745)")


def _probe_studentt_floor() -> tuple[tuple[ProbeRow, ...], str]:
    """torch StudentT at scale = 1e-3, loc = x, huge df: roundoff can exceed the bound."""
    import torch

    rows = []
    for j in (2, 6, 10, 15, 20):
        df = 10.0 ** j
        d = torch.distributions.StudentT(torch.tensor(df, dtype=torch.float64),
                                         torch.tensor(0.0, dtype=torch.float64),
                                         torch.tensor(1e-3, dtype=torch.float64))
        tv = float(d.log_prob(torch.tensor(0.0, dtype=torch.float64)))
        exact = float(-math.log(1e-3) + _fam._studentt_peak(df)) if df < 1e12 else \
            float(-math.log(1e-3) - _fam.HALF_LOG_2PI - 1.0 / (4.0 * df))
        kind = "ok" if abs(tv - exact) < 1e-6 else "deviates"
        rows.append(ProbeRow(float(j), exact, tv, kind))
    worst = max(rows, key=lambda r: r.torch_value)
    over = worst.torch_value > _fam.STUDENTT_FLOOR_BOUND
    return tuple(rows), ("torch StudentT(df = 10^k, scale = 1e-3) at x = loc: " + (
        f"lgamma cancellation at df = 1e{int(worst.k)} gives {_fmt(worst.torch_value)} > "
        f"bound {_fmt(_fam.STUDENTT_FLOOR_BOUND)} (implementation artefact)" if over else
        f"max {_fmt(worst.torch_value)} <= bound {_fmt(_fam.STUDENTT_FLOOR_BOUND)}")
        + "; MIWAE's df = 3 + softplus keeps df moderate in practice")


def _probe_global_logvar() -> tuple[tuple[ProbeRow, ...], str]:
    """Latent-diffusion style nll = rec / exp(logvar) + logvar with rec = 0 (perfect fit)."""
    import torch

    rows = []
    for k in (1.0, 10.0, 100.0, 700.0, 746.0, 1000.0):
        logvar = torch.tensor(-k, dtype=torch.float64)
        rec = torch.tensor(0.0, dtype=torch.float64)
        nll = rec / torch.exp(logvar) + logvar
        tv = -float(nll)
        kind = "ok" if tv == k else ("nan" if math.isnan(tv) else "deviates")
        rows.append(ProbeRow(k, k, tv, kind))
    _, text = _classify_probe([r.k for r in rows], [r.exact for r in rows],
                              [r.torch_value for r in rows], [""] * len(rows))
    return tuple(rows), ("LDM loss rec/exp(logvar) + logvar with rec = 0, k = -logvar: -nll = "
                         f"k grows without bound; {text}")


def _probe_numerical(plan: _fam.SearchPlan, trace: _fam.SearchTrace,
                     values: np.ndarray) -> str:
    """torch log_prob along the escape ray of the best point: caps, NaN, inf, exceptions."""
    import torch

    n = int(np.argmax(trace.best[-1]))
    if not np.isfinite(trace.best[-1, n]):
        return f"log_prob = {_fmt(float(trace.best[-1, n]))} at the best point found"
    u1, u0 = trace.argbest[-1, n], trace.argbest[-2, n]
    d = u1 - u0
    x = torch.tensor([float(values[n])], dtype=torch.float64)
    if not np.any(d):
        return (f"log_prob finite ({_fmt(float(trace.best[-1, n]))}) at the maximiser for "
                f"x = {_fmt(float(values[n]))}")
    kinds = []
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for t in (1.0, 4.0, 16.0, 64.0):
            u = torch.tensor(u1 + t * d, dtype=torch.float64)[None]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    d_ = _fam._build(plan, u, x)
                    v = float(d_.log_prob(x)[0])
                except Exception as exc:  # noqa: BLE001
                    kinds.append(f"t={_fmt(t)}: raises {type(exc).__name__}")
                    continue
            kinds.append(f"t={_fmt(t)}: {_fmt(v)}")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _fam._build(plan, u, x, validate=True).log_prob(x)
            except ValueError:
                kinds.append("validate_args raises ValueError")
                break
    finally:
        torch.set_default_dtype(old)
    return (f"torch log_prob along the escape ray u* + t (u* - u*_prev) at x = "
            f"{_fmt(float(values[n]))}: " + ", ".join(kinds))


# ----------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------


def _rate_or_bound(a: FamilyAudit) -> str:
    if a.verdict == "unbounded":
        per = [o for o in a.observations if o.verdict == "diverges"]
        if a.rate is not None and per:
            r = per[0].rate / max(per[0].coordinates, 1) if per[0].rate is not None else None
            return f"{_fmt(r)} per coordinate per unit {per[0].rate_unit}"
        return "diverges (" + per[0].reason.split(":")[0][:60] + ")"
    if a.verdict == "bounded":
        att = all(o.attained for o in a.observations)
        per_obs = a.observations[0].bound
        return (f"sup log p <= {_fmt(per_obs)} (first observation), total {_fmt(a.bound)}; "
                + ("attained" if att else "approached, not attained"))
    reasons = sorted({o.reason for o in a.observations if o.verdict == "inconclusive"})
    return "inconclusive: " + (reasons[0][:120] if reasons else "")


def render_families_markdown(results: Sequence[FamilyAudit]) -> str:
    """Body of reports/families.md: one row per audit (tabulate, github format)."""
    from tabulate import tabulate

    rows = []
    for a in results:
        verdict = a.verdict
        c = a.counts()
        if c["diverges"] and c["bounded"]:
            verdict += f" ({c['diverges']} of {len(a.observations)} observations diverge)"
        cells = [a.family, a.parameters, a.data_condition, verdict, _rate_or_bound(a),
                 a.implementation, f"{a.method}; {a.evidence}"]
        rows.append([str(c).replace("|", "\\|").replace("\n", " ") for c in cells])
    headers = ["family", "parameters", "data condition", "mathematical verdict",
               "rate or bound", "torch implementation behaviour", "evidence"]
    body = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    return body + "\n"


def report_family_audits(seed: int = 0) -> list[FamilyAudit]:
    """The standard set of audits behind reports/families.md (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    real = np.round(rng.normal(size=5), 6)
    pos = np.round(np.exp(rng.normal(size=5)), 6)
    unit = np.round(rng.uniform(0.05, 0.95, size=5), 6)
    binary = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    grid = np.round(rng.integers(0, 256, size=5) / 255.0, 6)
    specs: list[tuple[Any, np.ndarray, str, str]] = [
        ("normal", real, "any real data", "auto"),
        ("laplace", real, "any real data", "auto"),
        ("studentt", real, "any real data", "auto"),
        ("logistic", real, "any real data", "auto"),
        ("lognormal", pos, "x > 0", "auto"),
        ("gamma", pos, "x > 0 (interior)", "auto"),
        ("beta", unit, "x in (0, 1) (interior)", "auto"),
        ("vonmises", real, "any angle", "auto"),
        ("continuous_bernoulli", unit, "x in (0, 1)", "auto"),
        ("continuous_bernoulli", np.concatenate([unit[:3], [0.0, 1.0]]),
         "some x exactly 0 or 1", "auto"),
        ("bernoulli", binary, "binary x", "auto"),
        ("bernoulli", unit, "fractional x in (0, 1) (BCE)", "auto"),
        ("discretized_gaussian", grid, "8-bit grid in [0, 1]", "auto"),
        ("discretized_logistic", grid, "8-bit grid in [0, 1]", "auto"),
        ("softclip_gaussian", real, "any real data", "auto"),
        ("studentt_floor", real, "any real data", "auto"),
        ("gaussian_nll_loss", real, "any real data", "auto"),
        ("global_logvar_gaussian", real, "mean fits exactly", "auto"),
    ]
    out = [audit_family(f, x, seed=seed, data_label=lab, method=m) for f, x, lab, m in specs]
    for name, cls in torch_univariate_families().items():
        if name in _TORCH_TO_ANALYTIC:
            continue
        x, lab = _default_data(cls)
        out.append(audit_family(cls, x, seed=seed, data_label=lab, method="numerical"))
    return out


def _default_data(cls: type) -> tuple[np.ndarray, str]:
    """Representative observations inside the class's declared support."""
    from inspect import getattr_static

    from torch.distributions import constraints

    special_cases = {"Binomial": (np.array([0.0, 3.0]), "integers x in {0, 3}"),
                     "Pareto": (np.array([0.5, 2.0]), "x > 0 (support depends on scale)"),
                     "GeneralizedPareto": (np.array([-1.3, 0.0, 2.5]), "any real data (support "
                                           "depends on the parameters)")}
    if cls.__name__ in special_cases:
        return special_cases[cls.__name__]
    sup = getattr_static(cls, "support", None)
    s = str(sup)
    if isinstance(sup, constraints._Boolean):
        return np.array([0.0, 1.0]), "x in {0, 1}"
    if "Integer" in s or not isinstance(sup, constraints.Constraint):
        if cls.__name__ in ("Pareto", "GeneralizedPareto"):
            return np.array([0.5, 2.0]), "x > 0 (support depends on parameters)"
        return np.array([0.0, 3.0]), "integers x in {0, 3}"
    if isinstance(sup, constraints._Interval):
        return np.array([0.3, 0.8]), "x in (0, 1) (interior)"
    if isinstance(sup, constraints._GreaterThanEq):
        return np.array([0.0, 0.5, 2.0]), "x in {0, 0.5, 2} (0 on the support boundary)"
    if isinstance(sup, constraints._GreaterThan):
        return np.array([0.5, 2.0]), "x > 0"
    return np.array([-1.3, 0.0, 2.5]), "any real data"


# ----------------------------------------------------------------------------------------
# claim evidence (F1..F6) for the ledger runner
# ----------------------------------------------------------------------------------------


def _slope(k: np.ndarray, v: np.ndarray) -> float:
    """Least-squares slope of v against k."""
    return float(np.polyfit(k, v, 1)[0])


def family_claim_evidence(claim_id: str, seed: int) -> dict[str, Any]:
    """Evidence for ledger claims F1..F6, computed from the audit (never hard-coded).

    Returns ``{"observed": "unbounded" | "bounded", "evidence": {...}, "agree": bool}`` where
    ``agree`` compares the observation with the table-F verdict.
    """
    if claim_id not in _CLAIM_FNS:
        raise AuditInputError(f"unknown family claim {claim_id!r}; use one of "
                              f"{', '.join(_CLAIM_FNS)}")
    return _CLAIM_FNS[claim_id](int(seed))


def _spike_evidence(name: str, x: np.ndarray) -> dict[str, Any]:
    """Fitted slope of the exact spike value along k = 10..40 at each x, and value at k=1e6."""
    ks = np.arange(10.0, 41.0, 5.0)
    spike = _fam.ANALYTIC[name].spike
    slopes = [_slope(ks, spike(np.full_like(ks, xi), ks)) for xi in x]
    big = [float(spike(np.array(xi), np.array(1e6))) for xi in x]
    return {"fitted_rate": _r(float(np.mean(slopes))), "value_at_k_1e6": _r(min(big))}


def _claim_unbounded(seed: int, names: Sequence[str], data: np.ndarray,
                     torch_classes: Sequence[str], expect_rate: dict[str, float]
                     ) -> dict[str, Any]:
    import torch.distributions as tdist

    ev: dict[str, Any] = {"data": [_r(float(v)) for v in data], "families": {}}
    all_div = True
    agree = True
    for name in names:
        a = audit_family(name, data, seed=seed, probe=False)
        sp = _spike_evidence(name, data)
        div = a.verdict == "unbounded" and all(o.verdict == "diverges" for o in a.observations)
        rate_ok = abs(sp["fitted_rate"] - expect_rate[name]) < 1e-3
        ev["families"][name] = {"verdict": a.verdict, "analytic_rate": expect_rate[name],
                                **sp, "rate_agrees": rate_ok}
        all_div &= div
        agree &= rate_ok
    for cname in torch_classes:
        a = audit_family(getattr(tdist, cname), data, seed=seed, method="numerical")
        rates = [o.rate for o in a.observations if o.rate is not None]
        ev["families"][f"{cname} (numerical search)"] = {
            "verdict": a.verdict, "counts": a.counts(),
            "fitted_rates": sorted({_r(r, 3) for r in rates})}
        all_div &= a.verdict == "unbounded"
    observed = "unbounded" if all_div else "bounded"
    return {"observed": observed, "evidence": ev, "agree": bool(all_div and agree)}


def _claim_f1(seed: int) -> dict[str, Any]:
    data = np.round(np.random.default_rng(seed).normal(size=4), 6)
    return _claim_unbounded(seed, ("normal", "laplace", "studentt", "logistic"), data,
                            ("Normal", "Laplace"),
                            {"normal": 1.0, "laplace": 1.0, "studentt": 1.0, "logistic": 1.0})


def _claim_f2(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    data = np.round(rng.uniform(0.1, 0.9, size=4), 6)  # interior of every support
    return _claim_unbounded(seed, ("lognormal", "gamma", "beta", "vonmises"), data,
                            ("Gamma", "VonMises"),
                            {"lognormal": 1.0, "gamma": 0.5, "beta": 0.5, "vonmises": 0.5})


def _claim_f3(seed: int) -> dict[str, Any]:
    import torch.distributions as tdist

    rng = np.random.default_rng(seed)
    interior = np.round(rng.uniform(0.02, 0.98, size=4), 6)
    boundary = np.array([0.0, 1.0])
    a_in = audit_family("continuous_bernoulli", interior, seed=seed, probe=False)
    a_bd = audit_family("continuous_bernoulli", boundary, seed=seed)
    # the bound on (0,1) is the max of a concave function: check it against a dense grid
    eta = np.linspace(-60.0, 60.0, 24001)
    grid_max = [float(np.max(_fam.cb_log_prob(np.full_like(eta, x), eta))) for x in interior]
    bounds = [o.bound for o in a_in.observations]
    bound_ok = all(g <= b + 1e-9 and b - g < 1e-3 for g, b in zip(grid_max, bounds, strict=True))
    ks = np.array([10.0, 100.0, 1e3, 1e4])
    along = [float(v) for v in _fam.spike_cb_boundary(np.zeros_like(ks), ks)]
    gen = audit_family(tdist.ContinuousBernoulli, np.array([0.0, 0.3]), seed=seed,
                       method="numerical")
    cap_rows = [r for r in a_bd.probe if r.kind == "capped"]
    ev = {"interior_data": [_r(float(v)) for v in interior],
          "interior_verdict": a_in.verdict, "interior_bounds": [_r(b) for b in bounds],
          "interior_grid_max": [_r(g) for g in grid_max], "bound_matches_grid": bound_ok,
          "boundary_verdict": a_bd.verdict,
          "log_p0_along_eta=-e^k": {f"k={int(k)}": _r(v) for k, v in zip(ks, along, strict=True)},
          "numerical_search_torch_at_0": gen.observations[0].verdict,
          "numerical_search_torch_at_0.3": gen.observations[1].verdict,
          "torch_cap": _r(cap_rows[0].torch_value) if cap_rows else None,
          "conditional": "unbounded iff some coordinate is exactly 0 or 1"}
    ok = (a_in.verdict == "bounded" and a_bd.verdict == "unbounded" and bound_ok
          and gen.observations[0].verdict != "bounded")
    return {"observed": "unbounded" if a_bd.verdict == "unbounded" else "bounded",
            "evidence": ev, "agree": bool(ok)}


def _bounded_claim(seed: int, name: str, data: np.ndarray, logp: Any, nparam: int,
                   approach: Any) -> dict[str, Any]:
    """Bounded claims: analytic bound, random parameter draws never above it, tightness."""
    a = audit_family(name, data, seed=seed)
    bounds = np.array([o.bound for o in a.observations])
    rng = np.random.default_rng(seed)
    worst_gap = math.inf
    for i, x in enumerate(data):
        th = rng.normal(scale=5.0, size=(nparam, 20000))
        th[0] += x
        vals = logp(np.full(th.shape[1], x), *th)
        worst_gap = min(worst_gap, float(bounds[i] - np.max(vals)))
    tight = [float(bounds[i] - approach(x)) for i, x in enumerate(data)]
    ok = a.verdict == "bounded" and worst_gap >= -1e-9 and max(tight) < 1e-2
    ev = {"data": [_r(float(v)) for v in data], "verdict": a.verdict,
          "bounds": [_r(float(b)) for b in bounds], "bound_total": _r(a.bound),
          "random_draws": 20000 * len(data), "min_gap_bound_minus_best_draw": _r(worst_gap),
          "tightness_gap_along_sequence": _r(max(tight)), "implementation": a.implementation}
    return {"observed": "bounded" if a.verdict == "bounded" else "unbounded", "evidence": ev,
            "agree": bool(ok)}


def _claim_f4(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    data = np.concatenate([[0.0, 1.0], np.round(rng.uniform(0.05, 0.95, size=3), 6)])
    from scipy.special import logit

    def logp(x: np.ndarray, l0: np.ndarray) -> np.ndarray:
        return _fam.log_bernoulli(x, l0 - x)  # th[0] was shifted by x; undo

    def approach(x: float) -> float:
        lg = 40.0 if x == 1 else (-40.0 if x == 0 else float(logit(x)))
        return float(_fam.log_bernoulli(np.array(x), np.array(lg)))

    return _bounded_claim(seed, "bernoulli", data, logp, 1, approach)


def _claim_f5(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    data = np.round(rng.integers(0, 256, size=4) / 255.0, 6)

    def logp(x: np.ndarray, loc: np.ndarray, ls: np.ndarray) -> np.ndarray:
        return np.maximum(_fam.log_discretized_gaussian(x, loc, ls),
                          _fam.log_discretized_logistic(x, loc, ls))

    def approach(x: float) -> float:
        return float(min(_fam.log_discretized_gaussian(np.array(x), np.array(x), np.array(-12.0)),
                         _fam.log_discretized_logistic(np.array(x), np.array(x),
                                                       np.array(-12.0))))

    out = _bounded_claim(seed, "discretized_gaussian", data, logp, 2, approach)
    out["evidence"]["also"] = audit_family("discretized_logistic", data, probe=False).verdict
    return out


def _claim_f6(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    data = np.round(rng.normal(size=3), 6)
    parts = {
        "softclip_gaussian": _bounded_claim(
            seed, "softclip_gaussian", data,
            lambda x, loc, raw: _fam.log_softclip_gaussian(x, loc, raw), 2,
            lambda x: float(_fam.log_softclip_gaussian(np.array(x), np.array(x),
                                                       np.array(-40.0)))),
        "studentt_floor": _bounded_claim(
            seed, "studentt_floor", data,
            lambda x, loc, rs, rd: _fam.log_studentt_floor(x, loc, rs, rd), 3,
            lambda x: float(_fam.log_studentt_floor(np.array(x), np.array(x), np.array(-40.0),
                                                    np.array(1e7)))),
        "gaussian_nll_loss": _bounded_claim(
            seed, "gaussian_nll_loss", data,
            lambda x, mean, lv: _fam.log_gaussian_nll_value(x, mean, np.exp(lv)), 2,
            lambda x: float(_fam.log_gaussian_nll_value(np.array(x), np.array(x),
                                                        np.array(1e-9)))),
    }
    ev = {k: v["evidence"] for k, v in parts.items()}
    ev["per_coordinate_bounds"] = {"softclip_gaussian": _r(_fam.SOFTCLIP_BOUND),
                                   "studentt_floor": _r(_fam.STUDENTT_FLOOR_BOUND),
                                   "gaussian_nll_loss": _r(_fam.GAUSSIAN_NLL_BOUND)}
    observed = "bounded" if all(v["observed"] == "bounded" for v in parts.values()) else \
        "unbounded"
    return {"observed": observed, "evidence": ev,
            "agree": bool(all(v["agree"] for v in parts.values()))}


_CLAIM_FNS = {"F1": _claim_f1, "F2": _claim_f2, "F3": _claim_f3, "F4": _claim_f4,
              "F5": _claim_f5, "F6": _claim_f6}


# ----------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------


def _parse_values(text: str) -> np.ndarray:
    try:
        return np.array([float(t) for t in text.split(",") if t.strip()], dtype=np.float64)
    except ValueError as exc:
        raise AuditInputError(f"--values must be comma-separated numbers, got {text!r}") from exc


def _cmd_audit_family(ns: argparse.Namespace) -> int:
    try:
        if (ns.data is None) == (ns.values is None):
            raise AuditInputError("give exactly one of --data FILE.npy or --values 0,0.5,1")
        X = load_data(ns.data) if ns.data is not None else validate_data(_parse_values(ns.values))
        res = audit_family(ns.family, X, seed=ns.seed, method=ns.method)
    except AuditInputError as exc:
        print(f"wellposed: error: {exc}", file=sys.stderr)
        return 2
    if ns.json:
        print(json.dumps(res.to_dict(), indent=2, sort_keys=True))
        return 0
    from tabulate import tabulate

    print(f"family {res.family} ({res.method}); verdict: {res.verdict}")
    print(render_families_markdown([res]))
    rows = [[o.index, o.verdict, _fmt(o.rate), o.rate_unit, _fmt(o.bound), o.reason]
            for o in res.observations[:50]]
    print(tabulate(rows, headers=["obs", "verdict", "rate", "unit", "bound", "reason"],
                   tablefmt="github", disable_numparse=True))
    return 0


def _cmd_audit_data(ns: argparse.Namespace) -> int:
    try:
        X = load_data(ns.path)
        res = audit_data(X, latent_dim=ns.latent_dim)
    except AuditInputError as exc:
        print(f"wellposed: error: {exc}", file=sys.stderr)
        return 2
    if ns.json:
        print(json.dumps(res.to_dict(), indent=2, sort_keys=True))
    else:
        print(res.render_text(), end="")
    return 0


def add_audit_parsers(subparsers: Any) -> None:
    """Register ``audit-family`` and ``audit-data`` on an argparse subparsers object.

    Each sets ``func(namespace) -> int`` (0 ok, 2 bad input with the message on stderr).
    """
    pf = subparsers.add_parser("audit-family", help="per-observation boundedness of a family",
                               description="Is sup over parameters of log p(x | params) finite "
                               "at each observation?")
    pf.add_argument("family", help="built-in name (" + ", ".join(_fam.ANALYTIC) + "), a "
                    "torch.distributions class name, or module:ClassName")
    pf.add_argument("--data", help=".npy file of observations (1-D or (n, D))")
    pf.add_argument("--values", help="comma-separated observations, e.g. 0,0.5,1")
    pf.add_argument("--seed", type=int, default=0)
    pf.add_argument("--method", choices=("auto", "analytic", "numerical"), default="auto")
    pf.add_argument("--json", action="store_true", help="print the JSON record")
    pf.set_defaults(func=_cmd_audit_family)
    pd = subparsers.add_parser("audit-data", help="data features that break objectives",
                               description="Find constant coordinates, exact 0/1 values, low "
                               "rank, duplicate rows and quantization in a .npy data set.")
    pd.add_argument("path", help=".npy file, shape (n,) or (n, D)")
    pd.add_argument("--latent-dim", type=int, default=None,
                    help="latent size d, for the rank check (pPCA unbounded if rank <= d)")
    pd.add_argument("--json", action="store_true", help="print the JSON record")
    pd.set_defaults(func=_cmd_audit_data)
