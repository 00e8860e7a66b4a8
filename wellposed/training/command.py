"""``wellposed train``: validate the inputs, train the runs in a pool, write the report.

Every input problem (unknown data set or objective, unreadable ``--data``, an objective the
data cannot feed, ``--device cuda`` without CUDA, scikit-learn missing for digits) raises
:class:`~wellposed.errors.WellposedInputError` before any training starts (exit 2).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from wellposed.errors import WellposedInputError
from wellposed.lines.montecarlo import resolve_device
from wellposed.report.text import markdown_table
from wellposed.training.loop import make_model
from wellposed.training.options import train_command
from wellposed.training.report import fmt_spread, write_training_report
from wellposed.training.suite import preset_configs, progress_bar, run_suite, save_runs

__all__ = ["run_train"]


def _check_writable(path: Path) -> None:
    """A file where the report directory should be is an input error (nothing trains)."""
    if path.exists() and not path.is_dir():
        raise WellposedInputError(f"--report-dir {path} is a file; pass a directory")


def run_train(args: argparse.Namespace) -> int:
    """Run ``wellposed train`` for parsed ``args`` (:mod:`wellposed.training.options`)."""
    device = str(resolve_device(args.device))  # cuda without CUDA: exit 2, before training
    objectives = (
        None
        if args.objectives is None
        else [o.strip() for o in args.objectives.split(",") if o.strip()]
    )
    configs = preset_configs(
        args.preset,
        data=args.data_set,
        objectives=objectives,
        seeds=args.seeds,
        steps=args.steps,
        device=device,
        data_path=args.data,
    )
    report_dir = None if args.no_report else Path(args.report_dir)
    if report_dir is not None:
        _check_writable(report_dir)
    for cfg in {(c.data, c.objective): c for c in configs}.values():
        make_model(cfg, cfg.load())  # bad --data, missing scikit-learn, unfit objective: now
    start = time.perf_counter()
    print(f"training {len(configs)} runs ({args.preset} preset, device {device})", file=sys.stderr)
    runs = run_suite(
        configs, jobs=args.jobs, progress=None if args.quiet else progress_bar(len(configs))
    )
    elapsed = time.perf_counter() - start
    if report_dir is not None:
        for path in write_training_report(runs, report_dir, command=train_command(args)):
            print(f"wrote {path}", file=sys.stderr)
    if args.runs_json is not None:
        save_runs(runs, args.runs_json)
        print(f"wrote {args.runs_json}", file=sys.stderr)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["config"]["data"], r["config"]["objective"]), []).append(r)
    rows = []
    for (data, obj), rs in groups.items():
        last = [r["log"][-1] for r in rs]
        rows.append(
            [
                data,
                obj,
                len(rs),
                fmt_spread([x["train_elbo"] for x in last]),
                fmt_spread([x["held_iwae"] for x in last]),
                fmt_spread([x.get("min_lv") for x in last]),
                f"{sum(r['steps_per_s'] for r in rs) / len(rs):.0f}",
            ]
        )
    print(
        markdown_table(
            rows,
            ["data", "objective", "seeds", "train ELBO", "held-out IWAE", "min log σ²", "steps/s"],
        )
    )
    print(f"\n{len(runs)} runs trained in {elapsed:.0f} s", file=sys.stderr)
    return 0
