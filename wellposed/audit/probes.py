"""What torch's own log_prob returns at extreme parameters, next to the mathematics.

Along each family's witness sequence (scale -> 0, concentration -> inf, ...) the exact value
of :mod:`wellposed.audit.analytic` is compared with torch's implementation: clamping caps,
NaN, inf, ``validate_args`` exceptions (:func:`probe_analytic`); for the numerical search,
torch's log_prob along the escape ray of the best point found (:func:`probe_numerical`).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
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
from wellposed.evidence.records import jsonable_dict
from wellposed.numerics import HALF_LOG_2PI

__all__ = ["K_GRID", "K_GRID_CB", "ProbeRow", "agrees_under", "probe_analytic",
           "probe_numerical"]


@dataclass(frozen=True)
class ProbeRow:
    """One point of the implementation probe: sequence index, exact and torch values."""

    k: float
    exact: float | None
    torch_value: float | None
    kind: str  # ok | capped | nan | inf | -inf | deviates | raises | roundoff
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON; ``machine_dependent`` marks a torch value that is round-off (its
        digits depend on the CPU's vector kernels: reports never print them)."""
        return jsonable_dict({"k": self.k, "exact": self.exact, "torch": self.torch_value,
                         "kind": self.kind, "note": self.note,
                         "machine_dependent": self.kind in ("deviates", "roundoff")})


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
    if ok:  # the exact value: torch's own agrees to 1e-6, its last digits are the CPU's;
        # below that agreement (|log p| < 1e-6) the value reads 0
        shown = ok[-1].exact if abs(ok[-1].exact or 0.0) >= 1e-6 else 0.0
        parts.append(f"matches the mathematics up to k = {fmt_number(ok[-1].k)} "
                     f"(log p = {fmt_number(shown)})")
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
        elif b.kind == "deviates":
            # one departing finite value is round-off (cancellation, overflow): its digits
            # depend on the CPU's vector kernels, so the text says where it starts
            parts.append(f"from k = {fmt_number(b.k)}: deviates (torch's value is off the "
                         f"exact {fmt_number(b.exact)} by more than 1e-6 relative; its digits "
                         "depend on the CPU's kernels: `--json` lists them)")
        else:
            parts.append(f"from k = {fmt_number(b.k)}: {b.kind} (torch "
                         f"{fmt_number(b.torch_value)}, exact {fmt_number(b.exact)})")
    first_raise = next((r for r in rows if r.note), None)
    if first_raise is not None:
        parts.append(f"validate_args=True raises from k = {fmt_number(first_raise.k)}: "
                     f"{first_raise.note}")
    return tuple(rows), "; ".join(parts)


def _num(v: float | None) -> float:
    """``v``, or NaN where no value was computed."""
    return math.nan if v is None else v


def _t64(v: float) -> torch.Tensor:
    """A float64 scalar tensor."""
    return torch.tensor(v, dtype=torch.float64)


def _cb_at(k: float, validate: bool) -> tdist.Distribution:
    """ContinuousBernoulli at ``logits = -e^k``."""
    return tdist.ContinuousBernoulli(logits=_t64(-math.exp(k)), validate_args=validate)


def _bernoulli_at(k: float, validate: bool) -> tdist.Distribution:
    """Bernoulli at ``logits = e^k`` (overflow-safe)."""
    return tdist.Bernoulli(logits=_t64(_exp(k)), validate_args=validate)


