"""Mutation report: apply each planted fault of faults.toml to a copy and see what catches it.

For every fault, in a fresh temporary copy of the repository: the gate (``python -m wellposed
check``) runs first; when it passes, the training gate (``python -m wellposed check T4``:
every training objective against its float64 reference, on one 100-step digits run per
objective, about half a minute); then ``pytest tests``; when those pass, ``pytest
properties`` (profile ci).  The first stage that fails has caught the fault.  Writes
``reports/mutants.md`` (fault, kind, caught by, what failed, seconds) and exits 1 when a fault
is not caught, or when an objective / network / estimator fault escapes the gate.

Faults are independent: ``-j N`` runs N at a time on a local process pool, ``--executor
dask`` on a Dask cluster (``$WELLPOSED_DASK_SCHEDULER``, every worker seeing this checkout at
the same path, or a local cluster of N workers); the report is the same, in faults.toml order.

    python mutants/run.py [--only ID ...] [--report PATH] [-j N] [--executor local|dask]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from wellposed.executor import EXECUTORS, map_unordered
from wellposed.report import wrap, write_text

ROOT = Path(__file__).resolve().parents[1]
GATE_KINDS = {"objective", "network", "estimator"}
#: the stages that count as the gate: the core claims, and the training objectives' check
GATE_STAGES = {"gate", "training gate"}


@dataclass(frozen=True)
class Result:
    fault: dict[str, str]
    caught_by: str
    detail: str
    seconds: float


def _copy(dest: Path) -> None:
    """The working tree (tracked and untracked, not ignored) copied to ``dest``."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _apply(root: Path, fault: dict[str, str]) -> None:
    path = root / fault["file"]
    text = path.read_text(encoding="utf-8")
    if text.count(fault["old"]) != 1:
        raise SystemExit(
            f"fault {fault['id']}: 'old' occurs {text.count(fault['old'])} times "
            f"in {fault['file']}; update mutants/faults.toml"
        )
    path.write_text(text.replace(fault["old"], fault["new"]), encoding="utf-8")


def _run(cmd: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "WELLPOSED_PROPERTIES_REPORT": str(root / "properties-report.md"),
    }
    env.pop("WELLPOSED_LEDGER", None)
    env.pop("WELLPOSED_TRAINING_RUNS", None)  # the training gate trains the mutant itself
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)


def _failed_tests(out: str) -> str:
    names = [
        ln.split(" ")[1].split("::")[-1]
        for ln in out.splitlines()
        if ln.startswith(("FAILED ", "ERROR "))
    ]
    return ", ".join(names[:3]) + (" ..." if len(names) > 3 else "") or "exit status"


def _gate_cmd(out_json: Path, *claims: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "wellposed",
        "check",
        *claims,
        "--device",
        "cpu",
        "--no-report",
        "--json",
        str(out_json),
        "-q",
    ]


def _gate_detail(gate: subprocess.CompletedProcess[str], out_json: Path) -> str:
    failed = []
    if out_json.exists():
        failed = [c["id"] for c in json.loads(out_json.read_text())["claims"] if not c["ok"]]
    return ", ".join(failed) or (gate.stderr.strip().splitlines() or ["crash"])[-1]


def _try(fault: dict[str, str], stages: tuple[str, ...]) -> Result:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{fault['id']}-") as tmp:
        root = Path(tmp)
        _copy(root)
        _apply(root, fault)
        out_json = root / "gate.json"
        gate = _run(_gate_cmd(out_json), root)
        if gate.returncode != 0:
            return Result(fault, "gate", _gate_detail(gate, out_json), time.perf_counter() - start)
        if "training" in stages:
            train_json = root / "training-gate.json"
            trained = _run(_gate_cmd(train_json, "T4"), root)
            if trained.returncode != 0:
                return Result(
                    fault,
                    "training gate",
                    _gate_detail(trained, train_json),
                    time.perf_counter() - start,
                )
        for stage, cmd in (
            (
                "tests",
                [sys.executable, "-m", "pytest", "tests", "-x", "-q", "-p", "no:cacheprovider"],
            ),
            (
                "properties",
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "properties",
                    "-x",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "--hypothesis-profile=ci",
                ],
            ),
        ):
            if stage not in stages:
                return Result(
                    fault, f"not by the gate ({stage} not run)", "", time.perf_counter() - start
                )
            proc = _run(cmd, root)
            if proc.returncode != 0:
                return Result(fault, stage, _failed_tests(proc.stdout), time.perf_counter() - start)
    return Result(fault, "NOT CAUGHT", "", time.perf_counter() - start)


