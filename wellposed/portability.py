"""Whether the committed reports come out the same under every vector-kernel level torch offers.

torch picks its CPU kernels by what the processor supports (``default``, ``avx2``,
``avx512``) and ``ATEN_CPU_CAPABILITY`` makes any machine run a lower level's choice, so one
machine can play the others: :func:`available_levels` asks torch (in a subprocess per level)
which levels this CPU honours, :func:`regenerate` rebuilds every report under one level (the
claims, reports and figures of ``wellposed check --device cpu``, and ``properties.md`` from
the property suite), and :func:`check` compares each level's reports with the committed ones
through the staleness check (:mod:`wellposed.staleness`: numbers as printed).  A report that
prints a digit torch's kernels decide is stale under some level.

``python -m wellposed.portability [--reports DIR] [--levels default,avx2] [--no-properties]
[--keep DIR]`` runs it (``nox -s portability``) and exits 1 naming each level and stale
report, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from wellposed.staleness import compare

__all__ = ["LEVELS", "available_levels", "check", "main", "regenerate"]

#: torch's CPU kernel levels on x86, lowest first (``ATEN_CPU_CAPABILITY`` values)
LEVELS = ("default", "avx2", "avx512")
_ASK = "import torch; print(torch.backends.cpu.get_cpu_capability())"


def _env(level: str) -> dict[str, str]:
    return {**os.environ, "ATEN_CPU_CAPABILITY": level}


def available_levels(candidates: Sequence[str] = LEVELS) -> list[str]:
    """The kernel levels this CPU runs: those torch reports back when asked for them (a level
    the CPU lacks falls back to a lower one, and is left out)."""
    found = []
    for level in candidates:
        out = (
            subprocess.run(
                [sys.executable, "-c", _ASK],
                env=_env(level),
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .lower()
        )
        if out == level:
            found.append(level)
    return found


def check_command(out_dir: Path) -> list[str]:
    """Every claim, its reports and figures, on the CPU, into ``out_dir``."""
    return [
        sys.executable,
        "-m",
        "wellposed",
        "check",
        "--device",
        "cpu",
        "--report-dir",
        str(out_dir),
        "-q",
    ]


def properties_command(out_dir: Path) -> list[str]:
    """The property suite (profile ci) writing ``out_dir/properties.md``."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "properties",
        "-q",
        "-p",
        "no:cacheprovider",
        "--hypothesis-profile=ci",
        f"--properties-report={out_dir / 'properties.md'}",
    ]


def regenerate(
    level: str,
    out_dir: Path,
    committed: Path,
    *,
    properties: bool = True,
    commands: Sequence[Sequence[str]] | None = None,
) -> list[str]:
    """Rebuild the reports under ``level`` into ``out_dir``; the problems (a command that
    failed: a claim regressed under this level) as lines.  Without ``properties`` the
    committed ``properties.md`` is copied in instead (it is then compared with itself)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if commands is None:
        commands = [check_command(out_dir)] + ([properties_command(out_dir)] if properties else [])
    if not properties and (committed / "properties.md").exists():
        shutil.copy2(committed / "properties.md", out_dir / "properties.md")
    problems = []
    for cmd in commands:
        done = subprocess.run(list(cmd), env=_env(level), capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            problems.append(
                f"{level}: `{' '.join(cmd[1:4])} ...` exited {done.returncode}: " + " | ".join(tail)
            )
    return problems


def check(
    committed: Path,
    work: Path,
    levels: Sequence[str],
    *,
    properties: bool = True,
    commands: Sequence[Sequence[str]] | None = None,
) -> list[str]:
    """Regenerate under each level into ``work/<level>`` and compare with ``committed``;
    every problem as a line (empty: the reports are the same under every level)."""
    problems = []
    for level in levels:
        out = work / level
        shutil.rmtree(out, ignore_errors=True)
        problems += regenerate(level, out, committed, properties=properties, commands=commands)
        problems += [
            f"{level}: {name} differs from the committed report beyond its printed "
            f"digits (see {out / name})"
            for name in compare(committed, out)
        ]
    return problems


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m wellposed.portability", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--reports", default="reports", help="the committed reports (reports)")
    ap.add_argument(
        "--levels",
        default=None,
        help="comma-separated kernel levels (default: every one this CPU runs)",
    )
    ap.add_argument(
        "--no-properties",
        action="store_true",
        help="skip the property suite (properties.md is not regenerated)",
    )
    ap.add_argument("--keep", default=None, help="write the regenerated reports here")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every level reproduces the committed reports, 1 otherwise, 2 on bad usage."""
    args = _parse(argv)
    committed = Path(args.reports)
    if not committed.is_dir():
        print(
            f"error: {committed} is not a directory of reports; pass --reports DIR", file=sys.stderr
        )
        return 2
    levels = args.levels.split(",") if args.levels else available_levels()
    unknown = sorted(set(levels) - set(LEVELS))
    if unknown:
        print(f"error: unknown kernel level(s) {unknown}; use {', '.join(LEVELS)}", file=sys.stderr)
        return 2
    print(f"kernel levels: {', '.join(levels)}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="wellposed-portability-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        problems = check(committed, work, levels, properties=not args.no_properties)
    for line in problems:
        print(f"not portable: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
