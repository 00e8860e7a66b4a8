"""The numerical search: sup over parameters of log p(x | params) for any torch distribution.

For ANY univariate ``torch.distributions.Distribution`` subclass, the parameters and their
constraints are read from ``cls.arg_constraints`` and mapped to R with
``torch.distributions.transform_to`` (:func:`plan_search`); a multi-start saddle-free
Levenberg-Marquardt ascent in float64 runs inside boxes |u| <= R = 1, 2, 4, ... (:func:`search`),
and the growth of the best value with R decides (:func:`classify`) ``unbounded`` (fitted
rate), ``bounded`` (bound reached) or ``inconclusive`` (with the reason).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributions as tdist
from torch.distributions import Distribution, constraints, transform_to

from wellposed.audit.analytic import ScalarVerdict, fmt_number
from wellposed.evidence.decide import BOUNDED, INCONCLUSIVE, UNBOUNDED

__all__ = [
    "RADII", "RADII_LONG", "SCALE_LIKE", "ParamSpec", "SearchPlan", "SearchTrace",
    "UnsupportedFamily", "build", "classify", "params_text", "plan_search", "search",
    "torch_univariate_families",
]

#: parameter names that make a family "scale-like" (the scope of docs/claims.md#f1 to #f6).
SCALE_LIKE = ("scale", "rate", "concentration", "probs", "logits", "df", "temperature")

RADII = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
#: the continuation for values whose growth looks logarithmic in |u| (e.g. log log(1/lam)):
#: slow growth is only told apart from an implementation's cap far out (torch's continuous
#: Bernoulli reaches its cap log log((1-eps)/eps) = 3.585 beyond |u| = 32)
RADII_LONG = RADII + (64.0, 128.0, 256.0, 512.0)


class UnsupportedFamily(Exception):
    """The class cannot be searched generically (reason in the message)."""


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter: name, constraint (text), transform from R, box centred on x?"""

    name: str
    constraint: str
    transform: Callable[[torch.Tensor], torch.Tensor]
    centre_on_x: bool
    note: str = ""


@dataclass(frozen=True)
class SearchPlan:
    """What the generic search varies (params) and holds fixed (fixed, with notes)."""

    cls: type[Distribution]
    params: tuple[ParamSpec, ...]
    fixed: tuple[tuple[str, float, str], ...]


def plan_search(cls: object, values: np.ndarray) -> SearchPlan:
    """Read the parameters and constraints from ``cls.arg_constraints`` and map each to R.

    * ``probs``/``logits`` alternatives: ``logits`` is searched (the unconstrained one).
    * integer-valued parameters (``total_count`` of Binomial) are held fixed at
      max(1, ceil(max x)) and reported;
    * required ``__init__`` arguments absent from ``arg_constraints`` (RelaxedBernoulli's
      ``temperature``) are searched as positive reals, with a note saying so;
    * dependent or vector/matrix constraints raise :class:`UnsupportedFamily`.
    """
    if not (isinstance(cls, type) and issubclass(cls, Distribution)):
        raise UnsupportedFamily(f"{cls!r} is not a torch.distributions.Distribution subclass")
    ac = inspect.getattr_static(cls, "arg_constraints", None)
    if not isinstance(ac, dict):
        raise UnsupportedFamily("arg_constraints is not a class-level dict (parameters are "
                                "dependent on each other); cannot reparameterize generically")
    names = [n for n in ac if not (n == "probs" and "logits" in ac)]
    sig = inspect.signature(cls.__init__)
    params: list[ParamSpec] = []
    fixed: list[tuple[str, float, str]] = []
    for pname, p in sig.parameters.items():
        if pname in ("self", "validate_args") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if pname not in ac and p.default is inspect.Parameter.empty:
            params.append(ParamSpec(pname, "positive (assumed)", transform_to(constraints.positive),
                                    False, f"{pname} is not in arg_constraints; searched as > 0"))
    for n in names:
        c = ac[n]
        if c is constraints.dependent or isinstance(c, constraints._Dependent):
            raise UnsupportedFamily(f"parameter {n!r} has a dependent constraint")
        if c.event_dim > 0:
            raise UnsupportedFamily(f"parameter {n!r} is a vector/matrix ({c}); multivariate")
        if c.is_discrete:
            val = float(max(1.0, math.ceil(float(np.max(values)))))
            fixed.append((n, val, f"{n} is integer-valued ({c}); held fixed at "
                                  f"{fmt_number(val)}"))
            continue
        try:
            t = transform_to(c)
        except NotImplementedError as exc:
            raise UnsupportedFamily(f"no transform_to for {n!r} ({c})") from exc
        centre = isinstance(c, type(constraints.real)) and c.event_dim == 0
        params.append(ParamSpec(n, str(c), t, centre))
    if not params:
        raise UnsupportedFamily("no continuous parameter to search")
    plan = SearchPlan(cls, tuple(params), tuple(fixed))
    try:
        d = build(plan, torch.zeros(1, len(params), dtype=torch.float64),
                   torch.zeros(1, dtype=torch.float64))
    except Exception as exc:  # noqa: BLE001 - any construction failure makes it unsupported
        raise UnsupportedFamily(f"cannot construct with scalar parameters: {exc}") from exc
    if tuple(d.event_shape) != ():
        raise UnsupportedFamily(f"event_shape {tuple(d.event_shape)} is not univariate")
    return plan


