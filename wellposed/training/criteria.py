"""The T-claims' criteria, computed from training run records (shared by the gate and report).

Each ``t*`` function takes the run records of :func:`wellposed.training.loop.train_run` and
returns a dict with ``ok`` (the criterion holds for every seed), ``per_seed`` rows and the
smallest ``margin`` over the seeds (how far the weakest seed is from failing), so a claim
that flips with the seed shows up as a failure, not as flakiness.  Each is a claim about
what *training* does, so each fails on an untrained model, after one Adam step and on the
wrong objective (tests/training/test_criteria.py):

* :func:`t1_divergence` (learned per-coordinate variance on digits, unbounded by L6): the
  decoder's ``log sigma^2`` on the data audit's constant coordinates reaches below ``log xi``
  (where the floor objective stops; the untrained decoder starts near 0) for every seed, and
  the mean distance below ``log xi`` exceeds :data:`T1_SPREADS` standard deviations of its
  seed spread, so the separation is not seed noise.  The lowest logged value is used (the
  learned-variance training is unstable: its ELBO crashes and recovers between logged steps).
* :func:`t2_floor` (floor and soft-clip, bounded): on the constant coordinates, where an
  unfloored objective is unbounded, the per-coordinate objective ``E_q log p(x_j | t)``
  stays below its supremum ``-(1/2)(log 2pi + floor)`` at every logged step (and the whole
  ELBO, logged and per minibatch, below its bound) while training closes the gap to it: the
  trained gap is at most :data:`T2_RATIO` of the untrained model's (the soft-clip's
  ``log sigma`` approaches -6 only asymptotically, so its gap closes more slowly).
* :func:`t3_fixed_bernoulli` (fixed ``sigma^2 = 1`` and Bernoulli, bounded): the training
  ELBO stays below its bound (``-(D/2) log 2pi``; the empirical ``sum_u n_u log(n_u/n) / n``,
  0 per minibatch) and training closes at least ``1 - T3_RATIO`` of the initial gap.
* :func:`t4_objective_check`: every run's training objective, at its initial and at its
  trained parameters with fixed draws, equals the numpy reference of
  :mod:`wellposed.training.reference` to its rounding (a planted fault in a training
  objective fails it).

Seed spread (``python sweeps/training_seeds.py``, digits at the CI budget of 2000 steps,
seeds 0-9; mean ± sd, weakest seed): T1 distance below log xi 5.65 ± 0.54 (weakest 4.55,
separation ``mean - 3 sd`` = 4.03); T2 gap ratio floor 0.0063 ± 0.0010 (0.008), soft-clip
0.103 ± 0.036 (0.184); T3 gap ratio fixed 0.115 ± 0.005 (0.121), Bernoulli 0.271 ± 0.006
(0.283).  The thresholds sit at least 3 sd beyond the sweep's mean (soft-clip: 0.30 =
mean + 5.5 sd; Bernoulli: 0.5 = mean + 40 sd) and far from the controls (untrained or one
step: ratio 1, log sigma^2 near 0).

A failing criterion is a regression of the code or of training, never a verdict about the
objective (:mod:`wellposed.claims.training` reports it as ``check failed``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from wellposed.models.densities import gaussian_supremum
from wellposed.training.objectives import FLOOR_XI, objective

__all__ = [
    "T1_LEVEL",
    "T1_OBJECTIVE",
    "T1_SPREADS",
    "T2_OBJECTIVES",
    "T2_RATIO",
    "T3_OBJECTIVES",
    "T3_RATIO",
    "select",
    "select_data",
    "series",
    "t1_divergence",
    "t2_floor",
    "t3_fixed_bernoulli",
    "t4_objective_check",
]

#: T1's level: log xi, the floor objective's infimum of log sigma^2 (derived, not fitted)
T1_LEVEL = math.log(FLOOR_XI)
#: T1: the mean distance below the level must exceed this many seed standard deviations
T1_SPREADS = 3.0
T1_OBJECTIVE = "learned"
T2_OBJECTIVES = ("floor", "softclip")
#: T2: trained gap to the per-coordinate supremum / untrained gap, at most
T2_RATIO = 0.3
T3_OBJECTIVES = ("fixed", "bernoulli")
#: T3: trained gap to the bound / untrained gap, at most
T3_RATIO = 0.5

#: float64 rounding allowed above the per-coordinate supremum (log sigma^2 = log xi exactly)
_ROUNDING = 1e-9
Run = dict[str, Any]


def select(runs: Sequence[Run], data: str, obj: str) -> list[Run]:
    """The records of data set ``data`` and objective ``obj``, by seed."""
    chosen = [r for r in runs if r["config"]["data"] == data and r["config"]["objective"] == obj]
    return sorted(chosen, key=lambda r: r["config"]["seed"])


def select_data(runs: Sequence[Run], data: str) -> list[Run]:
    """The records of data set ``data``."""
    return [r for r in runs if r["config"]["data"] == data]


def series(run: Run, key: str) -> list[float]:
    """The logged values of ``key`` (NaN where a step did not log it)."""
    return [math.nan if row.get(key) is None else float(row[key]) for row in run["log"]]


def _spread(values: Sequence[float]) -> dict[str, float]:
    finite = [v for v in values if math.isfinite(v)]
    mean = statistics.fmean(finite) if finite else math.nan
    sd = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return {"mean": mean, "sd": sd}


def _summary(rows: list[dict[str, Any]], margins: list[float]) -> dict[str, Any]:
    ok = bool(rows) and all(r["ok"] for r in rows)
    return {
        "ok": ok,
        "per_seed": rows,
        "margin": min(margins) if margins else math.nan,
        "seeds": len(rows),
    }


def t1_divergence(runs: Sequence[Run], data: str = "digits") -> dict[str, Any]:
    """T1 (module docstring) for every seed of the learned objective on ``data``; margin: the
    smaller of the weakest seed's distance below the level and ``mean - T1_SPREADS sd``."""
    rows, gaps = [], []
    for r in select(runs, data, T1_OBJECTIVE):
        values = [v for v in series(r, "min_lv_flagged") if not math.isnan(v)]
        lowest = min(values) if values else math.inf
        step = next(
            (
                int(row["step"])
                for row in r["log"]
                if row.get("min_lv_flagged") is not None and float(row["min_lv_flagged"]) < T1_LEVEL
            ),
            None,
        )
        rows.append(
            {
                "seed": r["config"]["seed"],
                "lowest_lv_flagged": lowest,
                "first_step_below": step,
                "stopped_at": r.get("stopped_at"),
                "ok": bool(lowest < T1_LEVEL),
            }
        )
        gaps.append(T1_LEVEL - lowest)
    spread = _spread(gaps)
    separation = spread["mean"] - T1_SPREADS * spread["sd"]
    out = _summary(rows, [*gaps, separation] if gaps else [])
    out["ok"] = bool(out["ok"] and separation > 0)
    out.update(level=T1_LEVEL, spread=spread, separation=separation)
    return out


