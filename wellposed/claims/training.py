"""The T-claims: what Adam does to each objective on digits, gated on every seed it trains.

Each claim trains (or, with ``$WELLPOSED_TRAINING_RUNS``, reads the records ``wellposed
train`` wrote for) the CI-sized digits runs of its objectives, seeds ``seed .. seed + 2``
of the check's ``--seed``, and evaluates its criterion from
:mod:`wellposed.training.criteria` for every seed; one failing seed fails the claim.  These
claims form the ledger group ``training``: a plain ``wellposed check`` does not run them,
``wellposed check T1`` or ``wellposed check --group training`` does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from wellposed.claims.registry import Context, Outcome, claim
from wellposed.evidence.decide import BOUNDED, INCONCLUSIVE, UNBOUNDED
from wellposed.evidence.records import TrainingFacts
from wellposed.evidence.vocabulary import Verdict
from wellposed.ledger import Claim
from wellposed.training.criteria import (
    T1_OBJECTIVE,
    T2_OBJECTIVES,
    T3_OBJECTIVES,
    t1_divergence,
    t2_floor,
    t3_fixed_bernoulli,
)
from wellposed.training.suite import cached_runs, preset_configs

__all__ = ["SEEDS", "t1_learned_variance_diverges", "t2_floor_holds", "t3_fixed_and_bernoulli_hold"]

#: seeds per objective, as in ``nox -s training`` (the ``ci`` preset)
SEEDS = 3


def _runs(ctx: Context, objectives: tuple[str, ...]) -> list[dict[str, Any]]:
    device = "cuda" if ctx.device == "cuda" else "cpu"
    configs = preset_configs(
        "ci", data=["digits"], objectives=objectives, seeds=SEEDS, device=device
    )
    return cached_runs([replace(c, seed=ctx.seed + c.seed) for c in configs])


def _seeds_text(res: dict[str, Any]) -> str:
    rows = res["per_seed"]
    bad = [r["seed"] for r in rows if not r["ok"]]
    return (
        f"all {len(rows)} seeds"
        if not bad
        else f"fails for seed(s) {', '.join(map(str, bad))} of {len(rows)}"
    )


@claim("T1")
def t1_learned_variance_diverges(ctx: Context, entry: Claim) -> Outcome:
    """Learned per-pixel variance on digits: the constant pixels' log sigma^2 reaches below
    the level during training, for every seed."""
    res = t1_divergence(_runs(ctx, (T1_OBJECTIVE,)))
    worst = max(r["lowest_lv_flagged"] for r in res["per_seed"])
    summary = (
        f"{_seeds_text(res)}: flagged-pixel log sigma^2 reached {worst:.3g} or lower "
        f"(level {res['level']:g}), margin {res['margin']:.2g}"
    )
    return Outcome(
        UNBOUNDED if res["ok"] else INCONCLUSIVE, {"training": TrainingFacts(res)}, [], summary
    )


def _bounded(res: dict[str, Any]) -> Verdict:
    return BOUNDED if res["ok"] else UNBOUNDED


@claim("T2")
def t2_floor_holds(ctx: Context, entry: Claim) -> Outcome:
    """Floor and soft-clip: training ELBO below the analytic bound at every step, every seed."""
    res = t2_floor(_runs(ctx, T2_OBJECTIVES))
    summary = f"{_seeds_text(res)} below the bound; smallest margin {res['margin']:.3g} nats"
    return Outcome(_bounded(res), {"training": TrainingFacts(res)}, [], summary)


@claim("T3")
def t3_fixed_and_bernoulli_hold(ctx: Context, entry: Claim) -> Outcome:
    """Fixed sigma^2 = 1 and Bernoulli: below their bounds at every step, every seed."""
    res = t3_fixed_bernoulli(_runs(ctx, T3_OBJECTIVES))
    summary = f"{_seeds_text(res)} below the bound; smallest margin {res['margin']:.3g} nats"
    return Outcome(_bounded(res), {"training": TrainingFacts(res)}, [], summary)
