"""The T-claims: what Adam does to each objective on digits, gated on every seed it trains.

Each claim trains (or, with ``$WELLPOSED_TRAINING_RUNS``, reads the records ``wellposed
train`` wrote for) the CI-sized digits runs of its objectives, seeds ``seed .. seed + 2``
of the check's ``--seed``, and evaluates its criterion from
:mod:`wellposed.training.criteria` for every seed; one failing seed fails the claim.  A
claim whose criterion fails observes ``check failed`` (a regression: the gate exits 1 and
names it), never a verdict word: a bug or a training change is not a finding about the
objective.  These claims form the ledger group ``training``: a plain ``wellposed check``
does not run them, ``wellposed check T1`` or ``wellposed check --group training`` does.

T4 checks the training objectives themselves against their numpy reference (every objective
on digits).  With ``$WELLPOSED_TRAINING_RUNS`` holding the CI runs it reads their checks, at
the initial and the trained parameters; without, it trains one short run per objective
(:data:`T4_SMOKE_STEPS` steps, one seed: about half a minute), which is what
``mutants/run.py``'s training stage runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from wellposed.claims.registry import Context, Outcome, claim
from wellposed.evidence.records import TrainingFacts
from wellposed.evidence.vocabulary import CHECK_FAILED, Verdict
from wellposed.ledger import Claim
from wellposed.training.criteria import (
    T1_OBJECTIVE,
    T2_OBJECTIVES,
    T3_OBJECTIVES,
    t1_divergence,
    t2_floor,
    t3_fixed_bernoulli,
    t4_objective_check,
)
from wellposed.training.objectives import OBJECTIVES
from wellposed.training.suite import cached_only, cached_runs, preset_configs, run_suite

__all__ = [
    "SEEDS",
    "T4_SMOKE_STEPS",
    "t1_learned_variance_diverges",
    "t2_floor_holds",
    "t3_fixed_and_bernoulli_hold",
    "t4_objectives_match_reference",
]

#: seeds per objective, as in ``nox -s training`` (the ``ci`` preset)
SEEDS = 3
#: T4 without cached runs: steps of its one run per objective
T4_SMOKE_STEPS = 100


def _configs(ctx: Context, objectives: tuple[str, ...], seeds: int = SEEDS) -> list[Any]:
    device = "cuda" if ctx.device == "cuda" else "cpu"
    configs = preset_configs(
        "ci", data=["digits"], objectives=objectives, seeds=seeds, device=device
    )
    return [replace(c, seed=ctx.seed + c.seed) for c in configs]


def _runs(ctx: Context, objectives: tuple[str, ...]) -> list[dict[str, Any]]:
    return cached_runs(_configs(ctx, objectives))


def _seeds_text(res: dict[str, Any], unit: str = "seeds") -> str:
    rows = res["per_seed"]
    bad = [
        f"{r['objective']} {r['seed']}" if "objective" in r else str(r["seed"])
        for r in rows
        if not r["ok"]
    ]
    if not rows:
        return f"check failed: no {unit}"
    if not bad:
        return f"all {len(rows)} {unit}"
    return f"check failed for seed(s) {', '.join(bad)} of {len(rows)} {unit}"


def _observed(res: dict[str, Any], verdict: Verdict) -> Verdict:
    """The ledger's verdict when the criterion holds, else ``check failed``."""
    return verdict if res["ok"] else CHECK_FAILED


@claim("T1")
def t1_learned_variance_diverges(ctx: Context, entry: Claim) -> Outcome:
    """Learned per-pixel variance on digits: the constant pixels' log sigma^2 goes below
    log xi (where the floor stops) for every seed, by more than 3 seed spreads."""
    res = t1_divergence(_runs(ctx, (T1_OBJECTIVE,)))
    worst = max((r["lowest_lv_flagged"] for r in res["per_seed"]), default=float("nan"))
    spread = res["spread"]
    summary = (
        f"{_seeds_text(res)}: flagged-pixel log sigma^2 reached {worst:.3g} or lower "
        f"(level log xi = {res['level']:.3g}); mean {spread['mean']:.3g} below it, "
        f"seed sd {spread['sd']:.2g}, margin {res['margin']:.2g}"
    )
    return Outcome(_observed(res, Verdict.UNBOUNDED), {"training": TrainingFacts(res)}, [], summary)


def _gap_outcome(res: dict[str, Any], below: str) -> Outcome:
    """A T2 / T3 outcome: the seeds' trained/untrained gap ratios (mean ± sd, the largest
    allowed) and the smallest margin, the model staying below ``below``."""
    spread = res["spread"]
    summary = (
        f"{_seeds_text(res)}: trained/untrained gap {spread['mean']:.2g} ± {spread['sd']:.1g} "
        f"(at most {res['ratio_max']:g}), below {below}; smallest margin {res['margin']:.2g}"
    )
    return Outcome(_observed(res, Verdict.BOUNDED), {"training": TrainingFacts(res)}, [], summary)


@claim("T2")
def t2_floor_holds(ctx: Context, entry: Claim) -> Outcome:
    """Floor and soft-clip: on the constant pixels Adam closes >= 70% of the gap to the
    per-coordinate supremum and never passes it, every seed."""
    return _gap_outcome(t2_floor(_runs(ctx, T2_OBJECTIVES)), "the supremum")


@claim("T3")
def t3_fixed_and_bernoulli_hold(ctx: Context, entry: Claim) -> Outcome:
    """Fixed sigma^2 = 1 and Bernoulli: Adam closes >= half the gap to the bound and never
    passes it, every seed."""
    return _gap_outcome(t3_fixed_bernoulli(_runs(ctx, T3_OBJECTIVES)), "the bound")


@claim("T4")
def t4_objectives_match_reference(ctx: Context, entry: Claim) -> Outcome:
    """Every training objective equals its numpy reference at the initial and the trained
    parameters (fixed draws), every run."""
    objectives = tuple(OBJECTIVES)
    runs = cached_only(_configs(ctx, objectives))
    source = "the CI runs"
    if runs is None:
        short = [
            replace(c, steps=T4_SMOKE_STEPS, log_points=2)
            for c in _configs(ctx, objectives, seeds=1)
        ]
        runs, source = run_suite(short, jobs=1), f"{T4_SMOKE_STEPS}-step runs"
    res = t4_objective_check(runs)
    summary = (
        f"{_seeds_text(res, 'runs')} ({len(objectives)} objectives, {source}): objective = "
        "reference "
        f"at initial and trained parameters; margin {res['margin']:.2g} of the tolerance"
    )
    return Outcome(_observed(res, Verdict.IDENTITY), {"training": TrainingFacts(res)}, [], summary)