def _stays_below(r: Run, spec_likelihood: str) -> tuple[bool, float, float]:
    """``(ok, bound, batch bound)``: the logged training ELBO and every minibatch ELBO below
    the run's bound (0 per minibatch for a Bernoulli: the empirical bound is per data set)."""
    bound = r["bound"]
    if bound is None:
        return False, math.nan, math.nan
    batch_bound = 0.0 if spec_likelihood == "bernoulli" else float(bound)
    logged = max(series(r, "train_elbo"))
    ok = logged <= bound and r["batch_max"] <= batch_bound and r.get("stopped_at") is None
    return bool(ok), float(bound), batch_bound


def t2_floor(runs: Sequence[Run], data: str = "digits") -> dict[str, Any]:
    """T2 (module docstring): floor and soft-clip approach the per-coordinate supremum on the
    constant coordinates and stay below it, every seed."""
    rows, margins, ratios = [], [], []
    for obj in T2_OBJECTIVES:
        spec = objective(obj)
        floor = None if spec.policy is None else spec.policy.log_var_floor
        sup = gaussian_supremum(1, floor)
        for r in select(runs, data, obj):
            stays, bound, _ = _stays_below(r, spec.likelihood)
            start = (r.get("initial") or {}).get("flagged_ll")
            values = [v for v in series(r, "flagged_ll") if not math.isnan(v)]
            if start is None or not values or not math.isfinite(sup):
                ratio, top = math.inf, math.inf
            else:
                top = max([float(start), *values])
                ratio = (sup - values[-1]) / (sup - float(start))
            ok = stays and top <= sup + _ROUNDING and ratio <= T2_RATIO
            rows.append(
                {
                    "objective": obj,
                    "seed": r["config"]["seed"],
                    "supremum": sup,
                    "initial_gap": sup - float(start) if start is not None else math.nan,
                    "trained_gap": sup - values[-1] if values else math.nan,
                    "ratio": ratio,
                    "max_logged": top,
                    "elbo_below_bound": stays,
                    "ok": bool(ok),
                }
            )
            margins.append(T2_RATIO - ratio if stays and top <= sup + _ROUNDING else -math.inf)
            ratios.append(ratio)
    out = _summary(rows, margins)
    out.update(ratio_max=T2_RATIO, spread=_spread(ratios))
    return out


