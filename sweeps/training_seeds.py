"""Seed spread of the T-criteria: digits at the CI budget over many seeds, printed, not gated.

Trains the digits runs of the T-claims' objectives (learned, floor, soft-clip, fixed,
Bernoulli) for seeds ``0 .. N-1`` at the ``ci`` preset's 2000 steps (or ``--steps``), then
prints per criterion the per-seed statistic, its mean ± sd and the weakest seed, next to the
threshold of :mod:`wellposed.training.criteria`: where the thresholds' margins come from.
Not part of CI (10 seeds: 50 runs, 4 to 8 minutes on 2 cores); ``nox -s training_seeds``.

    python sweeps/training_seeds.py [--seeds 10] [--steps 2000] [-j N] [--runs-json PATH]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from wellposed.report import markdown_table
from wellposed.training.criteria import (
    T1_LEVEL,
    T1_OBJECTIVE,
    T1_SPREADS,
    T2_OBJECTIVES,
    T2_RATIO,
    T3_OBJECTIVES,
    T3_RATIO,
    t1_divergence,
    t2_floor,
    t3_fixed_bernoulli,
    t4_objective_check,
)
from wellposed.training.suite import load_runs, preset_configs, run_suite, save_runs


def _row(name: str, values: list[float], threshold: str, weakest: float) -> list[str]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return [
        name,
        str(len(values)),
        f"{statistics.fmean(values):.4g} ± {sd:.2g}",
        f"{weakest:.4g}",
        threshold,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("-j", "--jobs", type=int, default=None)
    parser.add_argument("--runs-json", default=None, help="reuse / write the run records here")
    ns = parser.parse_args(argv)
    objectives = [T1_OBJECTIVE, *T2_OBJECTIVES, *T3_OBJECTIVES]
    if ns.runs_json and Path(ns.runs_json).is_file():
        runs = load_runs(ns.runs_json)
    else:
        configs = preset_configs(
            "ci", data=["digits"], objectives=objectives, seeds=ns.seeds, steps=ns.steps
        )
        runs = run_suite(configs, jobs=ns.jobs)
        if ns.runs_json:
            save_runs(runs, ns.runs_json)
    t1 = t1_divergence(runs)
    gaps = [T1_LEVEL - r["lowest_lv_flagged"] for r in t1["per_seed"]]
    rows = [
        _row(
            "T1 learned: log ξ - lowest flagged log σ²",
            gaps,
            f"> 0 every seed, mean > {T1_SPREADS:g} sd",
            min(gaps),
        )
    ]
    for cid, res, limit in (
        ("T2", t2_floor(runs), T2_RATIO),
        ("T3", t3_fixed_bernoulli(runs), T3_RATIO),
    ):
        for obj in dict.fromkeys(r["objective"] for r in res["per_seed"]):
            ratios = [r["ratio"] for r in res["per_seed"] if r["objective"] == obj]
            rows.append(
                _row(f"{cid} {obj}: trained / untrained gap", ratios, f"<= {limit:g}", max(ratios))
            )
    print(markdown_table(rows, ["criterion", "seeds", "mean ± sd", "weakest", "threshold"]))
    t4 = t4_objective_check(runs)
    print(
        f"\nT4 objective checks: {'all agree' if t4['ok'] else 'DISAGREE'} over {t4['seeds']} runs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
