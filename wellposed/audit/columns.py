"""Levenberg-Marquardt on the columns that read a rewired unit: the constructive spike's solver.

A rewired unit (:mod:`wellposed.audit.construct`) is read by its consumers' columns; the
solver moves those columns (all of them, or the entries a mask leaves free) until a residual
of the network's output at one input is within tolerance, in float64, with
Jacobian-vector products only (nothing of size outputs x columns is formed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from wellposed.audit.route import Route
from wellposed.audit.sites import Site
from wellposed.audit.usermodel import no_validation

__all__ = [
    "CAP",
    "CG_ITERS",
    "GN_ITERS",
    "TWIN_SCALE",
    "LatentRewire",
    "Rewire",
    "solve_columns",
]

#: Gauss-Newton iterations of one column solve
GN_ITERS = 40
#: conjugate-gradient iterations of one Gauss-Newton step
CG_ITERS = 200
#: the twins' scale in :class:`LatentRewire`
TWIN_SCALE = 1e-2
#: where a scale unit of :class:`LatentRewire` saturates (its pre-activation at ``m*`` is
#: ``lam PAD = 60``): the scales stay at their level past ``m*``
CAP = 30.0
#: Gauss-Newton iterations without a 0.1% fall of the residual that end a solve
STALL = 6


@dataclass
class Rewire:
    """A rewired site: the units, their far-side value ``u_left`` and the consumers'
    biases with the old units' mean contribution absorbed; ``route``: the convolution
    stack the consumer feeds, wired as a pixel shuffle (:mod:`wellposed.audit.route`)."""

    site: Site
    units: list[int]
    u_left: float
    bias: dict[str, torch.Tensor]
    route: Route | None = None

    def params(
        self, base: dict[str, torch.Tensor], vec: torch.Tensor, names: dict[int, str]
    ) -> dict[str, torch.Tensor]:
        """``base`` with the consumers' columns set to ``vec`` (stacked) and their biases
        taking the columns' constant ``col * u_left`` back out (``names``: each
        parameter's name in ``base``, by identity: a module registered twice has one)."""
        out, at = dict(base), 0
        idx = torch.tensor(self.units)
        for name, lin in self.site.consumers:
            col = vec[at : at + lin.out_features]
            at += lin.out_features
            cols = torch.stack([col, -col][: len(self.units)], 1)
            weight, bias = names[id(lin.weight)], names[id(lin.bias)]
            out[weight] = base[weight].index_copy(1, idx, cols)
            out[bias] = self.bias[name] - col * self.u_left
        return out

    def width(self) -> int:
        return sum(lin.out_features for _, lin in self.site.consumers)

    def start(self) -> torch.Tensor | None:
        """The solve's first columns: a routed stack's, else the consumers' own."""
        return None if self.route is None else self.route.start


def _cg(op: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int) -> torch.Tensor:
    """Conjugate gradients for ``op(y) = b`` (``op`` symmetric positive definite), keeping
    the iterate with the smallest residual."""
    y, r = torch.zeros_like(b), b.clone()
    p, rr = r.clone(), float(r @ r)
    best, best_rr = y, rr
    for _ in range(iters):
        ap = op(p)
        step = rr / float(p @ ap)
        y, r = y + step * p, r - step * ap
        new = float(r @ r)
        if new < best_rr:
            best, best_rr = y, new
        if new <= 1e-28 * float(b @ b):
            break
        p, rr = r + (new / rr) * p, new
    return best


def _with(
    rws: list[Rewire], base: dict[str, torch.Tensor], vec: torch.Tensor, names: dict[int, str]
) -> dict[str, torch.Tensor]:
    """``base`` with each rewired site's consumers' columns set from its slice of ``vec``."""
    out, at = base, 0
    for rw in rws:
        out = rw.params(out, vec[at : at + rw.width()], names)
        at += rw.width()
    return out


