"""Proofs of a bound on a model's objective: the recognised bounds of ``audit-model``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import nn

from wellposed.audit.attack import AuditedModel
from wellposed.audit.family import FamilyAudit, audit_family
from wellposed.evidence.decide import BOUNDED
from wellposed.models.protocol import log_var_floor_bound
from wellposed.models.variance import VariancePolicy
from wellposed.numerics import LOG_2PI

__all__ = ["Proof", "recognised_bound"]


@dataclass(frozen=True)
class Proof:
    """A recognised bound on the objective for the attacked rows, and where it comes from."""

    kind: str  # family | floor | clamp
    bound: float
    reason: str
    nodes: tuple[str, ...] = ()
    floor: float | None = None


def _policies(module: nn.Module) -> list[VariancePolicy]:
    return [v for sub in module.modules() for v in vars(sub).values()
            if isinstance(v, VariancePolicy)]


def recognised_bound(model: AuditedModel, x: np.ndarray, family: str) -> tuple[Proof | None,
                                                                               FamilyAudit | None]:
    """A bound on the objective for the rows ``x`` that the harness can prove, if any (the
    module doc, step 2), and the family audit of the output family on ``x``."""
    n, D = x.shape
    fam: FamilyAudit | None = None
    try:
        fam = audit_family(family, x, probe=False)
    except Exception:  # noqa: BLE001 - a family the audit cannot resolve proves nothing
        fam = None
    if model.custom is not None:
        return None, fam
    if model.loss is not None:
        per = -0.5 * math.log(model.loss.eps) - (0.5 * LOG_2PI if model.loss.full else 0.0)
        return Proof("clamp", n * D * per, f"GaussianNLLLoss clamps the variance's value at "
                     f"eps = {model.loss.eps:g}: -loss <= {per:.6g} per coordinate; "
                     "KL >= 0"), fam
    if fam is not None and fam.verdict == BOUNDED and fam.bound is not None:
        return Proof("family", float(fam.bound), f"{fam.family}: sup over parameters of "
                     "log p(x_i | params) is finite at every attacked row (family audit); "
                     "ELBO <= log p(x) <= their sum"), fam
    floors = [p.log_var_floor for p in _policies(model.decoder.module)
              if p.log_var_floor is not None]
    if family == "Normal" and floors:
        floor = min(floors)
        per = log_var_floor_bound(floor)
        return Proof("floor", n * D * per, f"a wellposed.variance policy floors log sigma^2 "
                     f"at {floor:.6g}: log N <= {per:.6g} per coordinate; KL >= 0"), fam
    return None, fam
