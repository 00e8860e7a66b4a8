"""Proofs of a bound on a model's objective, from the model's own computation graph.

:func:`prove` (the proof step of ``audit-model``; docs/your-model.md, "What is proved"):

* **family**: the output family's per-observation supremum is finite on the data (the
  family audit, :func:`~wellposed.audit.family.audit_family`: discrete families, continuous
  Bernoulli inside (0, 1), ...): ``ELBO <= log p(x) <= sum_i sup_params log p(x_i | params)``
  (docs/claims.md, F1-F6);
* **floor**: the decoder is traced with ``torch.fx`` and every node's enclosure computed with
  every parameter and the latent free (:mod:`wellposed.audit.graph`); a positive lower bound
  ``s`` on the output family's scale gives ``n D sup_loc log p(x | loc, s)`` (Normal
  ``-(1/2) log(2 pi s^2)``, Laplace ``-log 2s``, Student-t (df free) the Normal's value, Cauchy
  ``-log(pi s)``; :func:`wellposed.audit.likelihoods.location_scale_sup`), with ``KL >= 0``;
* **clamp**: ``torch.nn.GaussianNLLLoss(eps)`` as the objective clamps the variance's value at
  ``eps`` (and at the traced floor of ``exp(log_var)`` when that is larger): ``-loss <=
  -(1/2)(log max(eps, v) [+ log 2pi])`` per coordinate;
* **objective**: a factory's own objective is traced on the data itself (fixed) with both
  modules' parameters free; the upper end of its output's enclosure is the bound.

Every proof names the graph nodes it rests on (``Proof.nodes``).  When tracing fails the
notes say why, and no floor is proved.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from wellposed.audit.attack import AuditedModel
from wellposed.audit.family import FamilyAudit, audit_family
from wellposed.audit.graph import DistVal, Propagation, Val, propagate, trace_patched
from wellposed.audit.intervals import up
from wellposed.audit.likelihoods import location_scale_sup
from wellposed.audit.values import LOG_2PI
from wellposed.evidence.decide import BOUNDED
from wellposed.models.validate import DTYPE

__all__ = ["Proof", "prove", "recognised_bound", "trace_decoder"]


@dataclass(frozen=True)
class Proof:
    """A proved bound on the objective over the given rows, and what it rests on.

    ``floor``: the proved lower bound on ``floor_of`` (e.g. ``Normal.scale``, ``log_var``,
    ``variance``); ``per_coordinate``: the supremum of one coordinate's log-density at that
    floor; ``nodes``: the graph nodes the floor rests on, output last."""

    kind: str  # family | floor | clamp | objective
    bound: float
    reason: str
    nodes: tuple[str, ...] = ()
    floor: float | None = None
    floor_of: str = ""
    per_coordinate: float | None = None


def _total(per: float, count: int) -> float:
    """``count * per`` rounded upwards."""
    v = per * count
    return up(v + 1e-15 * abs(v))


def _chain(path: tuple[str, ...], prop: Propagation, last: str, upper: bool = False) -> str:
    """``a (>= lo) -> b (>= lo) -> last`` (``<= hi`` with ``upper``)."""

    def lo(name: str) -> str:
        v = (prop.highs if upper else prop.lows).get(name)
        return "" if v is None else f" ({'<=' if upper else '>='} {v:.6g})"

    return " -> ".join([f"{p}{lo(p)}" for p in path] + [last])


def _why_not(path: tuple[str, ...], prop: Propagation, what: str) -> str:
    """The nodes that leave ``what`` without a positive floor, and the free origins."""
    low = [p for p in path if prop.lows.get(p, 0.0) == -math.inf]
    origins = [f"{p} ({prop.origins[p]})" for p in path if p in prop.origins]
    where = f"unbounded below at {low[-1]}" if low else "no positive lower bound"
    return (
        f"{what} has no positive floor: {where}; free origins: "
        f"{', '.join(origins) or 'none'}; path {_chain(path, prop, what)}"
    )


# ----------------------------------------------------------------------------------------
# tracing the user's modules
# ----------------------------------------------------------------------------------------


def _traced(
    root: nn.Module, inputs: list[tuple[Any, bool]], fn: Callable[..., Any] | None = None
) -> Propagation:
    """Trace ``root`` and propagate; ``inputs`` for its placeholders in order (the rest take
    their defaults, fixed)."""
    root = copy.deepcopy(root)  # the walk runs the graph: the user's modules stay as they are
    before = {k: b.detach().clone() for k, b in root.named_buffers()}
    gm = trace_patched(root, fn)
    feeds: dict[str, tuple[Any, bool]] = {}
    holders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for i, node in enumerate(holders):
        if i < len(inputs):
            feeds[str(node.target)] = inputs[i]
        elif node.args:
            feeds[str(node.target)] = (node.args[0], True)
        else:
            raise TypeError(f"forward takes more inputs than the harness gives ({node.target})")
    prop = propagate(gm, feeds)
    read = {str(n.target) for n in gm.graph.nodes if n.op == "get_attr"}  # values relied on
    prop.unsafe.extend(
        f"forward changes the buffer {k} in place: its value is not fixed across calls"
        for k, b in gm.named_buffers()
        if k in before and k in read and not torch.equal(before[k], b)
    )
    if prop.unsafe:
        raise TypeError("; ".join(prop.unsafe[:3]))
    return prop


def trace_decoder(model: AuditedModel) -> tuple[Propagation | None, str]:
    """The decoder's graph enclosures with the latent and every parameter free, or
    ``(None, why tracing failed)``."""
    t = torch.zeros(2, model.decoder.latent_dim, dtype=DTYPE)
    try:
        return _traced(model.decoder.module, [(t, False)]), ""
    except Exception as exc:  # noqa: BLE001 - any tracing failure is reported, not fatal
        return None, f"{type(exc).__name__}: {exc}".strip()[:300]


class _Objective(nn.Module):
    """``forward(x) = objective(decoder, encoder, x)``: the factory's own objective."""

    def __init__(self, decoder: nn.Module, encoder: nn.Module, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.decoder, self.encoder, self.fn = decoder, encoder, fn

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(self.decoder, self.encoder, x)


# ----------------------------------------------------------------------------------------
# from enclosures to bounds
# ----------------------------------------------------------------------------------------


def _floor_proof(prop: Propagation, n: int, D: int) -> tuple[Proof | None, str]:
    """The ``floor`` proof from the decoder's output, or ``(None, why not)``."""
    out = prop.output
    if isinstance(out, tuple | list) and len(out) == 2 and all(isinstance(v, Val) for v in out):
        lv = out[1]
        if not math.isfinite(lv.iv[0]):
            return None, _why_not(lv.path, prop, "log_var")
        per = -0.5 * (lv.iv[0] + LOG_2PI)
        per = up(per + 1e-15 * abs(per))
        nodes = (*lv.path, "Normal.scale = exp(log_var / 2)")
        return Proof(
            "floor",
            _total(per, n * D),
            f"log sigma^2 >= {lv.iv[0]:.6g} for every parameter value: "
            f"{_chain(lv.path, prop, 'Normal.scale')}; log N <= {per:.6g} per "
            f"coordinate (-(1/2)(log 2pi + floor)); KL >= 0; n = {n}, D = {D}",
            nodes,
            lv.iv[0],
            "log_var",
            per,
        ), ""
    if not isinstance(out, DistVal):
        return (
            None,
            f"the decoder's output ({type(out).__name__}) is not a distribution "
            "or a (mean, log_var) pair the graph walk understands",
        )
    got = location_scale_sup(out)
    scale = out.params.get("scale")
    what = f"{out.family}.scale"
    if got is None:
        if scale is None:
            return None, f"{out.family} has no scale the floor proof uses"
        return None, _why_not(scale.path, prop, what)
    assert scale is not None
    per, formula = got
    return Proof(
        "floor",
        _total(per, n * D),
        f"{what} >= {scale.iv[0]:.6g} for every parameter value: "
        f"{_chain(scale.path, prop, what)}; sup over loc of log p = {formula} <= "
        f"{per:.6g} per coordinate; KL >= 0; n = {n}, D = {D}",
        (*scale.path, what),
        scale.iv[0],
        what,
        per,
    ), ""


def _clamp_proof(loss: nn.GaussianNLLLoss, prop: Propagation | None, n: int, D: int) -> Proof:
    """``-GaussianNLLLoss <= -(1/2)(log max(eps, v) [+ log 2pi])`` per coordinate, ``v``
    the traced floor of ``exp(log_var)`` (torch clamps the variance's value at ``eps``)."""
    eps = float(loss.eps)
    nodes: tuple[str, ...] = ()
    v, text = eps, f"the loss clamps the variance's value at eps = {eps:g}"
    out = None if prop is None else prop.output
    if isinstance(out, tuple | list) and len(out) == 2 and isinstance(out[1], Val):
        lv = out[1].iv[0]
        floor = math.exp(lv) * (1 - 1e-15) if math.isfinite(lv) else 0.0
        if floor > eps:
            v, text = floor, f"exp(log_var) >= {floor:.6g} > eps"
            nodes = out[1].path
    per = -0.5 * math.log(v) - (0.5 * LOG_2PI if loss.full else 0.0)
    per = up(per + 1e-15 * abs(per))
    return Proof(
        "clamp",
        _total(per, n * D),
        f"GaussianNLLLoss(eps = {eps:g}): {text}: -loss <= {per:.6g} per coordinate; KL >= 0",
        (*nodes, f"GaussianNLLLoss(eps={eps:g})"),
        v,
        "variance",
        per,
    )


def _objective_proof(model: AuditedModel, X: np.ndarray) -> tuple[Proof | None, str]:
    """Trace the factory's own objective on the data (fixed), every parameter free."""
    assert model.custom is not None
    wrapper = _Objective(model.decoder.module, model.encoder.module, model.custom)
    x = torch.as_tensor(X, dtype=DTYPE)
    try:
        torch.manual_seed(0)
        prop = _traced(wrapper, [(x, True)], model.custom)
    except Exception as exc:  # noqa: BLE001 - reported as the reason no proof
        return None, f"tracing the objective failed ({type(exc).__name__}: {exc})"[:300]
    out = prop.output
    if not isinstance(out, Val):
        return None, "the traced objective does not return one tensor"
    hi = out.iv[1]
    if not math.isfinite(hi):
        high = [p for p in out.path if p in prop.lows]
        return None, (
            f"the objective's value has no upper bound for free parameters "
            f"(nodes {' -> '.join(high[-8:])})"
        )
    return Proof(
        "objective",
        hi,
        f"the factory's objective, traced on the n = {X.shape[0]} "
        f"data rows with every parameter free, is <= {hi:.6g} "
        f"({_chain(out.path[-8:], prop, 'objective', upper=True)})",
        out.path,
        None,
        "",
        None,
    ), ""


# ----------------------------------------------------------------------------------------
# the entry point
# ----------------------------------------------------------------------------------------


def _family_audit(family: str, X: np.ndarray) -> FamilyAudit | None:
    """The family audit on every row (the family route's bound must hold at each one)."""
    try:
        return audit_family(family, X, probe=False)
    except Exception:  # noqa: BLE001 - a family the audit cannot resolve proves nothing
        return None


def prove(
    model: AuditedModel, X: np.ndarray, family: str
) -> tuple[Proof | None, FamilyAudit | None, tuple[str, ...]]:
    """A proof of a bound on the objective over the rows ``X`` (all the rows it sums over),
    the family audit on ``X``, and notes (e.g. why tracing failed); the module doc."""
    X = np.asarray(X, dtype=np.float64)
    X = X[:, None] if X.ndim == 1 else X
    n, D = X.shape
    notes: list[str] = []
    fam = _family_audit(family, X)
    if model.custom is not None:
        proof, why = _objective_proof(model, X)
        return proof, fam, tuple(notes + ([why] if why else []))
    prop, err = trace_decoder(model)
    if prop is None:
        notes.append(
            f"tracing the decoder failed ({err}); no floor is proved from its graph, "
            "the verdict rests on the attack and the family audit"
        )
    if model.loss is not None:
        return _clamp_proof(model.loss, prop, n, D), fam, tuple(notes)
    if fam is not None and fam.verdict == BOUNDED and fam.bound is not None:
        return (
            Proof(
                "family",
                float(fam.bound),
                f"{fam.family}: sup over parameters of "
                "log p(x_i | params) is finite at every row (family audit); "
                "ELBO <= log p(x) <= their sum",
                (f"{fam.family} (family audit)",),
            ),
            fam,
            tuple(notes),
        )
    if prop is not None:
        proof, why = _floor_proof(prop, n, D)
        if proof is not None:
            return proof, fam, tuple(notes)
        notes.append(f"no floor proved: {why}")
    return None, fam, tuple(notes)


def recognised_bound(
    model: AuditedModel, x: np.ndarray, family: str
) -> tuple[Proof | None, FamilyAudit | None]:
    """Thin alias of :func:`prove` without the notes (kept for ``audit_model``)."""
    proof, fam, _ = prove(model, x, family)
    return proof, fam