def _torch_eval(make: Callable[[bool], tdist.Distribution], x: float) -> tuple[float, str]:
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
    if name in ("normal", "laplace", "studentt", "lognormal", "gamma", "beta", "vonmises"):
        x = {"lognormal": _pick(values, 0, math.inf, 1.0), "gamma": _pick(values, 0, math.inf, 1.0),
             "beta": _pick(values, 0, 1, 0.5)}.get(name, float(np.median(values)))
        ks = K_GRID if name in ("normal", "laplace", "studentt", "lognormal") else (
            1.0, 4.0, 16.0, 32.0, 64.0, 128.0, 256.0, 700.0, 720.0)
        spike = ANALYTIC[name].spike
        if spike is None:
            raise ValueError(f"family {name!r} has no spike sequence")
        exact = [float(spike(np.array(x), np.array(k))) for k in ks]
        makers: dict[str, Callable[[float, bool], tdist.Distribution]] = {
            "normal": lambda k, va: tdist.Normal(_t64(x), _t64(math.exp(-k)), validate_args=va),
            "laplace": lambda k, va: tdist.Laplace(_t64(x), _t64(math.exp(-k)), validate_args=va),
            "studentt": lambda k, va: tdist.StudentT(_t64(3.0), _t64(x), _t64(math.exp(-k)),
                                                     validate_args=va),
            "lognormal": lambda k, va: tdist.LogNormal(_t64(math.log(x)), _t64(math.exp(-k)),
                                                       validate_args=va),
            "gamma": lambda k, va: tdist.Gamma(_t64(_exp(k)), _t64(_exp(k) / x), validate_args=va),
            "beta": lambda k, va: tdist.Beta(_t64(_exp(k) * x), _t64(_exp(k) * (1 - x)),
                                             validate_args=va),
            "vonmises": lambda k, va: tdist.VonMises(_t64(x), _t64(_exp(k)), validate_args=va),
        }
        res = [_torch_eval(functools.partial(makers[name], k), x) for k in ks]
        rows, text = _classify_probe(ks, exact, [r[0] for r in res], [r[1] for r in res])
        unit = "log(1/scale)" if name in ("normal", "laplace", "studentt", "lognormal") else \
            "log(concentration)"
        cls_name = ANALYTIC[name].torch_class
        return rows, f"torch.distributions.{cls_name} at x = {fmt_number(x)}, k = {unit}: {text}"
    if name == "continuous_bernoulli":
        exact = [float(spike_cb_boundary(np.array(0.0), np.array(k))) for k in K_GRID_CB]
        res = [_torch_eval(functools.partial(_cb_at, k), 0.0) for k in K_GRID_CB]
        rows, text = _classify_probe(K_GRID_CB, exact, [r[0] for r in res], [r[1] for r in res])
        cap = math.log(math.log((1 - _EPS64) / _EPS64))
        return rows, (f"torch.distributions.ContinuousBernoulli at x = 0, logits = -e^k "
                      f"(k = log|logit|): {text}; the cap is log log((1-eps)/eps) = "
                      f"{fmt_number(cap)} with eps = float64 machine epsilon (probs clamped)")
    if name == "bernoulli":
        bks = (1.0, 4.0, 16.0, 64.0, 700.0)
        exact = [float(log_bernoulli(np.array(1.0), np.array(_exp(k)))) for k in bks]
        res = [_torch_eval(functools.partial(_bernoulli_at, k), 1.0) for k in bks]
        rows, text = _classify_probe(bks, exact, [r[0] for r in res], [r[1] for r in res])
        frac = _pick(values, 0, 1, 0.3)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bern = tdist.Bernoulli(logits=_t64(0.0), validate_args=True)
                bern.log_prob(_t64(frac))  # type: ignore[no-untyped-call]
            fr = "accepts fractional x"
        except ValueError:
            fr = f"validate_args=True rejects fractional x = {fmt_number(frac)} (BCE users pass " \
                 "validate_args=False or use binary_cross_entropy)"
        return rows, f"torch.distributions.Bernoulli at x = 1, logits = e^k: {text}; {fr}"
    if name in ("gaussian_nll_loss", "gaussian_nll_loss_default"):
        return _probe_gaussian_nll(full=name == "gaussian_nll_loss")
    if name == "softclip_gaussian":
        return _probe_softclip()
    if name == "studentt_floor":
        return _probe_studentt_floor()
    if name == "global_logvar_gaussian":
        return _probe_global_logvar()
    return (), "no torch.distributions class; closed form evaluated in numpy (log space)"


def agrees_under(rows: Sequence[ProbeRow], bound: float) -> bool:
    """Whether torch's implementation backs a bound: every probed value agrees with the
    mathematics (kind ``ok``, or ``roundoff`` where float64 cannot resolve it, said so in the
    text) and no agreeing value exceeds ``bound`` (+ 1e-6 nats for the last bits)."""
    return all(r.kind in ("ok", "roundoff") for r in rows) and all(
        r.torch_value is not None and r.torch_value <= bound + 1e-6
        for r in rows if r.kind == "ok")


def _against(rows: Sequence[ProbeRow], bound: float, what: str) -> str:
    """The sentence on torch's values vs the bound, computed from them."""
    bad = [r for r in rows if r.kind not in ("ok", "roundoff")]
    over = [r for r in rows if r.kind == "ok" and r.torch_value is not None
            and r.torch_value > bound + 1e-6]
    if not bad and not over:
        return f"{what} agrees with the mathematics and never exceeds {fmt_number(bound)}"
    text = []
    if bad:
        text.append(f"{what} DEVIATES from the mathematics at k = "
                    + ", ".join(fmt_number(r.k) for r in bad))
    top = max((r.torch_value for r in rows if r.torch_value is not None
               and math.isfinite(r.torch_value)), default=math.nan)
    if top > bound + 1e-6:
        text.append(f"{what} EXCEEDS the bound {fmt_number(bound)} (largest value "
                    f"{fmt_number(top)})")
    return "; ".join(text)


