"""The attack of ``audit-model``: ascent on a model's own parameters towards a divergence.

The objective (:func:`objective_value`) is the ELBO ``sum_i [mean_s log p(x_i | m_i + s_i
eps_si) - KL(q_i || N(0, I))]`` (analytic KL, Kingma & Welling 2014) over fixed draws
``eps`` (common random numbers), ``-GaussianNLLLoss`` in place of ``log p`` when the factory
returns that loss, or the factory's own objective.  :func:`attack` works on every parameter
of a float32 copy: a fit stage (Adam on minibatches), then spike stages on one chosen row
(Adam, and every few steps a Hessian-free Gauss-Newton reconstruction of the row and a
doubling line search raising its decoder and encoder log-scales while other rows' are
held): the Mattei & Frellsen spike found by optimisation (docs/your-model.md).  The budget
is a number of steps; a seconds cap may end it early.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.distributions as tdist
from torch import nn

from wellposed.audit.construct import construct
from wellposed.audit.usermodel import (
    CHECK_SAMPLES,
    AuditedModel,
    build_model,
    check_samples,
    draws,
    evaluate,
    load_factory,
    objective_value,
    progress,
    row_progress,
    row_terms,
)
from wellposed.models.protocol import ModuleDecoder, ModuleEncoder
from wellposed.models.validate import DTYPE

__all__ = [
    "CHECK_SAMPLES",
    "ENDED_STEPS",
    "ENDED_TARGET",
    "ENDED_TIME",
    "RECORD_SAMPLES",
    "SEARCH_DTYPE",
    "AttackTrace",
    "AuditedModel",
    "attack",
    "build_model",
    "check_samples",
    "draws",
    "evaluate",
    "load_factory",
    "objective_value",
    "progress",
    "row_progress",
    "row_terms",
    "search_copy",
]

#: the search's dtype (float32: about 10x faster than float64 for convolutions on a CPU);
#: the witness is loaded back into float64 modules and re-evaluated there
SEARCH_DTYPE = torch.float32
#: rows per minibatch of a search step
BATCH = 32
#: Adam's learning rate in the fit stage, and from / to in each spike stage (geometric)
FIT_LR = 3e-3
SPIKE_LR = (3e-3, 3e-6)
#: search steps between two records of the trace (and scale line searches)
RECORD_EVERY = 10
#: conjugate-gradient iterations of a Gauss-Newton reconstruction step
CG_ITERS = 10
#: the weight of the chosen row's term in the spike stage's surrogate (0: the number of rows)
SPIKE_WEIGHT = 0.0
#: other rows whose scale a spike's line search keeps put
ISOLATE = 16
#: doublings tried by a scale line search
LINE_TRIES = 8
#: rows spiked one after another (the steps left are shared between them)
MAX_ROWS = 2
#: draws of the recorded trace (fixed: common random numbers, so records are comparable)
RECORD_SAMPLES = 2
#: why the attack ended
ENDED_TARGET = "target reached"
ENDED_STEPS = "steps spent"
ENDED_TIME = "time cap"
ENDED_NONFINITE = "the objective became non-finite"


# ----------------------------------------------------------------------------------------
# the attack
# ----------------------------------------------------------------------------------------


@dataclass
class AttackTrace:
    """What the attack did: the spike stage's records ``(k, objective over all rows)``, the
    best state, the chosen row, the reference and target, and why it ended."""

    k: list[float] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    best_value: float = -math.inf
    best_k: float = math.nan
    best_state: dict[str, Any] | None = None
    row: int | None = None
    row_value: float = math.nan
    reference: float = math.nan
    target: float = math.inf
    ended: str = ""
    steps: int = 0
    seconds: float = 0.0
    level: float = math.inf
    margin: float = 0.0
    rows_tried: list[int] = field(default_factory=list)
    per_row: dict[int | None, tuple[list[float], list[float]]] = field(default_factory=dict)
    #: what the constructive spike rewired, or why it was not built
    constructed: str = ""
    #: the row spiked at the best state
    best_row: int | None = None


def search_copy(model: AuditedModel) -> AuditedModel:
    """A :data:`SEARCH_DTYPE` copy of the modules for the search (the witness is loaded back
    into the float64 modules and re-evaluated there: the evidence path)."""
    dec = ModuleDecoder(
        copy.deepcopy(model.decoder.module).to(SEARCH_DTYPE),
        latent_dim=model.decoder.latent_dim,
        data_dim=model.decoder.data_dim,
        copy_module=False,
    )
    enc = ModuleEncoder(copy.deepcopy(model.encoder.module).to(SEARCH_DTYPE), copy_module=False)
    return AuditedModel(dec, enc, model.loss, model.custom, model.factory)


@dataclass
class _Run:
    """The attack's working state: the search model, the data, the fixed record draws, the
    step counter and the clock."""

    model: AuditedModel
    x: torch.Tensor
    seed: int
    steps: int
    max_seconds: float | None
    fixed: torch.Tensor
    start: float = field(default_factory=time.monotonic)
    done: int = 0
    damping: float = 1e-6

    def out_of_budget(self) -> str:
        if self.done >= self.steps:
            return ENDED_STEPS
        if self.max_seconds is not None and time.monotonic() - self.start > self.max_seconds:
            return ENDED_TIME
        return ""

    def full(self) -> float:
        """The objective over all rows at the fixed record draws."""
        with torch.no_grad():
            return float(objective_value(self.model, self.x, self.fixed, self.seed))


def _batch(run: _Run, size: int, keep: int | None) -> torch.Tensor:
    """Row indices of the next minibatch (seeded by the step): ``keep`` first when given."""
    n = run.x.shape[0]
    gen = torch.Generator().manual_seed(run.seed * 7919 + run.done)
    idx = torch.randperm(n, generator=gen)
    if keep is not None:
        idx = torch.cat([torch.tensor([keep]), idx[idx != keep]])
    return idx[: min(size, n)]


def _surrogate(run: _Run, row: int | None, weight: float) -> torch.Tensor:
    """The minibatch estimate of the objective, ``(n / B) sum_{j in B} f_j`` (the factory's
    own objective: on all rows), plus ``(weight - 1) f_row`` for the chosen row (it is the
    batch's first): the spike stage leans on that row, the others keep their own fit."""
    m = run.model
    if m.custom is not None:
        return objective_value(m, run.x, torch.empty(0), run.seed + run.done)
    n = run.x.shape[0]
    idx = _batch(run, BATCH, row)
    eps = draws(run.seed + 1 + run.done, 1, idx.numel(), m.decoder.latent_dim, run.x.dtype)
    terms = row_terms(m, run.x[idx], eps)
    if row is None:
        return terms.sum() * (n / idx.numel())
    rest = terms[1:].sum() * ((n - 1) / max(idx.numel() - 1, 1))
    return weight * terms[0] + rest


def _adam(
    run: _Run,
    steps: int,
    lr: tuple[float, float],
    row: int | None,
    weight: float,
    trace: AttackTrace | None,
) -> str:
    """``steps`` Adam steps on :func:`_surrogate`, the learning rate decaying geometrically
    from ``lr[0]`` to ``lr[1]``; with a trace, a record and a scale line search every
    :data:`RECORD_EVERY` steps, stopping once the trace passes its goal."""
    params = [p for p in run.model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr[0])
    for i in range(steps):
        if why := run.out_of_budget():
            return why
        for group in opt.param_groups:
            group["lr"] = lr[0] * (lr[1] / lr[0]) ** (i / max(steps - 1, 1))
        opt.zero_grad()
        loss = -_surrogate(run, row, weight)
        if not torch.isfinite(loss):
            return ENDED_NONFINITE
        loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward: no annotations
        opt.step()
        run.done += 1
        if trace is not None and (i + 1) % RECORD_EVERY == 0:
            _scale_step(run, row, weight)
            if _record(run, trace):
                return ENDED_TARGET
    return ""


def _record(run: _Run, trace: AttackTrace) -> bool:
    """Record ``(k of the chosen row, objective over all rows)``; keep the best state; True
    when the goal is passed (objective above the target, the row's term above its level)."""
    v = run.full()
    if not math.isfinite(v):
        if trace.best_state is not None:
            run.model.load(trace.best_state)
        return False
    with torch.no_grad():
        rows = slice(None) if trace.row is None else slice(trace.row, trace.row + 1)
        k = float(row_progress(run.model, run.x[rows]).mean())
        row_v = (
            math.nan
            if trace.row is None or run.model.custom is not None
            else float(row_terms(run.model, run.x[rows], run.fixed[:, rows]).sum())
        )
    ks, vs = trace.per_row.setdefault(trace.row, ([], []))
    ks.append(k)
    vs.append(v)
    if v > trace.best_value:
        trace.best_value, trace.best_k, trace.row_value = v, k, row_v
        trace.best_state, trace.k, trace.value = run.model.state(), ks, vs
        trace.best_row = trace.row
    return v > trace.target + trace.margin and not row_v <= trace.level + trace.margin


def _mean_of(out: object) -> torch.Tensor | None:
    """The decoder's mean (location) tensor: a ``(mean, log_var)`` tuple's first entry, or
    the ``loc`` of a location-scale distribution; None for other families."""
    if isinstance(out, tuple | list):
        return cast(torch.Tensor, out[0])  # the (mean, log_var) protocol: a tensor first
    base = out
    while isinstance(base, tdist.Independent):
        base = base.base_dist
    loc = getattr(base, "loc", None)
    return loc if isinstance(loc, torch.Tensor) and hasattr(base, "scale") else None


def _reconstruct(run: _Run, row: int) -> None:
    """A Gauss-Newton step making the decoder's mean at the row's encoder mean equal the
    row while the means of a few other rows stay put: the minimum-norm
    ``delta = -J^T (J J^T + lam I)^{-1} b`` for the stacked residuals (``b``: the row's
    residual, zeros for the others) and their Jacobian ``J`` in all parameters, solved by
    :data:`CG_ITERS` conjugate-gradient iterations with Jacobian-vector products (double
    backward; Hessian-free: nothing ``P x P`` or ``D x P`` is formed)."""
    m = run.model
    params = [p for p in m.parameters() if p.requires_grad]
    xi = run.x[_batch(run, ISOLATE // 4 + 1, row)]
    mean = _mean_of(m.decoder.module(m.encoder(xi)[0]))
    if mean is None or not mean.requires_grad:
        return
    r = mean.reshape(-1) - xi.reshape(-1)
    u = torch.zeros_like(r, requires_grad=True)
    # allow_unused: None for a parameter the output does not use (torch's stub omits that)
    jtu: tuple[torch.Tensor | None, ...] = torch.autograd.grad(
        r, params, grad_outputs=u, create_graph=True, allow_unused=True
    )
    live = [(p, g) for p, g in zip(params, jtu, strict=True) if g is not None]

    def jt(a: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.autograd.grad(r, [p for p, _ in live], grad_outputs=a, retain_graph=True))

    def jv(v: list[torch.Tensor]) -> torch.Tensor:
        return torch.autograd.grad([g for _, g in live], u, grad_outputs=v, retain_graph=True)[0]

    b = torch.zeros_like(r.detach())
    b[: xi.shape[1]] = r.detach()[: xi.shape[1]]
    lam = run.damping * float(b @ b) + 1e-12
    a, res = torch.zeros_like(b), b.clone()
    d, rr = res.clone(), float(res @ res)
    for _ in range(CG_ITERS):
        ad = jv(jt(d)) + lam * d
        step = rr / float(d @ ad)
        a, res = a + step * d, res - step * ad
        new = float(res @ res)
        if new < 1e-12 * float(b @ b):
            break
        d, rr = res + (new / rr) * d, new
    with torch.no_grad():
        for (p, _), g in zip(live, jt(a), strict=True):
            p.sub_(g)


def _scale_step(run: _Run, row: int | None, weight: float) -> None:
    """A Gauss-Newton reconstruction of the chosen row (:func:`_reconstruct`), then a
    doubling line search raising the decoder's ``k`` and the encoder's ``-log s^2`` at the
    row together (the spike's direction: its term grows at ``(D - d) / 2`` per unit when
    the mean is exact), kept while the surrogate on a fixed minibatch rises.  Adam moves
    each parameter by about its learning rate per step, too little for log-scales that
    must fall by tens while the mean is refined to 1e-5."""
    m = run.model
    xs = run.x if row is None else run.x[row : row + 1]
    params = [p for p in m.parameters() if p.requires_grad]
    with torch.no_grad():
        before, state = float(_surrogate(run, row, weight)), m.state()
    if row is None:
        units = [
            _unit_step(lambda: row_progress(m, xs).mean(), params),
            _unit_step(lambda: -m.encoder(xs)[1].mean(), params),
        ]
    else:
        _reconstruct(run, row)
        units = [
            _isolated_unit_step(run, row, params, lambda x: row_progress(m, x)),
            _unit_step(lambda: -m.encoder(xs)[1].mean(), params),
        ]
    _line_search(run, row, weight, [u for u in units if u is not None])
    with torch.no_grad():
        after = float(_surrogate(run, row, weight))
    if math.isfinite(after) and after >= before:  # Levenberg-Marquardt damping
        run.damping = max(run.damping / 3.0, 1e-9)
    else:
        m.load(state)
        run.damping = min(run.damping * 10.0, 1e3)


def _isolated_unit_step(
    run: _Run, row: int, params: list[nn.Parameter], scale: Callable[[torch.Tensor], torch.Tensor]
) -> list[torch.Tensor] | None:
    """The minimum-norm first-order step raising the row's ``scale`` (a per-row log-scale:
    decoder ``k``, encoder ``-log s^2``) by one while that of :data:`ISOLATE` other rows
    stays put: ``G^T (G G^T + ridge)^-1 e_0`` with the rows' gradients ``G`` (a small
    subspace; the other rows keep their own scales, so their terms do not collapse)."""
    idx = _batch(run, ISOLATE + 1, row)
    ks = scale(run.x[idx])
    if not (torch.isfinite(ks).all() and ks.requires_grad):
        return None
    G = []
    for j in range(idx.numel()):
        g: tuple[torch.Tensor | None, ...] = torch.autograd.grad(
            ks[j], params, retain_graph=True, allow_unused=True
        )
        G.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if a is None else a).reshape(-1)
                    for p, a in zip(params, g, strict=True)
                ]
            )
        )
    Gm = torch.stack(G).double()
    gram = Gm @ Gm.T
    top = float(gram.diagonal().max())
    if not top > 0:  # every row's scale is flat here (e.g. clamped): no step raises it
        return None
    gram += 1e-9 * top * torch.eye(gram.shape[0], dtype=gram.dtype)
    e0 = torch.zeros(gram.shape[0], dtype=gram.dtype)
    e0[0] = 1.0
    flat = (Gm.T @ torch.linalg.lstsq(gram, e0[:, None]).solution[:, 0]).to(run.x.dtype)
    out, at = [], 0
    for p in params:
        out.append(flat[at : at + p.numel()].reshape(p.shape))
        at += p.numel()
    return out