def render(results: list[Result], planned: int) -> str:
    """Markdown for reports/mutants.md (``planned``: faults in the run; more than ``results``
    when the run was interrupted)."""
    lines = [
        "# Mutation report",
        "",
        "Generated by `nox -s mutants` (mutants/run.py over mutants/faults.toml); do not edit.",
        wrap(
            "Each planted fault is applied alone to a copy of the repository; the gate "
            "(`wellposed check`) runs first, then the training gate (`wellposed check T4`: "
            "the training objectives against their float64 reference), then `pytest tests`, "
            "then `pytest properties`; the first that fails has caught it. Faults in an "
            "objective, a network or an estimator must be caught by the gate or the training "
            "gate. Times are wall-clock seconds on the "
            "machine that ran it."
        ),
        "",
        "| fault | kind | caught by | what failed | s |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        f = r.fault
        lines.append(
            f"| `{f['id']}`: {f['description']} | {f['kind']} | {r.caught_by} | "
            f"{r.detail} | {r.seconds:.0f} |"
        )
    caught = sum(r.caught_by in GATE_STAGES | {"tests", "properties"} for r in results)
    by_gate = sum(r.caught_by in GATE_STAGES for r in results if r.fault["kind"] in GATE_KINDS)
    need = sum(r.fault["kind"] in GATE_KINDS for r in results)
    lines += [
        "",
        wrap(
            f"{caught} of {len(results)} faults caught; {by_gate} of {need} "
            "objective, network and estimator faults caught by the gate."
        ),
    ]
    if planned > len(results):
        lines.append(f"Interrupted: {planned - len(results)} of {planned} faults not run yet.")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="fault ids to run")
    parser.add_argument("--report", default=str(ROOT / "reports" / "mutants.md"))
    parser.add_argument(
        "--stages",
        default="gate,training,tests,properties",
        help="comma-separated stages to run after the gate (default: all)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        help="faults run at a time (default 1: one after the other, here)",
    )
    parser.add_argument("--executor", choices=EXECUTORS, default="local")
    ns = parser.parse_args(argv)
    faults = tomllib.loads((Path(__file__).parent / "faults.toml").read_text())["fault"]
    if ns.only:
        faults = [f for f in faults if f["id"] in set(ns.only)]
    attempt = partial(_try, stages=tuple(ns.stages.split(",")))
    if ns.jobs == 1 and ns.executor == "local":
        runs = ((i, attempt(fault)) for i, fault in enumerate(faults))
    else:
        runs = map_unordered(attempt, faults, kind=ns.executor, jobs=ns.jobs)
    done: dict[int, Result] = {}
    for i, r in runs:
        print(f"{faults[i]['id']:28s} {r.caught_by:10s} {r.detail} ({r.seconds:.0f} s)", flush=True)
        done[i] = r
        results = [done[k] for k in sorted(done)]
        # written after every fault, so an interrupted run still reports what it found
        write_text(ns.report, render(results, len(faults)))  # the one output layer: atomic
    results = [done[k] for k in sorted(done)]
    bad = [
        r
        for r in results
        if r.caught_by not in GATE_STAGES | {"tests", "properties"}
        or (r.fault["kind"] in GATE_KINDS and r.caught_by not in GATE_STAGES)
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