def _probe_gaussian_nll(full: bool = True) -> tuple[tuple[ProbeRow, ...], str]:
    """torch.nn.GaussianNLLLoss(eps=1e-6, full): -loss with residual 0 along var = 10^-k,
    against min(-(1/2)log var, -(1/2)log eps) [- log(2pi)/2 with full=True], and
    d loss / d var below eps."""
    rows = []
    grads = []
    for j in (2, 4, 6, 8, 12, 30):
        var = torch.tensor([10.0 ** (-j)], dtype=torch.float64, requires_grad=True)
        x = torch.tensor([0.25], dtype=torch.float64)
        loss = torch.nn.GaussianNLLLoss(eps=GAUSSIAN_NLL_EPS, full=full)(x, x, var)
        loss.backward()
        exact = float(log_gaussian_nll_value(np.array(0.25), np.array(0.25),
                                             np.array(10.0 ** (-j)), full=full))
        tv = -float(loss.detach())
        g = float(var.grad[0]) if var.grad is not None else math.nan
        grads.append((j, g))
        rows.append(ProbeRow(float(j), exact, tv, "ok" if abs(tv - exact) < 1e-9 else "deviates",
                             f"d loss/d var = {fmt_number(g)}"))
    below = [(j, g) for j, g in grads if j > 6]
    bound = GAUSSIAN_NLL_BOUND if full else GAUSSIAN_NLL_BOUND_DEFAULT
    formula = ("min(-(1/2)log var, -(1/2)log eps) - log(2pi)/2" if full else
               "min(-(1/2)log var, -(1/2)log eps) (no log(2pi)/2)")
    text = (f"-loss (full={full}) with residual 0, against {formula}: "
            + _against(rows, bound, "torch's -loss")
            + f"; below eps d loss/d var = {fmt_number(below[0][1])} at var = 1e-{below[0][0]} "
            + ("(= 1/(2 eps): the clamp runs under no_grad, so the gradient passes through and "
               "keeps pushing var down)" if abs(below[0][1] * 2.0 * GAUSSIAN_NLL_EPS - 1.0)
               < 1e-6 else "(not the 1/(2 eps) of a clamp that passes the gradient through)"))
    return tuple(rows), (f"torch.nn.GaussianNLLLoss(eps=1e-6, full={full}), k = -log10(var): "
                         + text)


def _probe_softclip() -> tuple[tuple[ProbeRow, ...], str]:
    """sigma-VAE softclip in torch: log sigma = -6 + softplus(raw + 6)."""
    rows = []
    for raw in (0.0, -6.0, -20.0, -40.0, -800.0, -1e4):
        r = torch.tensor(raw, dtype=torch.float64)
        log_sigma = SOFTCLIP_MIN + F.softplus(r - SOFTCLIP_MIN)
        normal = torch.distributions.Normal(_t64(0.0), log_sigma.exp())
        tv = float(normal.log_prob(_t64(0.0)))  # type: ignore[no-untyped-call]
        exact = float(log_softclip_gaussian(np.array(0.0), np.array(0.0), np.array(raw)))
        rows.append(ProbeRow(raw, exact, tv, "ok" if abs(tv - exact) < 1e-9 else "deviates"))
    return tuple(rows), ("softclip + torch Normal at x = loc, k = raw log sigma: "
                         + _against(rows, SOFTCLIP_BOUND, "torch's log p")
                         + "; the bound is reached in floating point once softplus underflows "
                         "to 0 (raw <= about -745)")


def _lgamma_roundoff(df: float) -> float:
    """float64 round-off of log Gamma((df+1)/2) - log Gamma(df/2), the Student-t normaliser:
    a few ulps of each term, 4 eps (|lgamma(df/2)| + |lgamma((df+1)/2)|)."""
    return 4.0 * _EPS64 * (abs(math.lgamma(df / 2.0)) + abs(math.lgamma((df + 1.0) / 2.0)))


