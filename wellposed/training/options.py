"""The ``wellposed train`` command line: its argparse parser and help (imports no torch).

:mod:`wellposed.cli` registers the parser with :func:`add_train_parser` and runs
:func:`wellposed.training.command.run_train` on the parsed arguments; this module imports
only the standard library, so ``wellposed --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

__all__ = ["EXIT_TRAIN", "add_train_parser", "train_command"]

EXIT_TRAIN = """\
exit status:
  0  the runs trained and the report was written (whatever the T-claim criteria say;
     `wellposed check --group training` gates them)
  2  bad usage or input (unknown data set or objective, unreadable --data, an objective
     the data cannot feed, cuda without CUDA, scikit-learn missing for digits)"""


def train_command(args: argparse.Namespace) -> str:
    """The command line that reproduces the runs (no paths but a --data file's name)."""
    parts = ["wellposed train", f"--preset {args.preset}"]
    parts += [f"--data-set {d}" for d in args.data_set or ()]
    if args.data is not None:
        parts.append(f"--data {Path(args.data).name}")
    for flag, value in (
        ("--objectives", args.objectives),
        ("--seeds", args.seeds),
        ("--steps", args.steps),
    ):
        if value is not None:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def add_train_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    func: Callable[[argparse.Namespace], int],
) -> None:
    """Register ``train`` on ``sub``; ``func(namespace) -> exit status`` runs it."""
    p = sub.add_parser(
        "train",
        help="train App. C.2 VAEs per objective and write reports/training.md",
        description="Train the App. C.2 VAE with Adam under each objective "
        "(learned / shared / floored / soft-clipped / fixed variance, Bernoulli, "
        "continuous Bernoulli, discretised logistic, dequantised Gaussian) on "
        "digits and synthetic sets, several seeds each, one single-threaded "
        "process per core; write reports/training.md and its figures.",
        epilog=EXIT_TRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--preset",
        choices=("ci", "long", "smoke"),
        default="ci",
        help="ci: 3 seeds, 2000 steps on digits (a few minutes on 2 cores); long: "
        "5 seeds, 10x the steps; smoke: 1 seed, 1/20 of the steps",
    )
    p.add_argument(
        "--data-set",
        action="append",
        default=None,
        metavar="NAME",
        choices=("digits", "manifold", "constant", "quantised"),
        help="built-in data set (repeatable; default: all of the preset)",
    )
    p.add_argument(
        "--data",
        metavar="X.npy",
        default=None,
        help="train on this .npy array instead (validated like audit-data)",
    )
    p.add_argument(
        "--objectives",
        metavar="A,B",
        default=None,
        help="comma-separated objectives (default: the preset's)",
    )
    p.add_argument("--seeds", type=int, default=None, help="seeds per objective (0..N-1)")
    p.add_argument("--steps", type=int, default=None, help="Adam steps per run")
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="train on the CPU (default) or a CUDA GPU",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: one per core)",
    )
    p.add_argument(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="writes DIR/training.md and DIR/training/ (default: ./reports)",
    )
    p.add_argument(
        "--runs-json",
        default=None,
        metavar="PATH",
        help="also write the run records as JSON to PATH "
        "(WELLPOSED_TRAINING_RUNS=PATH lets the T-claims reuse them)",
    )
    p.add_argument("--no-report", action="store_true", help="write no report")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=func)
