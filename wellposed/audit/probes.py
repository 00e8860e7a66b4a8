"""What torch's own log_prob returns at extreme parameters, next to the mathematics.

Along each family's witness sequence (scale -> 0, concentration -> inf, ...) the exact value
of :mod:`wellposed.audit.analytic` is compared with torch's implementation: clamping caps,
NaN, inf, ``validate_args`` exceptions (:func:`probe_analytic`); for the numerical search,
torch's log_prob along the escape ray of the best point found (:func:`probe_numerical`).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributions as tdist
import torch.nn.functional as F

from wellposed.audit.analytic import (
    ANALYTIC,
    GAUSSIAN_NLL_BOUND,
    GAUSSIAN_NLL_BOUND_DEFAULT,
    GAUSSIAN_NLL_EPS,
    SOFTCLIP_BOUND,
    SOFTCLIP_MIN,
    STUDENTT_FLOOR_BOUND,
    fmt_number,
    log_bernoulli,
    log_gaussian_nll_value,
    log_softclip_gaussian,
    spike_cb_boundary,
    studentt_peak,
)
from wellposed.audit.search import SearchPlan, SearchTrace, build
from wellposed.evidence.records import jsonable
from wellposed.numerics import HALF_LOG_2PI

__all__ = ["K_GRID", "K_GRID_CB", "ProbeRow", "probe_analytic", "probe_numerical"]


@dataclass(frozen=True)
class ProbeRow:
    """One point of the implementation probe: sequence index, exact and torch values."""

    k: float
    exact: float | None
    torch_value: float | None
    kind: str  # ok | capped | nan | inf | -inf | deviates | raises
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"k": self.k, "exact": self.exact, "torch": self.torch_value,
                         "kind": self.kind, "note": self.note})


K_GRID = (1.0, 4.0, 16.0, 64.0, 256.0, 350.0, 400.0, 700.0, 750.0, 1000.0)
K_GRID_CB = (0.5, 1.0, 2.0, 3.0, 3.5, 4.0, 5.0, 10.0, 100.0)
_EPS64 = float(np.finfo(np.float64).eps)


def _exp(k: float) -> float:
    return math.exp(k) if k < 709.0 else math.inf


def _classify_probe(ks: Sequence[float], exact: Sequence[float], tv: Sequence[float],
                    raised: Sequence[str]) -> tuple[tuple[ProbeRow, ...], str]:
    """Label each probe point and summarise the first departure from the mathematics.

    A departure is a *cap* only when torch returns one and the same finite value at every
    departing point (at least two; e.g. the continuous Bernoulli's clamped probabilities);
    departing values that differ from each other (sign changes, jumps by orders of
    magnitude: catastrophic cancellation) are reported as *numerically broken* (the values
    in the JSON rows; the text names their kinds, since their digits are CPU-dependent
    noise), never as a cap.
    """
    rows = []
    for k, e, t, err in zip(ks, exact, tv, raised, strict=True):
        if math.isnan(t):
            kind = "nan"
        elif math.isinf(t):
            kind = "inf" if t > 0 else "-inf"
        elif abs(t - e) <= 1e-6 * (1.0 + abs(e)):
            kind = "ok"
        else:
            kind = "deviates"
        rows.append(ProbeRow(k, e, t, kind, err))
    ok = [r for r in rows if r.kind == "ok"]
    bad = [r for r in rows if r.kind != "ok"]
    finite_bad = [r.torch_value for r in bad if r.kind == "deviates"]
    capped = len(finite_bad) >= 2 and len(set(finite_bad)) == 1
    if capped:
        rows = [ProbeRow(r.k, r.exact, r.torch_value, "capped", r.note) if r.kind == "deviates"
                else r for r in rows]
        bad = [r for r in rows if r.kind != "ok"]
    parts = []
    if ok:
        parts.append(f"matches the mathematics up to k = {fmt_number(ok[-1].k)} "
                     f"(log p = {fmt_number(ok[-1].torch_value)})")
    if bad:
        b = bad[0]
        if capped:
            parts.append(f"then capped at {fmt_number(finite_bad[0])} from k = "
                         f"{fmt_number(b.k)} while the exact value keeps growing "
                         f"({fmt_number(bad[-1].exact)} at k = {fmt_number(bad[-1].k)})")
        elif len(finite_bad) >= 2:
            # the departing values are cancellation noise: their digits depend on the CPU's
            # vector kernels, so the report names what they are, not what they read here
            kinds = ", ".join(f"{n} {kind}" for kind, n in
                              sorted(Counter(r.kind for r in bad).items()))
            parts.append(f"numerically broken from k = {fmt_number(b.k)}: at k = "
                         f"{', '.join(fmt_number(r.k) for r in bad)} torch returns values "
                         f"that jump between unrelated numbers ({kinds}; catastrophic "
                         f"cancellation, not a cap: `--json` lists them) while the exact "
                         f"value grows ({fmt_number(b.exact)} .. {fmt_number(bad[-1].exact)})")
        else:
            parts.append(f"from k = {fmt_number(b.k)}: {b.kind} (torch "
                         f"{fmt_number(b.torch_value)}, exact {fmt_number(b.exact)})")
    first_raise = next((r for r in rows if r.note), None)
    if first_raise is not None:
        parts.append(f"validate_args=True raises from k = {fmt_number(first_raise.k)}: "
                     f"{first_raise.note}")
    return tuple(rows), "; ".join(parts)


def _torch_eval(make: Any, x: float) -> tuple[float, str]:
    """torch log_prob (validate_args=False) and the exception text with validate_args=True."""
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


def probe_analytic(name: str, values: np.ndarray) -> tuple[tuple[ProbeRow, ...], str]:
    """What torch (or the common loss code) returns along the witness sequence."""
    t64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    if name in ("normal", "laplace", "studentt", "lognormal", "gamma", "beta", "vonmises"):
        x = {"lognormal": _pick(values, 0, math.inf, 1.0), "gamma": _pick(values, 0, math.inf, 1.0),
             "beta": _pick(values, 0, 1, 0.5)}.get(name, float(np.median(values)))
        ks = K_GRID if name in ("normal", "laplace", "studentt", "lognormal") else (
            1.0, 4.0, 16.0, 32.0, 64.0, 128.0, 256.0, 700.0, 720.0)
        spike = ANALYTIC[name].spike
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
        cls_name = ANALYTIC[name].torch_class
        return rows, f"torch.distributions.{cls_name} at x = {fmt_number(x)}, k = {unit}: {text}"
    if name == "continuous_bernoulli":
        exact = [float(spike_cb_boundary(np.array(0.0), np.array(k))) for k in K_GRID_CB]
        res = [_torch_eval(lambda va, k=k: tdist.ContinuousBernoulli(
            logits=t64(-math.exp(k)), validate_args=va), 0.0) for k in K_GRID_CB]
        rows, text = _classify_probe(K_GRID_CB, exact, [r[0] for r in res], [r[1] for r in res])
        cap = math.log(math.log((1 - _EPS64) / _EPS64))
        return rows, (f"torch.distributions.ContinuousBernoulli at x = 0, logits = -e^k "
                      f"(k = log|logit|): {text}; the cap is log log((1-eps)/eps) = "
                      f"{fmt_number(cap)} with eps = float64 machine epsilon (probs clamped)")
    if name == "bernoulli":
        ks = (1.0, 4.0, 16.0, 64.0, 700.0)
        exact = [float(log_bernoulli(np.array(1.0), np.array(_exp(k)))) for k in ks]
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
            fr = f"validate_args=True rejects fractional x = {fmt_number(frac)} (BCE users pass " \
                 "validate_args=False or use binary_cross_entropy)"
        return rows, f"torch.distributions.Bernoulli at x = 1, logits = e^k: {text}; {fr}"
    if name in ("gaussian_nll_loss", "gaussian_nll_loss_default"):
        return _probe_gaussian_nll()
    if name == "softclip_gaussian":
        return _probe_softclip()
    if name == "studentt_floor":
        return _probe_studentt_floor()
    if name == "global_logvar_gaussian":
        return _probe_global_logvar()
    return (), "no torch.distributions class; closed form evaluated in numpy (log space)"


def _probe_gaussian_nll() -> tuple[tuple[ProbeRow, ...], str]:
    """torch.nn.GaussianNLLLoss(eps=1e-6, full=True): value and d loss / d var below eps."""
    rows = []
    grads = []
    for j in (2, 4, 6, 8, 12, 30):
        var = torch.tensor([10.0 ** (-j)], dtype=torch.float64, requires_grad=True)
        x = torch.tensor([0.25], dtype=torch.float64)
        loss = torch.nn.GaussianNLLLoss(eps=GAUSSIAN_NLL_EPS, full=True)(x, x, var)
        loss.backward()
        exact = float(log_gaussian_nll_value(np.array(0.25), np.array(0.25),
                                             np.array(10.0 ** (-j))))
        tv = -float(loss.detach())
        g = float(var.grad[0])
        grads.append((j, g))
        rows.append(ProbeRow(float(j), exact, tv, "ok" if abs(tv - exact) < 1e-9 else "deviates",
                             f"d loss/d var = {fmt_number(g)}"))
    below = [(j, g) for j, g in grads if j > 6]
    x = torch.tensor([0.25], dtype=torch.float64)
    default = max(-float(torch.nn.GaussianNLLLoss(eps=GAUSSIAN_NLL_EPS)(
        x, x, torch.tensor([10.0 ** (-j)], dtype=torch.float64))) for j in (2, 4, 6, 8, 12, 30))
    text = (f"-loss (full=True) with residual 0 equals min(-(1/2)log var, -(1/2)log eps) - "
            f"log(2pi)/2 and never exceeds {fmt_number(GAUSSIAN_NLL_BOUND)}; below eps the value "
            f"is constant but d loss/d var = {fmt_number(below[0][1])} at var = 1e-{below[0][0]} "
            "(= 1/(2 eps): the clamp runs under no_grad, so the gradient passes through and "
            "keeps pushing var down); with torch's default full=False (no log(2pi)/2) the "
            f"largest -loss is {fmt_number(default)} = -(1/2) log eps "
            f"(bound {fmt_number(GAUSSIAN_NLL_BOUND_DEFAULT)})")
    return tuple(rows), "torch.nn.GaussianNLLLoss(eps=1e-6), k = -log10(var): " + text


def _probe_softclip() -> tuple[tuple[ProbeRow, ...], str]:
    """sigma-VAE softclip in torch: log sigma = -6 + softplus(raw + 6)."""
    rows = []
    for raw in (0.0, -6.0, -20.0, -40.0, -800.0, -1e4):
        r = torch.tensor(raw, dtype=torch.float64)
        log_sigma = SOFTCLIP_MIN + F.softplus(r - SOFTCLIP_MIN)
        tv = float(torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64),
                                              log_sigma.exp()).log_prob(
            torch.tensor(0.0, dtype=torch.float64)))
        exact = float(log_softclip_gaussian(np.array(0.0), np.array(0.0), np.array(raw)))
        rows.append(ProbeRow(raw, exact, tv, "ok" if abs(tv - exact) < 1e-9 else "deviates"))
    top = max(r.torch_value for r in rows)
    return tuple(rows), (f"softclip + torch Normal, k = raw log sigma: max value {fmt_number(top)} "
                         f"<= bound {fmt_number(SOFTCLIP_BOUND)}; reaches it in floating point "
                         "once softplus underflows to 0 (raw <= about -745)")


def _probe_studentt_floor() -> tuple[tuple[ProbeRow, ...], str]:
    """torch StudentT at scale = 1e-3, loc = x, huge df: roundoff can exceed the bound."""
    rows = []
    for j in (2, 6, 10, 15, 20):
        df = 10.0 ** j
        d = torch.distributions.StudentT(torch.tensor(df, dtype=torch.float64),
                                         torch.tensor(0.0, dtype=torch.float64),
                                         torch.tensor(1e-3, dtype=torch.float64))
        tv = float(d.log_prob(torch.tensor(0.0, dtype=torch.float64)))
        exact = float(-math.log(1e-3) + studentt_peak(df)) if df < 1e12 else \
            float(-math.log(1e-3) - HALF_LOG_2PI - 1.0 / (4.0 * df))
        kind = "ok" if abs(tv - exact) < 1e-6 else "deviates"
        rows.append(ProbeRow(float(j), exact, tv, kind))
    worst = max(rows, key=lambda r: r.torch_value)
    over = worst.torch_value > STUDENTT_FLOOR_BOUND
    return tuple(rows), ("torch StudentT(df = 10^k, scale = 1e-3) at x = loc: " + (
        f"lgamma cancellation at df = 1e{int(worst.k)} gives {fmt_number(worst.torch_value)} > "
        f"bound {fmt_number(STUDENTT_FLOOR_BOUND)} (implementation artefact)" if over else
        f"max {fmt_number(worst.torch_value)} <= bound {fmt_number(STUDENTT_FLOOR_BOUND)}")
        + "; MIWAE's df = 3 + softplus keeps df moderate in practice")


def _probe_global_logvar() -> tuple[tuple[ProbeRow, ...], str]:
    """Latent-diffusion style nll = rec / exp(logvar) + logvar with rec = 0 (perfect fit)."""
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


def probe_numerical(plan: SearchPlan, trace: SearchTrace, values: np.ndarray) -> str:
    """torch log_prob along the escape ray of the best point: caps, NaN, inf, exceptions."""
    n = int(np.argmax(trace.best[-1]))
    if not np.isfinite(trace.best[-1, n]):
        return f"log_prob = {fmt_number(float(trace.best[-1, n]))} at the best point found"
    u1, u0 = trace.argbest[-1, n], trace.argbest[-2, n]
    d = u1 - u0
    x = torch.tensor([float(values[n])], dtype=torch.float64)
    if not np.any(d):
        return (f"log_prob finite ({fmt_number(float(trace.best[-1, n]))}) at the maximiser for "
                f"x = {fmt_number(float(values[n]))}")
    kinds = []
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for t in (1.0, 4.0, 16.0, 64.0):
            u = torch.tensor(u1 + t * d, dtype=torch.float64)[None]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    d_ = build(plan, u, x)
                    v = float(d_.log_prob(x)[0])
                except Exception as exc:  # noqa: BLE001
                    kinds.append(f"t={fmt_number(t)}: raises {type(exc).__name__}")
                    continue
            kinds.append(f"t={fmt_number(t)}: {fmt_number(v, 4)}")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    build(plan, u, x, validate=True).log_prob(x)
            except ValueError:
                kinds.append("validate_args raises ValueError")
                break
    finally:
        torch.set_default_dtype(old)
    return (f"torch log_prob along the escape ray u* + t (u* - u*_prev) at x = "
            f"{fmt_number(float(values[n]))}: " + ", ".join(kinds))