def _unit_step(
    scale: Callable[[], torch.Tensor], params: list[nn.Parameter]
) -> list[torch.Tensor] | None:
    """``grad s / |grad s|^2``: the first-order step raising ``s = scale()`` by one."""
    k = scale()
    if not (torch.isfinite(k) and k.requires_grad):
        return None
    grads: tuple[torch.Tensor | None, ...] = torch.autograd.grad(k, params, allow_unused=True)
    sq = sum(float((g * g).sum()) for g in grads if g is not None)
    if not sq > 0:
        return None
    return [
        torch.zeros_like(p) if g is None else g / sq for p, g in zip(params, grads, strict=True)
    ]


def _line_search(
    run: _Run, row: int | None, weight: float, units: list[list[torch.Tensor]]
) -> None:
    """Doubling line search along the sum of the unit steps (raising each scale by 1/4,
    1/2, 1, ... to first order) while :func:`_surrogate` rises; the best is kept."""
    params = [p for p in run.model.parameters() if p.requires_grad]
    if not units:
        return
    direction = [sum(parts) for parts in zip(*units, strict=True)]
    base = [p.detach().clone() for p in params]

    def value_at(dk: float) -> float:
        with torch.no_grad():
            for p, b, g in zip(params, base, direction, strict=True):
                p.copy_(b + dk * g)
            return float(_surrogate(run, row, weight))

    best_dk, best = 0.0, value_at(0.0)
    dk = 0.25
    for _ in range(LINE_TRIES):
        v = value_at(dk)
        if not (math.isfinite(v) and v > best):
            break
        best_dk, best, dk = dk, v, 2.0 * dk
    value_at(best_dk)