def build(plan: SearchPlan, u: torch.Tensor, xcentre: torch.Tensor,
           validate: bool = False) -> Distribution:
    """Instantiate the family at unconstrained u (..., P) (Real params offset by x)."""
    kw: dict[str, torch.Tensor] = {}
    for i, spec in enumerate(plan.params):
        ui = u[..., i] + (xcentre if spec.centre_on_x else 0.0)
        kw[spec.name] = spec.transform(ui)
    for n, val, _ in plan.fixed:
        kw[n] = torch.full_like(u[..., 0], val)
    make: Callable[..., Distribution] = plan.cls  # the family's own keyword arguments
    return make(**kw, validate_args=validate)


def _objective(plan: SearchPlan, u: torch.Tensor, x: torch.Tensor,
               want_support: bool = False) -> torch.Tensor:
    """log p(x | T(u)); -inf where x is outside the instance's support; NaN -> -inf."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = build(plan, u, x)
        lp = d.log_prob(x.expand(u.shape[:-1]))
        try:
            support = d.support
            if support is None:
                raise NotImplementedError("no support")
            ok = support.check(x.expand(u.shape[:-1]))  # type: ignore[no-untyped-call]
        except Exception:  # noqa: BLE001 - dependent supports without a check: trust log_prob
            ok = torch.ones_like(lp, dtype=torch.bool)
    if want_support:
        returned: torch.Tensor = ok
        return returned
    lp = torch.where(ok, lp, torch.full_like(lp, -math.inf))
    return torch.where(torch.isnan(lp), torch.full_like(lp, -math.inf), lp)


def _grad_hess(plan: SearchPlan, u: torch.Tensor, x: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Value, gradient (E,P) and Hessian (E,P,P) of independent elementwise objectives."""
    u = u.detach().requires_grad_(True)
    v = _objective(plan, u, x)
    fin = torch.isfinite(v)
    vs = torch.where(fin, v, torch.zeros_like(v)).sum()
    (g,) = torch.autograd.grad(vs, u, create_graph=True)
    rows = []
    for p in range(u.shape[-1]):
        h: torch.Tensor | None = torch.autograd.grad(g[..., p].sum(), u, retain_graph=True,
                                                     allow_unused=True)[0]
        rows.append(torch.zeros_like(u) if h is None else h)
    hess = torch.stack(rows, dim=-2)
    g = torch.nan_to_num(g.detach(), nan=0.0, posinf=0.0, neginf=0.0)
    hess = torch.nan_to_num(hess.detach(), nan=0.0, posinf=0.0, neginf=0.0)
    return v.detach(), g, hess