def t3_fixed_bernoulli(runs: Sequence[Run], data: str = "digits") -> dict[str, Any]:
    """T3 (module docstring): fixed variance and Bernoulli close the gap to their bounds and
    stay below them, every seed."""
    rows, margins, ratios = [], [], []
    for obj in T3_OBJECTIVES:
        spec = objective(obj)
        for r in select(runs, data, obj):
            stays, bound, batch_bound = _stays_below(r, spec.likelihood)
            start = (r.get("initial") or {}).get("train_elbo")
            last = series(r, "train_elbo")[-1] if r["log"] else math.nan
            gap0 = bound - float(start) if start is not None else math.nan
            ratio = (bound - last) / gap0 if gap0 > 0 else math.inf
            ok = stays and ratio <= T3_RATIO
            rows.append(
                {
                    "objective": obj,
                    "seed": r["config"]["seed"],
                    "bound": bound,
                    "batch_bound": batch_bound,
                    "initial_gap": gap0,
                    "trained_gap": bound - last,
                    "ratio": ratio,
                    "max_batch": r["batch_max"],
                    "elbo_below_bound": stays,
                    "ok": bool(ok),
                }
            )
            margins.append(T3_RATIO - ratio if stays else -math.inf)
            ratios.append(ratio)
    out = _summary(rows, margins)
    out.update(ratio_max=T3_RATIO, spread=_spread(ratios))
    return out


def t4_objective_check(runs: Sequence[Run]) -> dict[str, Any]:
    """T4 (module docstring): every run's objective check, initial and trained, agrees with
    the reference; margin ``1 - worst error / tolerance``."""
    rows, margins = [], []
    for r in sorted(runs, key=lambda r: (r["config"]["objective"], r["config"]["seed"])):
        checks = r.get("objective_check") or {}
        row: dict[str, Any] = {"objective": r["config"]["objective"], "seed": r["config"]["seed"]}
        ok = bool(checks)
        for when in ("initial", "trained"):
            c = checks.get(when)
            if c is None:
                ok = False
                continue
            rel = float(c["max_abs_error"]) / float(c["tolerance"])
            rel = rel if math.isfinite(rel) else math.inf
            row[f"{when}_error"] = c["max_abs_error"]
            row[f"{when}_elbo"] = c["elbo"]
            row[f"{when}_reference"] = c["elbo_reference"]
            ok = ok and bool(c["ok"]) and rel <= 1.0
            margins.append(1.0 - rel)
        row["ok"] = ok
        rows.append(row)
    return _summary(rows, margins)