def _probe_studentt_floor() -> tuple[tuple[ProbeRow, ...], str]:
    """torch StudentT at scale = 1e-3, loc = x, df = 10^k.  Where the lgamma round-off
    (:func:`_lgamma_roundoff`) exceeds 1e-3 nats torch's value is cancellation noise (kind
    ``roundoff``: its digits depend on the CPU's kernels); elsewhere it must agree with
    -log scale + log Gamma((df+1)/2) - log Gamma(df/2) - (1/2) log(df pi) within that
    round-off."""
    rows = []
    for j in (2, 6, 10, 15, 20):
        df = 10.0 ** j
        d = torch.distributions.StudentT(torch.tensor(df, dtype=torch.float64),
                                         torch.tensor(0.0, dtype=torch.float64),
                                         torch.tensor(1e-3, dtype=torch.float64))
        tv = float(d.log_prob(torch.tensor(0.0, dtype=torch.float64)))  # type: ignore[no-untyped-call]
        exact = float(-math.log(1e-3) + studentt_peak(df)) if df < 1e12 else \
            float(-math.log(1e-3) - HALF_LOG_2PI - 1.0 / (4.0 * df))
        err = _lgamma_roundoff(df)
        kind = "roundoff" if err > 1e-3 else (
            "ok" if abs(tv - exact) <= err + 1e-9 else "deviates")
        rows.append(ProbeRow(float(j), exact, tv, kind))
    resolved = [r for r in rows if r.kind != "roundoff"]
    noise = [r for r in rows if r.kind == "roundoff"]
    text = (f"up to df = 1e{int(resolved[-1].k)} "
            + _against(resolved, STUDENTT_FLOOR_BOUND, "torch's log p") + " (within the "
            "float64 round-off of lgamma)")
    if noise:
        over = [r for r in noise if r.torch_value is not None and (
            not math.isfinite(r.torch_value) or r.torch_value > STUDENTT_FLOOR_BOUND)]
        text += (f"; from df = 1e{int(noise[0].k)} that round-off exceeds 1e-3 nats and "
                 "torch's value is lgamma cancellation noise (an implementation artefact, "
                 "its digits depend on the CPU's kernels: `--json` lists them)")
        if over:
            text += (", above the bound at df = "
                     + ", ".join(f"1e{int(r.k)}" for r in over))
    return tuple(rows), ("torch StudentT(df = 10^k, scale = 1e-3) at x = loc: " + text
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
    _, text = _classify_probe([r.k for r in rows], [_num(r.exact) for r in rows],
                              [_num(r.torch_value) for r in rows], [""] * len(rows))
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
    best, prev = float(trace.best[-1, n]), float(trace.best[-2, n])
    if abs(best - prev) <= 1e-6 * (1.0 + abs(best)):
        return _converged_ray(plan, u1, d, x, best)
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


def _ray_values(plan: SearchPlan, u1: np.ndarray, d: np.ndarray, x: torch.Tensor
                ) -> list[tuple[float, float | str]]:
    """torch log_prob at u1 + t d for t = 1, 4, 16, 64 (the exception's name if it raises)."""
    out: list[tuple[float, float | str]] = []
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for t in (1.0, 4.0, 16.0, 64.0):
            u = torch.tensor(u1 + t * d, dtype=torch.float64)[None]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    out.append((t, float(build(plan, u, x).log_prob(x)[0])))
                except Exception as exc:  # noqa: BLE001 - reported, not raised
                    out.append((t, type(exc).__name__))
    finally:
        torch.set_default_dtype(old)
    return out


def _converged_ray(plan: SearchPlan, u1: np.ndarray, d: np.ndarray, x: torch.Tensor,
                   best: float) -> str:
    """The search converged (its last box moved the best value by at most 1e-6 relative), so
    the last step u* - u*_prev is round-off along a flat ridge: its direction, and torch's
    digits along it, depend on the CPU's kernels.  What does not: whether log_prob stays
    finite and no more than 1e-3 (relative) above the best value found along that ray."""
    vals = _ray_values(plan, u1, d, x)
    odd = [f"t={fmt_number(t)}: " + (v if isinstance(v, str) else fmt_number(v))
           for t, v in vals if isinstance(v, str) or not math.isfinite(v)]
    above = [fmt_number(t) for t, v in vals if not isinstance(v, str) and math.isfinite(v)
             and v > best + 1e-3 * (1.0 + abs(best))]
    where = f"at x = {fmt_number(float(x[0]))}"
    text = (f"the search converged {where} (its last box moved the best value by under 1e-6, "
            "so the last step's direction is round-off and torch's values along it depend "
            "on the CPU's kernels); along u* + t (u* - u*_prev), t = 1..64, torch log_prob ")
    if not odd and not above:
        return text + "stays finite and never more than 1e-3 above the best value found"
    parts = ([("is not finite or raises at " + ", ".join(odd))] if odd else []) + (
        [f"exceeds the best value found by more than 1e-3 at t = {', '.join(above)}"]
        if above else [])
    return text + "; ".join(parts)
