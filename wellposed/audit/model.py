"""The model audit: is the objective of a user's decoder / encoder pair bounded on their data?

:func:`audit_model` (the engine of ``wellposed audit-model PKG.MODULE:FACTORY``) takes the
modules a factory returns (:mod:`wellposed.models.protocol`), then

1. runs the data audit (:func:`~wellposed.audit.data.audit_data`) and the family audit of the
   decoder's output distribution (:func:`~wellposed.audit.family.audit_family`);
2. looks for a **proof of a bound** it recognises (docs/your-model.md):

   * the output family's per-observation supremum is finite on the attacked rows (family
     audit: discrete families, continuous Bernoulli inside (0, 1), ...): ``ELBO <= log p(x)
     <= sum_i sup_params log p(x_i | params)`` (docs/claims.md, F1-F6);
   * a :mod:`wellposed.variance` policy with a floor on ``log sigma^2`` held by a Gaussian
     decoder (``Floor``, ``SoftClip``, ``Fixed``, ``ValueClamp``): ``-(1/2)(log 2pi +
     floor)`` per coordinate (docs/claims.md, L2 and F6);
   * ``torch.nn.GaussianNLLLoss(eps)`` as the objective: ``-(1/2)(log eps [+ log 2pi])``
     per coordinate, the value clamp (docs/claims.md, F6);

3. **attacks** the objective on ``rows`` training points (default: the first one): Adam
   then L-BFGS ascent on every parameter of both modules (the Mattei & Frellsen spike,
   found by optimisation: the mean reconstructs the point, the scale shrinks), alternating
   with a doubling line search along the gradient of ``k = -log(scale^2)`` (the scale-like
   parameter of the output distribution at the encoder mean; ``2 log|logit|`` for
   logit-parameterised families).  The ELBO is a Monte Carlo average over fixed draws
   ``eps`` (common random numbers, seeded), so the attacked function is deterministic.
   Progress ``k`` and the objective are recorded after every round; the attack stops when
   the objective passes the target ``M`` or the budget (seconds) is spent.

The verdict (the words of :mod:`wellposed.evidence.decide`, plus one):

* ``unbounded``: the attack passed ``M = rows * D * (T - (1/2) log 2pi)`` with ``T = 8``
  (the per-coordinate log-density of a Gaussian with ``sigma = e^-8`` at its own mean;
  above every recognised bound), re-evaluated with fresh Monte Carlo draws at ``value - 4 SE
  > M``, and the objective grew with ``k`` (least-squares rate over the last rounds, > 0);
  the witness is a state dict (:func:`save_witness`, :func:`reevaluate_witness`);
* ``bounded``: a recognised proof, and nothing the attack reached exceeded the bound;
* ``bound violated``: a recognised proof that the attack exceeded (a bug in the proof);
* ``no witness within budget``: neither; not a proof of anything.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from wellposed.audit.attack import (
    ATTACK_SAMPLES,
    CHECK_SAMPLES,
    AttackTrace,
    attack,
    build_model,
    draws,
    evaluate,
    load_factory,
    objective_value,
)
from wellposed.audit.data import DataAudit, audit_data, validate_data
from wellposed.audit.family import FamilyAudit, audit_family
from wellposed.audit.proof import Proof, recognised_bound
from wellposed.errors import WellposedInputError
from wellposed.evidence.checks import check_bound, check_witness, fit_rate
from wellposed.evidence.decide import BOUND_VIOLATED, BOUNDED, UNBOUNDED
from wellposed.evidence.records import BoundCheck, RateFit, Witness, jsonable
from wellposed.models.protocol import family_name
from wellposed.models.validate import DTYPE
from wellposed.numerics import LOG_2PI

__all__ = [
    "NO_WITNESS",
    "TARGET_LOG_SCALE",
    "ModelAudit",
    "Proof",
    "audit_model",
    "recognised_bound",
    "reevaluate_witness",
    "run_audit_model",
    "save_witness",
]

#: verdict when the attack found no witness and no bound is proved (not a proof)
NO_WITNESS = "no witness within budget"
#: the target's per-coordinate level: log-density of N(x | x, e^{-2T}) is T - log(2pi)/2
TARGET_LOG_SCALE = 8.0


@dataclass(frozen=True)
class ModelAudit:
    """Result of :func:`audit_model`."""

    factory: str
    verdict: str
    family: str
    rows: tuple[int, ...]
    n: int
    dim: int
    latent_dim: int
    target: float
    witness: Witness | None
    rate: RateFit | None
    bound: BoundCheck | None
    proof: Proof | None
    trace_k: tuple[float, ...]
    trace_value: tuple[float, ...]
    seconds_budget: float
    seed: int
    data_audit: DataAudit | None = None
    family_audit: FamilyAudit | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    state: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = {"factory": self.factory, "verdict": self.verdict, "family": self.family,
               "rows": list(self.rows), "n": self.n, "dim": self.dim,
               "latent_dim": self.latent_dim, "target": self.target,
               "witness": self.witness, "rate": self.rate, "bound": self.bound,
               "proof": None if self.proof is None else vars(self.proof),
               "trace": {"k": list(self.trace_k), "value": list(self.trace_value)},
               "budget_seconds": self.seconds_budget, "seed": self.seed,
               "notes": list(self.notes)}
        res = jsonable(out)
        assert isinstance(res, dict)
        res["data_audit"] = None if self.data_audit is None else self.data_audit.to_dict()
        res["family_audit"] = None if self.family_audit is None else self.family_audit.to_dict()
        return res

    def render_text(self) -> str:
        """Human-readable summary (numbers at the reports' 6 significant digits)."""
        def num(v: float) -> str:
            return f"{v:.6g}"
        lines = [f"model {self.factory}: output family {self.family}, data n = {self.n}, "
                 f"D = {self.dim}, latent d = {self.latent_dim}",
                 f"verdict: {self.verdict}"]
        lines.append(f"  attacked rows {list(self.rows)}; target M = {num(self.target)}")
        if self.witness is not None:
            lines.append(f"  best point: k = {num(self.witness.params.get('k', math.nan))}, "
                         f"objective with {CHECK_SAMPLES} fresh draws - 4 SE = "
                         f"{num(self.witness.value)} "
                         f"({'passes' if self.witness.passed else 'below'} M)")
        if self.rate is not None:
            lines.append(f"  growth rate {num(self.rate.slope)} per unit k over the last "
                         f"{len(self.rate.x)} rounds")
        if self.proof is not None:
            lines.append(f"  proof ({self.proof.kind}): bound {num(self.proof.bound)}; "
                         f"{self.proof.reason}")
        if self.bound is not None:
            lines.append(f"  attack maximum {num(self.bound.max_value)} vs bound "
                         f"{num(self.bound.bound)}: {'ok' if self.bound.ok else 'EXCEEDED'}")
        if self.family_audit is not None:
            lines.append(f"  family audit ({self.family_audit.family}): "
                         f"{self.family_audit.verdict}")
        if self.data_audit is not None:
            kinds = ", ".join(self.data_audit.kinds()) or "none"
            lines.append(f"  data audit findings: {kinds}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines) + "\n"

def _rate(trace: AttackTrace, expected: float) -> RateFit | None:
    """Least-squares growth of the objective in ``k`` over the last (up to 8) rounds where
    ``k`` rose (docs/design.md, rate fits)."""
    ks, vs = np.asarray(trace.k), np.asarray(trace.value)
    keep = np.isfinite(ks) & np.isfinite(vs)
    ks, vs = ks[keep], vs[keep]
    if ks.size < 3:
        return None
    order = np.argsort(ks, kind="stable")
    ks, vs = ks[order][-8:], vs[order][-8:]
    if np.ptp(ks) <= 1e-9:
        return None
    return fit_rate(ks, vs, expected=expected, rtol=0.5)


# ----------------------------------------------------------------------------------------
# the audit
# ----------------------------------------------------------------------------------------


def audit_model(factory: str | Callable[..., Any], data: Any, *, budget: float = 30.0,
                rows: int = 1, seed: int = 0, audits: bool = True) -> ModelAudit:
    """Audit the factory's model on ``data`` (the module doc); ``rows`` training points are
    attacked (the first ones), for at most ``budget`` seconds."""
    X = validate_data(data)
    X = X[:, None] if X.ndim == 1 else X
    if not (isinstance(rows, int) and 1 <= rows <= X.shape[0]):
        raise WellposedInputError(f"rows must be an integer in 1..{X.shape[0]}, got {rows!r}")
    if not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
        raise WellposedInputError(f"budget must be a positive number of seconds, got "
                                  f"{budget!r}")
    name = factory if isinstance(factory, str) else getattr(factory, "__name__", "factory")
    fn = load_factory(factory) if isinstance(factory, str) else factory
    n, D = X.shape
    model = build_model(fn, D, seed=seed, name=name)
    x = torch.as_tensor(X[:rows], dtype=DTYPE)
    d = model.decoder.latent_dim
    notes: list[str] = []
    with torch.no_grad():
        try:
            model.decoder.check_data(x)
            family = family_name(model.decoder.distribution(model.encoder(x)[0]))
            objective_value(model, x, draws(seed, ATTACK_SAMPLES, rows, d), seed)
        except WellposedInputError:
            raise
        except Exception as exc:
            raise WellposedInputError(f"evaluating {name} on the data failed "
                                      f"({type(exc).__name__}: {exc}); check the shapes: "
                                      f"data (n, {D}), latents (n, {d})") from exc
    data_res = audit_data(X, latent_dim=d) if audits else None
    fam_full: FamilyAudit | None = None
    if audits:
        try:
            fam_full = audit_family(family, X, probe=False, max_values=256)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            notes.append(f"family audit of {family} not available: {exc}")
    proof, _ = recognised_bound(model, X[:rows], family)
    target = rows * D * (TARGET_LOG_SCALE - 0.5 * LOG_2PI)
    if proof is not None:
        target = max(target, proof.bound + 1.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster and the same on any CPU
    try:
        trace = attack(model, x, target=target, budget=float(budget), seed=seed,
                       ceiling=None if proof is None else proof.bound)
        value, se = evaluate(model, x, seed=seed + 1)
    finally:
        torch.set_num_threads(threads)
    params = {"k": trace.best_k, "se": se, "attack_value": trace.best_value}
    witness = check_witness(params, value - 4.0 * se, target, line="mc")
    expected = 0.5 * rows * (D - d) if family == "Normal" else 1.0
    rate = _rate(trace, expected)
    bound_check = None
    if proof is not None:
        bound_check = check_bound(proof.bound, {"attack": trace.value, "fresh draws": [value]},
                                  tol=1e-9)
        verdict = BOUNDED if bound_check.ok else BOUND_VIOLATED
    elif witness.passed and rate is not None and rate.slope > 0:
        verdict = UNBOUNDED
    else:
        verdict = NO_WITNESS
    if verdict == UNBOUNDED and rate is not None and family == "Normal" and not rate.ok:
        notes.append(f"fitted rate {rate.slope:.3g} differs from the one-point spike rate "
                     f"(D - d)/2 * rows = {expected:.3g} by more than 50% (the attack's path "
                     "shrinks the encoder and decoder scales at its own relative speeds)")
    if verdict == NO_WITNESS and fam_full is not None and fam_full.verdict == UNBOUNDED:
        notes.append(f"the family audit finds {family} unbounded on this data in the "
                     "mathematics; the attack did not reach the target within the budget "
                     "(e.g. torch saturates the parameter, or the growth is too slow)")
    return ModelAudit(name, verdict, family, tuple(range(rows)), n, D, d, target,
                      witness, rate, bound_check, proof, tuple(trace.k), tuple(trace.value),
                      float(budget), int(seed), data_res, fam_full, tuple(notes),
                      state=trace.best_state)


def save_witness(res: ModelAudit, directory: str | os.PathLike[str]) -> str:
    """Write ``witness.pt`` (state dicts, rows, target, seed, factory) into ``directory``."""
    if res.state is None or res.witness is None:
        raise WellposedInputError("this audit has no witness to save")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(os.fspath(directory), "witness.pt")
    torch.save({"decoder": res.state["decoder"], "encoder": res.state["encoder"],
                "rows": list(res.rows), "target": res.target, "seed": res.seed,
                "factory": res.factory, "value": res.witness.value}, path)
    return path


def reevaluate_witness(path: str | os.PathLike[str], data: Any, *,
                       factory: str | Callable[..., Any] | None = None, seed: int = 12345,
                       samples: int = CHECK_SAMPLES) -> tuple[float, float, float]:
    """Reload a saved witness into fresh factory modules (float64) and evaluate it with
    ``samples`` new draws: ``(value, standard error, target)``."""
    saved = torch.load(path, weights_only=True)
    X = validate_data(data)
    X = X[:, None] if X.ndim == 1 else X
    spec = factory if factory is not None else saved["factory"]
    fn = load_factory(spec) if isinstance(spec, str) else spec
    model = build_model(fn, X.shape[1], seed=int(saved["seed"]))
    model.load({"decoder": saved["decoder"], "encoder": saved["encoder"]})
    x = torch.as_tensor(X[saved["rows"]], dtype=DTYPE)
    value, se = evaluate(model, x, samples=samples, seed=seed)
    return value, se, float(saved["target"])


def run_audit_model(factory: str, data: np.ndarray, *, budget: float, rows: int, seed: int,
                    out: str | None) -> tuple[ModelAudit, dict[str, Any], str]:
    """What ``wellposed audit-model`` does after parsing: the audit, the witness written to
    ``out`` when unbounded, and ``(result, JSON body, text)``."""
    res = audit_model(factory, data, budget=budget, rows=rows, seed=seed)
    saved = save_witness(res, out) if out is not None and res.verdict == UNBOUNDED else None
    text = res.render_text()
    if saved is not None:
        text += (f"  witness saved: {saved} (wellposed.audit.model.reevaluate_witness "
                 "re-evaluates it)\n")
    return res, {**res.to_dict(), "witness_file": saved}, text