def _saddle_free_step(h: torch.Tensor, g: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """s = V (|E| + lam)^{-1} V^T g for -H = V E V^T; plain g / lam if eigh fails."""
    try:
        ev, evec = torch.linalg.eigh(-0.5 * (h + h.transpose(-1, -2)))
        coef = (evec.transpose(-1, -2) @ g.unsqueeze(-1)).squeeze(-1) / (ev.abs() + lam[..., None])
        step = (evec @ coef.unsqueeze(-1)).squeeze(-1)
    except RuntimeError:  # torch.linalg errors subclass RuntimeError
        step = g / lam[..., None]
    return torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)


def _lm_ascent(plan: SearchPlan, u: torch.Tensor, x: torch.Tensor, centre: torch.Tensor,
               radius: float, iters: int, lam: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Saddle-free Levenberg-Marquardt ascent inside the box |u - centre|_inf <= radius.

    Step s = (|H| + lam I)^{-1} g with |H| the absolute-eigenvalue Hessian; a step is kept
    only if it strictly increases the value; lam /= 3 on success, *= 4 on failure.
    """
    v = _objective(plan, u, x)
    for _ in range(iters):
        v, g, h = _grad_hess(plan, u, x)
        step = _saddle_free_step(h, g, lam)
        un = torch.minimum(torch.maximum(u + step, centre - radius), centre + radius)
        with torch.no_grad():
            vn = _objective(plan, un, x)
        acc = (vn > v) & ~torch.isnan(vn)
        for p in range(u.shape[-1]):  # rejected: retry with one coordinate frozen (cliffs)
            if bool(acc.all()):
                break
            sp = step.clone()
            sp[..., p] = 0.0
            up = torch.minimum(torch.maximum(u + sp, centre - radius), centre + radius)
            with torch.no_grad():
                vp = _objective(plan, up, x)
            take = ~acc & (vp > v) & ~torch.isnan(vp)
            un = torch.where(take[..., None], up, un)
            vn = torch.where(take, vp, vn)
            acc = acc | take
        moved = (un != u).any(-1)
        u = torch.where(acc[..., None], un, u)
        v = torch.where(acc, vn, v)
        lam = torch.where(acc, lam / 3.0, torch.where(moved, lam * 4.0, lam))
        lam = torch.clamp(lam, 1e-12, 1e12)
    return u.detach(), v.detach(), lam


@dataclass(frozen=True)
class SearchTrace:
    """Per-value results of the radius continuation (arrays indexed [radius, value])."""

    radii: tuple[float, ...]
    best: np.ndarray  # (J, N) best value within each radius
    argbest: np.ndarray  # (J, N, P) unconstrained maximiser
    boundary: np.ndarray  # (J, N) maximiser on the box boundary
    sharp: np.ndarray  # (J, N) value changes > 0.05 nats under 1e-9 relative perturbation
    flat: np.ndarray  # (J, N) gradient exactly zero at the maximiser
    in_support: np.ndarray  # (N,) x inside the declared support at some searched parameter


def _sharpness(plan: SearchPlan, u: torch.Tensor, v: torch.Tensor, x: torch.Tensor
               ) -> torch.Tensor:
    """True where a 1e-9 relative nudge of any coordinate moves the (finite) value > 0.05."""
    out = torch.zeros_like(v, dtype=torch.bool)
    for p in range(u.shape[-1]):
        for sgn in (1.0, -1.0):
            du = torch.zeros_like(u)
            du[..., p] = sgn * 1e-9 * torch.clamp(u[..., p].abs(), min=1.0)
            with torch.no_grad():
                vp = _objective(plan, u + du, x)
            fin = torch.isfinite(vp) & torch.isfinite(v)
            out |= fin & ((vp - v).abs() > 0.05)
    return out


def search(plan: SearchPlan, values: np.ndarray, *, seed: int, starts: int = 4,
           iters: int = 14, radii: tuple[float, ...] = RADII) -> SearchTrace:
    """Multi-start continuation over box radii; vectorised over (starts, values).

    Runs with torch's default dtype set to float64 (restored afterwards), because some
    implementations create float32 constants internally (GeneralizedPareto).
    """
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return _search(plan, values, seed=seed, starts=starts, iters=iters, radii=radii)
    finally:
        torch.set_default_dtype(old)


def _search(plan: SearchPlan, values: np.ndarray, *, seed: int, starts: int, iters: int,
            radii: tuple[float, ...]) -> SearchTrace:
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.as_tensor(np.asarray(values, dtype=np.float64))
    N, P, S = x.shape[0], len(plan.params), starts
    centre = torch.zeros(S, N, P, dtype=torch.float64)
    u = (torch.rand(S, N, P, generator=gen, dtype=torch.float64) * 2 - 1) * radii[0]
    u[0] = 0.0  # the centre start: Real params exactly at x, positive params at 1
    xs = x.expand(S, N)
    best_v = torch.full((N,), -math.inf, dtype=torch.float64)
    best_u = torch.zeros(N, P, dtype=torch.float64)
    rec: dict[str, list[np.ndarray]] = {k: [] for k in ("best", "arg", "bnd", "sharp", "flat")}
    lam = torch.ones(S, N, dtype=torch.float64)
    half = S // 2
    for j, r in enumerate(radii):
        if j > 0 and S - half > 0:  # fresh starts spread over the larger box
            u[half:] = (torch.rand(S - half, N, P, generator=gen, dtype=torch.float64) * 2 - 1) * r
        if j > 0:
            lam = torch.clamp(lam, max=1.0)
            lam[half:] = 1.0
        u, v, lam = _lm_ascent(plan, u, xs, centre, r, iters, lam)
        i = torch.argmax(torch.nan_to_num(v, nan=-math.inf), dim=0)
        vbest = v.gather(0, i[None]).squeeze(0)
        ubest = u[i, torch.arange(N)]
        better = vbest > best_v
        best_v = torch.where(better, vbest, best_v)
        best_u = torch.where(better[:, None], ubest, best_u)
        _, g, _ = _grad_hess(plan, best_u, x)
        rec["best"].append(best_v.numpy().copy())
        rec["arg"].append(best_u.numpy().copy())
        rec["bnd"].append((best_u.abs().amax(-1) >= 0.999 * r).numpy())
        rec["sharp"].append(_sharpness(plan, best_u, best_v, x).numpy())
        rec["flat"].append((g.abs().amax(-1) == 0).numpy())
    with torch.no_grad():
        ins = _objective(plan, u, xs, want_support=True).any(0).numpy()
    return SearchTrace(tuple(radii), np.array(rec["best"]), np.array(rec["arg"]),
                       np.array(rec["bnd"]), np.array(rec["sharp"]), np.array(rec["flat"]), ins)


def _rate3(r: float) -> float:
    """A fitted growth rate to 3 significant digits: what a fit over six to ten box radii
    supports (and the same on any CPU)."""
    return float(f"{float(r):.3g}")


def _solved(v: float) -> float:
    """A searched supremum to 1e-6 absolute, the tolerance the ascent's increments are
    judged to (-0.0 printed as 0)."""
    return round(float(v), 6) + 0.0


def classify(trace: SearchTrace, n: int) -> ScalarVerdict:
    """Growth analysis of the best value V(R) for value n against the box radius R.

    * +inf reached -> unbounded (the density is infinite at finite parameters);
    * only radii before the first precision-limited one (``sharp``: a 1e-9 relative nudge
      moves the value by > 0.05 nats) or garbage jump (increment > 4x previous + 0.1) are
      trusted;
    * increments that vanish after decaying geometrically (or no increments at all) ->
      bounded: attained when the maximiser sits inside the box two doublings back,
      approached otherwise;
    * increments that stop abruptly after non-decaying growth -> inconclusive
      (implementation saturates, e.g. probability clamping);
    * increments doubling per doubling of R -> unbounded, linear rate dV/dR;
    * increments constant per doubling -> unbounded, logarithmic growth (c log R);
    * increments decaying geometrically but not yet vanished -> bounded, tail extrapolated;
    * anything else -> inconclusive with the increments.
    """
    V = trace.best[:, n]
    R = np.array(trace.radii)
    if np.any(math.inf == V):
        j = int(np.argmax(math.inf == V))
        return ScalarVerdict(UNBOUNDED, reason=f"log_prob = +inf at finite parameters "
                             f"(found within |u| <= {fmt_number(R[j])}): the density is "
                             "infinite at x")
    if np.all(-math.inf == V) and trace.in_support[n]:
        return ScalarVerdict(INCONCLUSIVE, reason="x is inside the declared support but "
                             "log_prob returned -inf (or NaN) at every parameter reached: the "
                             "implementation does not evaluate the density here (e.g. at a "
                             "support boundary)")
    if np.all(-math.inf == V):
        return ScalarVerdict(BOUNDED, bound=-math.inf, attained=True,
                             reason="log_prob = -inf (x outside the support) at every "
                             "parameter the search reached")
    T = len(V) - 1
    for j in range(len(V)):
        jump = (j >= 2 and np.isfinite(V[j - 2]) and V[j] - V[j - 1]
                > 4 * max(V[j - 1] - V[j - 2], 0.0) + 0.1)
        if trace.sharp[j, n] or jump:
            T = j - 1
            break
    lost = "" if len(V) - 1 == T else (
        f"; log_prob unreliable beyond |u| = {fmt_number(R[T])} (float64 resolution: the value "
        "moves > 0.05 nats under a 1e-9 relative nudge, or jumps)")
    if T < 2 or not np.all(np.isfinite(V[: T + 1])):
        return ScalarVerdict(INCONCLUSIVE, reason="numerical resolution of log_prob lost at "
                             f"|u| <= {fmt_number(R[min(T + 1, len(R) - 1)])}; too few "
                             "trusted radii")
    d = np.diff(V[: T + 1])
    tol = 1e-9 * (1.0 + abs(V[T]))
    inc = ", ".join(fmt_number(z, 3) for z in d)
    c = d[-1]
    later = V[T + 1:]
    grew_later = bool(np.any(later[np.isfinite(later)] > V[T] + 0.1))
    if c <= max(tol, 1e-6) and grew_later:
        return ScalarVerdict(INCONCLUSIVE, reason=f"the value levels off (increments {inc}) "
                             f"but keeps rising beyond |u| = {fmt_number(R[T])}, where log_prob is "
                             "numerically unreliable; cannot tell a bound from a spike the "
                             f"search cannot resolve{lost}")
    if c <= max(tol, 1e-6):
        nz = d[d > tol]
        last = nz[-3:]
        decayed = len(nz) < 2 or bool(np.all(last[1:] / last[:-1] < 0.9))
        if not decayed:
            return ScalarVerdict(INCONCLUSIVE, reason="growth stopped abruptly after "
                                 f"non-decaying increments ({inc} per doubling of |u|): the "
                                 "implementation saturates (e.g. probability clamping); the "
                                 f"mathematical supremum cannot be read off it{lost}")
        inside = float(np.abs(trace.argbest[T, n]).max()) < 0.999 * R[T - 2]
        return ScalarVerdict(BOUNDED, bound=_solved(V[T]), attained=inside,
                             reason=("interior maximiser, stable over the last two doublings "
                                     "of the box" if inside else "value converges while the "
                                     "maximiser moves outward: sup approached, not attained")
                             + f" (increments {inc}){lost}")
    for end in range(len(d), 2, -1):  # latest window of three increments that is divergent
        a, b, cc = d[end - 3], d[end - 2], d[end - 1]
        if min(a, b, cc) <= 0:
            continue
        rr1, rr0 = cc / b, b / a
        tail_ok = bool(np.all(d[end:] >= 0.25 * cc))
        where = "" if end == len(d) else (f"; beyond |u| = {fmt_number(R[end])} increments "
                                          f"{inc} deviate from the pattern (float64 resolution)")
        if 1.6 <= rr1 <= 2.4 and 1.6 <= rr0 <= 2.4 and tail_ok:
            return ScalarVerdict(UNBOUNDED, rate=_rate3(cc / (R[end] - R[end - 1])),
                                 rate_unit="|u| (unconstrained parameter, e.g. log(1/scale))",
                                 reason=f"linear growth in |u| (increments per doubling: {inc})"
                                 f"{where}{lost}")
        if 0.7 <= rr1 <= 1.4 and 0.7 <= rr0 <= 1.4 and cc > 1e-3 and tail_ok:
            return ScalarVerdict(UNBOUNDED, rate=_rate3(cc / math.log(2.0)), rate_unit="log|u|",
                                 reason=f"logarithmic growth: +{fmt_number(cc, 3)} per doubling "
                                 f"of |u| (increments {inc}), e.g. log log(1/lam); slow but not "
                                 f"levelling off{where}{lost}")
    b = d[-2]
    a = d[-3] if len(d) >= 3 else math.nan
    r1 = c / b if b > 0 else math.inf
    r0 = b / a if (np.isfinite(a) and a > 0) else r1
    if r1 < 0.6 and r0 < 0.6 and c < 1e-3 and not grew_later:
        tail = c * r1 / (1.0 - r1)
        return ScalarVerdict(BOUNDED, bound=_solved(V[T] + tail), attained=False,
                             reason=f"increments decay geometrically ({inc}); sup approached "
                             f"as |u| -> inf, geometric tail {fmt_number(tail, 3)} added{lost}")
    return ScalarVerdict(INCONCLUSIVE, reason=f"growth pattern not recognised (increments "
                         f"per doubling of |u|: {inc}){lost}")


def torch_univariate_families() -> dict[str, type]:
    """Every univariate torch.distributions class with a scale-like parameter.

    Enumerated from the ``torch.distributions`` namespace: classes whose class-level
    ``arg_constraints`` name a scale/rate/concentration/probability/df parameter and
    whose scalar instances have ``event_shape == ()``.  Families are returned with their
    searchability decided later (:func:`plan_search` may still refuse one, with a reason).
    """
    out: dict[str, type] = {}
    for name in sorted(dir(tdist)):
        cls = getattr(tdist, name)
        if not (isinstance(cls, type) and issubclass(cls, Distribution)) or cls is Distribution:
            continue
        ac = inspect.getattr_static(cls, "arg_constraints", None)
        if not isinstance(ac, dict) or not any(n.startswith(SCALE_LIKE) for n in ac):
            continue
        if any(c.event_dim > 0 for c in ac.values() if hasattr(c, "event_dim")):
            continue
        sup = inspect.getattr_static(cls, "support", None)
        if isinstance(sup, constraints.Constraint) and sup.event_dim > 0:
            continue  # multivariate support (LKJCholesky, LogisticNormal)
        out[name] = cls
    return out


def params_text(cls: type) -> str:
    """The class's declared parameters and constraints, for the report (``name: constraint``)."""
    ac = inspect.getattr_static(cls, "arg_constraints", None)
    if not isinstance(ac, dict):
        return "(dependent)"
    return ", ".join(f"{k}: {c}" for k, c in ac.items())