def _choose_row(run: _Run, tried: list[int]) -> int | None:
    """The row to spike: the best-fitted one (largest term at the fixed draws) not tried
    yet; None for a factory's own objective (no per-row terms)."""
    if run.model.custom is not None:
        return None
    with torch.no_grad():
        terms = row_terms(run.model, run.x, run.fixed)
    terms[torch.tensor(tried, dtype=torch.long)] = -math.inf
    terms = torch.where(torch.isfinite(terms), terms, torch.full_like(terms, -math.inf))
    return int(torch.argmax(terms))


def _construct_stage(
    model: AuditedModel, x: torch.Tensor, run: _Run, trace: AttackTrace, fit: dict[str, Any]
) -> bool:
    """The constructive spike (:mod:`wellposed.audit.construct`) on the float64 modules,
    from the fitted state and, when that fails (e.g. the fit silenced the encoder's units),
    from the factory's initial state ``fit``; its path is recorded as the trace's, and True
    when its best point passes the goal.  Each column solve counts as a step."""
    eps = draws(run.seed, RECORD_SAMPLES, x.shape[0], model.decoder.latent_dim)
    start, why = model.state(), []
    for state in (run.model.state(), fit):
        model.load(state)
        c = construct(model, x, eps, run.seed, revive=fit["encoder"])
        run.done += c.solves
        if c.k:
            break
        why.append(c.stopped)
    model.load(start)
    if not c.k or c.row is None:
        trace.constructed = "not built: " + "; ".join(dict.fromkeys(why))
        return False
    trace.constructed = c.rewired + (f"; stopped: {c.stopped}" if c.stopped else "")
    trace.row = trace.best_row = c.row
    trace.rows_tried.append(c.row)
    trace.per_row[c.row] = (list(c.k), list(c.value))
    best = max(range(len(c.value)), key=lambda j: c.value[j])
    model.load(c.states[best])
    row_v = float(row_terms(model, x[c.row : c.row + 1], eps[:, c.row : c.row + 1]).detach().sum())
    model.load(start)
    trace.best_value, trace.best_k, trace.row_value = c.value[best], c.k[best], row_v
    trace.best_state, trace.k, trace.value = c.states[best], list(c.k), list(c.value)
    return c.value[best] > trace.target + trace.margin and row_v > trace.level + trace.margin