def solve_columns(
    module: nn.Module,
    rws: list[Rewire],
    inp: torch.Tensor,
    residual: Callable[[object], torch.Tensor],
    tol: torch.Tensor,
    start: torch.Tensor | None = None,
    free: torch.Tensor | None = None,
) -> tuple[bool, torch.Tensor]:
    """Levenberg-Marquardt on the consumers' columns (from ``start``, else their values)
    until ``|residual| <= tol`` entrywise: minimum-norm steps ``-J^T (J J^T + mu I)^{-1} r``,
    the system solved by conjugate gradients with Jacobian-vector products (nothing of size
    outputs x columns is formed), float64, only the entries where ``free`` is 1 moving;
    writes the columns into ``module``; ``(converged, columns)``."""
    base = {k: v.detach() for k, v in module.named_parameters()}
    names = {id(v): k for k, v in module.named_parameters()}
    vec = (
        start
        if start is not None
        else torch.cat(
            [lin.weight[:, rw.units[0]].detach() for rw in rws for _, lin in rw.site.consumers]
        )
    )

    def res(v: torch.Tensor) -> torch.Tensor:
        return residual(functional_call(module, _with(rws, base, v, names), (inp,)))

    mu, ok = 1e-9, False
    mask = torch.ones_like(vec) if free is None else free
    with no_validation():
        r = res(vec).detach()
        norms: list[float] = []
        for _ in range(GN_ITERS):
            if not torch.isfinite(r).all():
                break
            if bool(torch.all(r.abs() <= tol)):
                ok = True
                break
            norms.append(float(r.norm()))
            if len(norms) > STALL and norms[-1] > 0.999 * norms[-1 - STALL]:
                break  # stalled: rounding (or a floor) keeps it from the tolerance
            v = vec.detach().requires_grad_(True)
            out = res(v)
            u = torch.zeros_like(out, requires_grad=True)
            (jtu,) = torch.autograd.grad(out, v, grad_outputs=u, create_graph=True)

            def pull(y: torch.Tensor, out: torch.Tensor = out, v: torch.Tensor = v) -> torch.Tensor:
                return mask * torch.autograd.grad(out, v, grad_outputs=y, retain_graph=True)[0]

            def push(w: torch.Tensor, jtu: torch.Tensor = jtu, u: torch.Tensor = u) -> torch.Tensor:
                return torch.autograd.grad(jtu, u, grad_outputs=mask * w, retain_graph=True)[0]

            damp = mu * (float(pull(r).norm()) / max(float(r.norm()), 1e-300)) ** 2

            def normal(y: torch.Tensor, damp: float = damp) -> torch.Tensor:
                return push(pull(y)) + damp * y

            step = -pull(_cg(normal, r, CG_ITERS)).detach()
            now = float(r.norm())
            for _ in range(12):
                trial = res(vec + step).detach()
                if torch.isfinite(trial).all() and float(trial.norm()) < now:
                    vec, r = vec + step, trial
                    mu = max(mu / 10.0, 1e-15)
                    break
                step = 0.5 * step
            else:
                mu *= 1e3
    final = _with(rws, base, vec, names)
    with torch.no_grad():
        for rw in rws:
            for _, lin in rw.site.consumers:
                lin.weight.copy_(final[names[id(lin.weight)]])
                lin.bias.copy_(final[names[id(lin.bias)]])
    return ok, vec


@dataclass
class LatentRewire(Rewire):
    """The decoder's ``Linear`` layer that reads the latent, as its own detector (where no
    hidden layer lies between it and a convolution stack): each routed unit ``r`` becomes
    ``a_r lam (v . t - c0)`` with ``a_r > 0``, so that its activation (a ReLU) switches it
    off past the half-space.  A location unit and its minus twin (:class:`Route`) take
    ``a = s softplus(theta / s)`` and ``s softplus(-theta / s)``, whose difference is
    ``theta`` itself (the location is linear in ``theta``; the small ``s =``
    :data:`TWIN_SCALE` keeps the twins from cancelling large values); a scale unit takes
    ``a = exp(theta)``."""

    v: torch.Tensor | None = None
    c0: float = 0.0
    lam: float = 1.0

    def params(
        self, base: dict[str, torch.Tensor], vec: torch.Tensor, names: dict[int, str]
    ) -> dict[str, torch.Tensor]:
        """``base`` with the routed rows ``a_r lam (v, -c0)``."""
        route = self.route
        assert route is not None and route.twins is not None and route.caps is not None
        assert self.v is not None
        n_loc = route.twins.numel()
        loc, scale = route.free[:n_loc], route.free[n_loc:]
        rows = torch.cat([loc, route.twins, scale, route.caps])
        theta = vec[loc] / TWIN_SCALE
        twins = TWIN_SCALE * torch.cat([F.softplus(theta), F.softplus(-theta)])
        a_scale = torch.exp(vec[scale])
        a = torch.cat([twins, a_scale, a_scale])
        # a cap is its scale unit shifted by CAP: the difference saturates at a * CAP
        shift = torch.cat([torch.zeros_like(twins), torch.zeros_like(a_scale), a_scale * CAP])
        lin = self.site.layer
        weight, bias = names[id(lin.weight)], names[id(lin.bias)]
        out = dict(base)
        out[weight] = base[weight].index_copy(0, rows, (a * self.lam)[:, None] * self.v[None])
        out[bias] = base[bias].index_copy(0, rows, -a * self.lam * self.c0 - shift)
        return out

    def width(self) -> int:
        return self.site.layer.out_features

    def start(self) -> torch.Tensor | None:
        """Twins equal (``theta = 0``), scale units at ``a = 1e-3``: on, so that the
        solve's gradients are not zero."""
        start = torch.zeros(self.width(), dtype=self.site.layer.weight.dtype)
        if self.route is not None and self.route.twins is not None:
            start[self.route.free[self.route.twins.numel() :]] = math.log(1e-3)
        return start
