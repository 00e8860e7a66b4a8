"""The model audit: is the objective a user trains, over all rows of their data, bounded?

:func:`audit_model` (the engine of ``wellposed audit-model PKG.MODULE:FACTORY``) takes the
modules a factory returns (:mod:`wellposed.models.protocol`), then

1. runs the data audit (:func:`~wellposed.audit.data.audit_data`) and the family audit of the
   decoder's output distribution (:func:`~wellposed.audit.family.audit_family`);
2. looks for a **proof of a bound** on the objective over the data
   (:mod:`wellposed.audit.proof`, docs/your-model.md);
3. **attacks** the objective over all rows (the ELBO summed over the rows, the factory's
   ``GaussianNLLLoss`` or its own objective; ``rows`` restricts it to the first rows) with
   every parameter of both modules (:func:`~wellposed.audit.attack.attack`: Adam, a spike
   stage leaning on one row, scale line searches; a budget of optimisation steps).

The target (docs/your-model.md, "the target"): with ``L = D (T - log(2 pi) / 2)``, ``T = 8``
(the most one row's Gaussian term can reach when ``sigma >= e^-T``, a floor below those
used in practice), ``F_ref`` the objective over all rows after the attack's fit stage, and
``B`` a proved bound (if any),

    ``M = max(F_ref + L, B + 1)``.

The verdict (the words of :mod:`wellposed.evidence.decide`, plus :data:`NO_WITNESS`):

* ``unbounded``: the objective over all rows at the attack's best point, re-evaluated in
  float64 with fresh draws, is above ``M`` by 4 standard errors; the spiked row's own term,
  re-evaluated the same way, is above ``L`` by 4 standard errors (a blow-up, not a better
  fit); and the least-squares slope of the objective against the row's ``k = -log sigma^2``
  over the last records is positive.  The witness is a state dict (:func:`save_witness`);
* ``bounded``: a proof, and nothing the attack reached exceeded the bound;
* ``bound violated``: a proof that the attack exceeded (a bug in the proof);
* ``no witness within budget``: neither; not a proof of anything.  When one row's term
  passed ``L`` but the objective over all rows did not pass ``M`` (one shared variance: the
  other rows' terms fall as the row's rises), the text reports that row and the objective.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from wellposed.audit.attack import (
    CHECK_SAMPLES,
    AttackTrace,
    AuditedModel,
    attack,
    build_model,
    draws,
    evaluate,
    load_factory,
    objective_value,
)
from wellposed.audit.data import DataAudit, audit_data, validate_data
from wellposed.audit.family import FamilyAudit, audit_family
from wellposed.audit.proof import Proof, prove, recognised_bound
from wellposed.errors import WellposedInputError
from wellposed.evidence.checks import check_bound, check_witness, fit_rate
from wellposed.evidence.decide import BOUND_VIOLATED, BOUNDED, UNBOUNDED
from wellposed.evidence.records import BoundCheck, RateFit, Witness, jsonable
from wellposed.evidence.vocabulary import NO_WITNESS
from wellposed.models.protocol import family_name
from wellposed.models.validate import DTYPE
from wellposed.numerics import LOG_2PI

__all__ = [
    "BOUNDED",
    "BOUND_VIOLATED",
    "DEFAULT_STEPS",
    "NO_WITNESS",
    "TARGET_LOG_SCALE",
    "UNBOUNDED",
    "ModelAudit",
    "Proof",
    "audit_model",
    "recognised_bound",
    "reevaluate_witness",
    "run_audit_model",
    "save_witness",
    "user_output_to_stderr",
]

# NO_WITNESS (the attack found no witness and no bound is proved: not a proof) and the other
# verdict words (UNBOUNDED, BOUNDED, BOUND_VIOLATED) are re-exported from here
#: the target's per-coordinate level: log-density of N(x | x, e^{-2T}) is T - log(2pi)/2
TARGET_LOG_SCALE = 8.0
#: distinct data values the report's family audit decides (evenly spread past this)
FAMILY_VALUES = 4096
#: the attack's default budget in optimisation steps (``--steps``)
DEFAULT_STEPS = 200


@dataclass(frozen=True)
class ModelAudit:
    """Result of :func:`audit_model`."""

    factory: str
    verdict: str
    family: str
    rows: int
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
    steps: int
    seed: int
    trace: AttackTrace = field(default_factory=AttackTrace, repr=False, compare=False)
    row_check: dict[str, Any] | None = None
    max_seconds: float | None = None
    data_audit: DataAudit | None = None
    family_audit: FamilyAudit | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    state: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        t = self.trace
        out = {"factory": self.factory, "verdict": self.verdict, "family": self.family,
               "rows": self.rows, "n": self.n, "dim": self.dim,
               "latent_dim": self.latent_dim, "target": self.target,
               "reference": t.reference, "level": t.level,
               "witness": self.witness, "rate": self.rate, "bound": self.bound,
               "proof": None if self.proof is None else vars(self.proof),
               "row": self.row_check,
               "trace": {"k": list(self.trace_k), "value": list(self.trace_value)},
               "attack": {"steps": self.steps, "steps_done": t.steps, "ended": t.ended,
                          "max_seconds": self.max_seconds, "seconds": t.seconds,
                          "rows_tried": list(t.rows_tried), "constructed": t.constructed},
               "seed": self.seed, "notes": list(self.notes)}
        res = jsonable(out)
        assert isinstance(res, dict)
        res["data_audit"] = None if self.data_audit is None else self.data_audit.to_dict()
        res["family_audit"] = None if self.family_audit is None else self.family_audit.to_dict()
        return res

    def render_text(self) -> str:
        """Human-readable summary (numbers at the reports' 6 significant digits)."""
        def num(v: float) -> str:
            return f"{v:.6g}"
        t = self.trace
        lines = [f"model {self.factory}: output family {self.family}, data n = {self.n}, "
                 f"D = {self.dim}, latent d = {self.latent_dim}",
                 f"verdict: {self.verdict}",
                 f"  objective over rows 0..{self.rows - 1}; target M = {num(self.target)} "
                 f"(objective after the fit stage {num(t.reference)} + one row's level "
                 f"L = {num(t.level)}{', or the proved bound + 1' if self.proof else ''})",
                 f"  attack: {t.steps} of {self.steps} steps, ended: {t.ended}"
                 + (f" (--max-seconds {self.max_seconds:g} cut it short)"
                    if t.ended == "time cap" else "")]
        if t.constructed:
            lines.append(f"  constructive spike: {t.constructed}")
        if self.witness is not None:
            lines.append(f"  best point: objective over the rows with {CHECK_SAMPLES} or fewer "
                         f"fresh draws - 4 SE = {num(self.witness.value)} "
                         f"({'passes' if self.witness.passed else 'below'} M)")
        if self.row_check is not None:
            r = self.row_check
            lines.append(f"  row {r['index']}: its term - 4 SE = {num(r['value'] - 4 * r['se'])}"
                         f" ({'passes' if r['passed'] else 'below'} L), k = {num(t.best_k)}")
        if self.rate is not None:
            lines.append(f"  growth rate {num(self.rate.slope)} per unit k over the last "
                         f"{len(self.rate.x)} records" + ("" if self.verdict == UNBOUNDED else
                         " (the attack's own path; no witness, so no evidence of a blow-up)"))
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
    """Least-squares growth of the objective in ``k`` over the last (up to 8) records of the
    best row's spike stage (docs/design.md, rate fits)."""
    ks, vs = np.asarray(trace.k), np.asarray(trace.value)
    keep = np.isfinite(ks) & np.isfinite(vs)
    ks, vs = ks[keep][-8:], vs[keep][-8:]
    if ks.size < 3 or np.ptp(ks) <= 1e-9:
        return None
    return fit_rate(ks, vs, expected=expected, rtol=0.5)


@contextlib.contextmanager
def user_output_to_stderr() -> Iterator[None]:
    """Whatever the user's code prints goes to stderr (stdout carries the report or the
    JSON document)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _settings(steps: Any, max_seconds: Any, budget: Any, notes: list[str]) -> tuple[int,
                                                                                    float | None]:
    """Validated ``(steps, max_seconds)``; ``budget`` (seconds) is the deprecated alias of
    ``max_seconds``."""
    if budget is not None:
        notes.append("--budget (seconds) is deprecated: the budget is --steps; --budget was "
                     "taken as --max-seconds")
        max_seconds = budget if max_seconds is None else max_seconds
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 8:
        raise WellposedInputError(f"steps must be an integer >= 8, got {steps!r}")
    if max_seconds is not None and not (isinstance(max_seconds, int | float) and math.isfinite(
            max_seconds) and max_seconds > 0):
        raise WellposedInputError(f"max-seconds must be a positive number, got "
                                  f"{max_seconds!r}")
    return steps, None if max_seconds is None else float(max_seconds)


def _probe(model: AuditedModel, X: np.ndarray, name: str) -> str:
    """Evaluate the model once on the first rows; a mismatch between the data and the model
    (width, dtype, shape, swapped modules, an error inside it) is an input error that names
    it.  Returns the output family."""
    n, D = X.shape
    x = torch.as_tensor(X[:2], dtype=DTYPE)
    d = model.decoder.latent_dim
    stage = "the encoder on the data"
    try:
        with torch.no_grad():
            m, _ = model.encoder(x)
            stage = "the decoder on the encoder's latents"
            dist = model.decoder.distribution(m)
            shape = tuple(dist.batch_shape + dist.event_shape)
            if shape[-1:] != (D,) and shape[-2:] != (x.shape[0], D):
                raise WellposedInputError(
                    f"the data have D = {D} columns but the decoder's output distribution "
                    f"has shape {shape} for {x.shape[0]} rows; build the model for {D} "
                    "columns (flatten images to (n, D))")
            stage = "the objective"
            objective_value(model, x, draws(0, 1, x.shape[0], d), 0)
            return family_name(dist)
    except WellposedInputError:
        raise
    except Exception as exc:
        raise WellposedInputError(
            f"evaluating {stage} failed for {name} with data of shape (n, D) = ({n}, {D}) "
            f"and latent size d = {d} ({type(exc).__name__}: {exc}); check that the model is "
            "built for D columns, that it accepts float64 input, and that the factory "
            "returns (decoder, encoder) in that order") from exc


def _family_sample(X: np.ndarray, notes: list[str]) -> np.ndarray:
    """The data for the report's family audit: all of it, or, past :data:`FAMILY_VALUES`
    distinct values, that many spread evenly over the sorted distinct values (the smallest,
    the largest and any exact 0 or 1 included; the family audit decides value by value)."""
    values = np.unique(X)
    if values.size <= FAMILY_VALUES:
        return X
    pick = values[np.linspace(0, values.size - 1, FAMILY_VALUES).astype(int)]
    pick = np.unique(np.concatenate([pick, values[np.isin(values, (0.0, 1.0))]]))
    notes.append(f"the family audit in this report decides {pick.size} of the data's "
                 f"{values.size} distinct values (evenly spread, extremes and exact 0/1 kept)")
    return pick[:, None]


def audit_model(factory: str | Callable[..., Any], data: Any, *, steps: int = DEFAULT_STEPS,
                max_seconds: float | None = None, budget: float | None = None,
                rows: int | None = None, seed: int = 0, audits: bool = True) -> ModelAudit:
    """Audit the factory's model on ``data`` (the module doc): the objective over the first
    ``rows`` rows (default: all), attacked for ``steps`` optimisation steps (at most
    ``max_seconds`` seconds; ``budget`` is its deprecated alias)."""
    notes: list[str] = []
    steps, max_seconds = _settings(steps, max_seconds, budget, notes)
    X = validate_data(data)
    X = X[:, None] if X.ndim == 1 else X
    rows = X.shape[0] if rows is None else rows
    if isinstance(rows, bool) or not (isinstance(rows, int) and 1 <= rows <= X.shape[0]):
        raise WellposedInputError(f"rows must be an integer in 1..{X.shape[0]}, got {rows!r}")
    name = factory if isinstance(factory, str) else getattr(factory, "__name__", "factory")
    fn = load_factory(factory) if isinstance(factory, str) else factory
    n, D = X.shape
    model = build_model(fn, D, seed=seed, name=name)
    family = _probe(model, X, name)
    d = model.decoder.latent_dim
    data_res = audit_data(X, latent_dim=d) if audits else None
    fam_full: FamilyAudit | None = None
    if audits:
        try:
            fam_full = audit_family(family, _family_sample(X, notes), probe=False,
                                    max_values=256)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            notes.append(f"family audit of {family} not available: {exc}")
    proof, _, proof_notes = prove(model, X[:rows], family)
    notes.extend(proof_notes)
    x = torch.as_tensor(X[:rows], dtype=DTYPE)
    level = D * (TARGET_LOG_SCALE - 0.5 * LOG_2PI)
    trace = attack(model, x, level=level, steps=steps, seed=seed, max_seconds=max_seconds,
                   floor_target=-math.inf if proof is None else proof.bound + 1.0)
    return _decide(name, model, x, X, family, trace, proof, steps, max_seconds, seed,
                   data_res, fam_full, notes)


def _row_check(model: AuditedModel, x: torch.Tensor, trace: AttackTrace,
               seed: int) -> dict[str, Any] | None:
    """The spiked row's own term in float64 with fresh draws, against the level ``L``."""
    if trace.row is None or model.custom is not None or trace.best_state is None:
        return None
    value, se = evaluate(model, x[trace.row:trace.row + 1], seed=seed + 2)
    return {"index": trace.row, "value": value, "se": se, "level": trace.level,
            "passed": bool(value - 4.0 * se > trace.level)}


def _decide(name: str, model: AuditedModel, x: torch.Tensor, X: np.ndarray, family: str,
            trace: AttackTrace, proof: Proof | None, steps: int, max_seconds: float | None,
            seed: int, data_res: DataAudit | None, fam_full: FamilyAudit | None,
            notes: list[str]) -> ModelAudit:
    """Re-evaluate the attack's best point in float64 and decide (the module doc)."""
    value, se = evaluate(model, x, seed=seed + 1)
    params = {"k": trace.best_k, "se": se, "attack_value": trace.best_value}
    witness = check_witness(params, value - 4.0 * se, trace.target, line="mc")
    row = _row_check(model, x, trace, seed)
    d, D = model.decoder.latent_dim, X.shape[1]
    expected = 0.5 * (D - d) if family == "Normal" else 1.0
    rate = _rate(trace, expected)
    bound_check = None
    if proof is not None:
        bound_check = check_bound(proof.bound, {"attack": trace.value, "fresh draws": [value]},
                                  tol=1e-9)
        verdict: str = BOUNDED if bound_check.ok else BOUND_VIOLATED
    elif (witness.passed and rate is not None and rate.slope > 0
          and (row is None or row["passed"])):
        verdict = UNBOUNDED
    else:
        verdict = NO_WITNESS
    if verdict == NO_WITNESS and row is not None and row["passed"]:
        notes.append(f"row {row['index']}'s term is unbounded along the attack (it passed "
                     f"L = {trace.level:.6g}), but the objective over all {x.shape[0]} rows "
                     f"at that point is {value:.6g} (target {trace.target:.6g}): the other "
                     "rows' terms fall as that row's rises (e.g. one shared variance)")
    if verdict == UNBOUNDED and rate is not None and family == "Normal" and not rate.ok:
        notes.append(f"fitted rate {rate.slope:.3g} differs from the one-point spike rate "
                     f"(D - d)/2 = {expected:.3g} by more than 50% (the attack shrinks the "
                     "encoder and decoder scales at its own relative speeds)")
    if verdict == NO_WITNESS and fam_full is not None and fam_full.verdict == UNBOUNDED:
        notes.append(f"the family audit finds {family} unbounded on this data in the "
                     "mathematics; the attack did not reach the target within the budget "
                     "(e.g. torch saturates the parameter, or the growth is too slow)")
    return ModelAudit(name, verdict, family, x.shape[0], X.shape[0], D, d, trace.target,
                      witness, rate, bound_check, proof, tuple(trace.k), tuple(trace.value),
                      steps, int(seed), trace, row, max_seconds, data_res, fam_full,
                      tuple(notes), state=trace.best_state)


def save_witness(res: ModelAudit, directory: str | os.PathLike[str]) -> str:
    """Write ``witness.pt`` (state dicts, rows, target, seed, factory) into ``directory``."""
    if res.state is None or res.witness is None:
        raise WellposedInputError("this audit has no witness to save")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(os.fspath(directory), "witness.pt")
    torch.save({"decoder": res.state["decoder"], "encoder": res.state["encoder"],
                "rows": res.rows, "target": res.target, "seed": res.seed,
                "factory": res.factory, "value": res.witness.value}, path)
    return path


def reevaluate_witness(path: str | os.PathLike[str], data: Any, *,
                       factory: str | Callable[..., Any] | None = None, seed: int = 12345,
                       samples: int | None = None) -> tuple[float, float, float]:
    """Reload a saved witness into fresh factory modules (float64) and evaluate the
    objective over its rows with ``samples`` new draws (default
    :func:`~wellposed.audit.attack.check_samples`): ``(value, standard error, target)``."""
    saved = torch.load(path, weights_only=True)
    X = validate_data(data)
    X = X[:, None] if X.ndim == 1 else X
    spec = factory if factory is not None else saved["factory"]
    fn = load_factory(spec) if isinstance(spec, str) else spec
    model = build_model(fn, X.shape[1], seed=int(saved["seed"]))
    model.load({"decoder": saved["decoder"], "encoder": saved["encoder"]})
    x = torch.as_tensor(X[:int(saved["rows"])], dtype=DTYPE)
    value, se = evaluate(model, x, samples=samples, seed=seed)
    return value, se, float(saved["target"])


def run_audit_model(factory: str, data: np.ndarray, *, steps: int = DEFAULT_STEPS,
                    max_seconds: float | None = None, budget: float | None = None,
                    rows: int | None = None, seed: int = 0,
                    out: str | None = None) -> tuple[ModelAudit, dict[str, Any], str]:
    """What ``wellposed audit-model`` does after parsing: the audit (anything the user's
    code prints goes to stderr), the witness written to ``out`` when unbounded, and
    ``(result, JSON body, text)``."""
    with user_output_to_stderr():
        res = audit_model(factory, data, steps=steps, max_seconds=max_seconds, budget=budget,
                          rows=rows, seed=seed)
    saved = save_witness(res, out) if out is not None and res.verdict == UNBOUNDED else None
    text = res.render_text()
    if saved is not None:
        text += (f"  witness saved: {saved} (wellposed.audit.model.reevaluate_witness "
                 "re-evaluates it)\n")
    return res, {**res.to_dict(), "witness_file": saved}, text