def attack(
    model: AuditedModel,
    x: torch.Tensor,
    *,
    level: float,
    floor_target: float,
    steps: int,
    seed: int = 0,
    max_seconds: float | None = None,
) -> AttackTrace:
    """Maximise the objective over all rows of ``x`` (the module doc): a fit stage (Adam on
    minibatches, a quarter of the steps), then spike stages (Adam leaning on one row, the
    learning rate decaying, with scale line searches), one row after another while steps
    remain.  The target is ``max(F_ref + level, floor_target)`` with ``F_ref`` the
    objective after the fit; the attack stops when the objective passes it (and the chosen
    row's term passes ``level``), when ``steps`` are spent or after ``max_seconds``."""
    initial = model.state()
    search = search_copy(model)
    xs = x.to(SEARCH_DTYPE)
    fixed = draws(seed, RECORD_SAMPLES, x.shape[0], model.decoder.latent_dim, SEARCH_DTYPE)
    run = _Run(search, xs, seed, steps, max_seconds, fixed)
    trace = AttackTrace()
    trace.level, trace.margin = level, 0.1 * abs(level) + 1.0
    ended = _adam(run, steps // 4, (FIT_LR, FIT_LR), None, 1.0, None)
    trace.reference = run.full()
    if not math.isfinite(trace.reference):
        trace.reference = -math.inf
    trace.target = max(trace.reference + level, floor_target)
    if not ended and _construct_stage(model, x.to(DTYPE), run, trace, initial):
        ended = ENDED_TARGET
    start_state = search.state()
    for attempt in range(1 if search.custom is not None else MAX_ROWS):
        if ended:
            break
        trace.row = _choose_row(run, trace.rows_tried)
        if trace.row is not None:
            trace.rows_tried.append(trace.row)
        search.load(start_state)
        if _record(run, trace):
            ended = ENDED_TARGET
            break
        left = (steps - run.done) // (MAX_ROWS - attempt if search.custom is None else 1)
        ended = _adam(run, max(left, 1), SPIKE_LR, trace.row, float(x.shape[0]), trace)
        ended = "" if ended == ENDED_NONFINITE else ended
    ended = ended or run.out_of_budget() or ENDED_STEPS
    trace.ended, trace.steps, trace.seconds = ended, run.done, time.monotonic() - run.start
    if trace.best_state is not None:
        model.load(trace.best_state)
        trace.row = trace.best_row
    return trace
