"""Presets of training runs and the process pool that trains them, one thread per process.

A preset is a list of :class:`~wellposed.training.loop.RunConfig`: data set x objective x
seed.  ``ci`` is sized for CI (2 cores, no GPU, a few minutes): every objective on digits
with 3 seeds and a few objectives on each synthetic set; ``long`` trains 10 times longer
with 5 seeds.  :func:`run_suite` trains the runs in ``jobs`` spawned worker processes, each
with ``torch.set_num_threads(1)`` (many small models train faster as one single-threaded
process per core than as processes fighting over the cores), and returns the run records
in the order of the configs, independent of ``jobs``.

:func:`cached_runs` is what the T-claims use: the records of ``$WELLPOSED_TRAINING_RUNS``
(the ``runs.json`` that ``wellposed train`` writes) when that file holds every config asked
for, else a fresh training of just those configs.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from wellposed.errors import WellposedInputError
from wellposed.evidence.records import jsonable
from wellposed.training.loop import RunConfig, train_run
from wellposed.training.objectives import OBJECTIVES

__all__ = [
    "PRESETS",
    "RUNS_ENV",
    "cached_only",
    "cached_runs",
    "load_runs",
    "preset_configs",
    "progress_bar",
    "run_suite",
    "save_runs",
]

RUNS_ENV = "WELLPOSED_TRAINING_RUNS"
#: data set -> (objectives, steps) of the ``ci`` preset; ``long`` multiplies the steps by 10
_PLAN: dict[str, tuple[tuple[str, ...], int]] = {
    "digits": (tuple(OBJECTIVES), 2000),
    "manifold": (("learned", "shared", "floor"), 1000),
    "constant": (("learned", "floor"), 1000),
    "quantised": (("learned", "dlogistic", "dequantised"), 1000),
}
PRESETS = {"ci": (3, 1), "long": (5, 10), "smoke": (1, 0)}  # name -> (seeds, step factor)


def preset_configs(
    preset: str = "ci",
    *,
    data: Sequence[str] | None = None,
    objectives: Sequence[str] | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    device: str = "cpu",
    data_path: str | None = None,
) -> list[RunConfig]:
    """The runs of ``preset``, optionally narrowed to ``data`` sets / ``objectives``, with
    ``seeds`` seeds (0..seeds-1) and ``steps`` steps overriding the preset's.  With
    ``data_path`` the runs train on that ``.npy`` file instead (every objective asked for,
    default the Gaussian ones)."""
    if preset not in PRESETS:
        raise WellposedInputError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    n_seeds, factor = PRESETS[preset]
    n_seeds = n_seeds if seeds is None else seeds
    if n_seeds < 1 or (steps is not None and steps < 1):
        raise WellposedInputError("--seeds and --steps must be positive integers")
    for name in objectives or ():
        if name not in OBJECTIVES:
            raise WellposedInputError(
                f"unknown objective {name!r}; choose from {', '.join(OBJECTIVES)}"
            )
    if data_path is not None:
        objs = tuple(objectives or ("learned", "shared", "floor", "softclip", "fixed"))
        plan = {data_path: (objs, 2000)}
    else:
        unknown = [d for d in data or () if d not in _PLAN]
        if unknown:
            raise WellposedInputError(
                f"unknown data set(s) {unknown}; choose from "
                f"{', '.join(_PLAN)} or pass --data FILE.npy"
            )
        plan = {d: _PLAN[d] for d in (data or _PLAN)}
    configs = []
    for name, (objs, base) in plan.items():
        chosen = [o for o in objs if objectives is None or o in objectives]
        if objectives is not None and data_path is None and data is not None:
            chosen = list(objectives)
        n_steps = (
            steps if steps is not None else (max(50, base // 20) if factor == 0 else base * factor)
        )
        for obj in chosen:
            for seed in range(n_seeds):
                configs.append(
                    RunConfig(
                        name,
                        obj,
                        seed,
                        steps=n_steps,
                        device=device,
                        data_is_path=data_path is not None,
                    )
                )
    if not configs:
        raise WellposedInputError("no runs selected; check --data-set and --objectives")
    return configs


def _run_alone(cfg: RunConfig) -> dict[str, Any]:
    """One run in a worker process, on one intra-op thread."""
    torch.set_num_threads(1)
    return train_run(cfg)


def progress_bar(total: int, stream: object = None) -> Callable[[int, str], None]:
    """A progress callback ``(done, label)``: a redrawn bar with elapsed time and an
    estimate of the time left on a terminal, one line per finished run otherwise."""
    out: Any = stream if stream is not None else sys.stderr
    start = time.perf_counter()
    tty = bool(getattr(out, "isatty", lambda: False)())

    def show(done: int, label: str) -> None:
        spent = time.perf_counter() - start
        left = spent / done * (total - done) if done else 0.0
        filled = int(30 * done / max(total, 1))
        bar = "#" * filled + "." * (30 - filled)
        text = f"[{bar}] {done}/{total} runs, {spent:.0f} s, ~{left:.0f} s left ({label})"
        if tty:
            print("\r" + text.ljust(100), end="" if done < total else "\n", file=out, flush=True)
        else:
            print(text, file=out, flush=True)

    return show


def _cost(cfg: RunConfig) -> float:
    return -cfg.steps * (64 if cfg.data == "digits" else 16)


def run_suite(
    configs: Sequence[RunConfig],
    *,
    jobs: int | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every config (``jobs`` processes; 1, or a CUDA device, trains in this process)
    and return the records in the order of ``configs``."""
    if not configs:
        return []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    jobs = min(max(1, cores if jobs is None else int(jobs)), len(configs))
    done: dict[int, dict[str, Any]] = {}
    if jobs == 1 or any(c.device.startswith("cuda") for c in configs):
        threads = torch.get_num_threads()
        try:
            for i, cfg in enumerate(configs):
                done[i] = _run_alone(cfg)
                if progress is not None:
                    progress(len(done), f"{cfg.data} {cfg.objective} seed {cfg.seed}")
        finally:
            torch.set_num_threads(threads)
    else:
        order = sorted(range(len(configs)), key=lambda i: _cost(configs[i]))
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
            futures = {pool.submit(_run_alone, configs[i]): i for i in order}
            for future in as_completed(futures):
                i = futures[future]
                done[i] = future.result()
                if progress is not None:
                    cfg = configs[i]
                    progress(len(done), f"{cfg.data} {cfg.objective} seed {cfg.seed}")
    return [done[i] for i in range(len(configs))]


def _floats(value: Any) -> Any:
    """JSON's ``"nan"`` / ``"inf"`` / ``"-inf"`` strings (how :func:`jsonable` writes
    non-finite numbers) back to floats, recursively."""
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return float(value) if value in ("nan", "inf", "-inf") else value


def load_runs(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The run records :func:`save_runs` wrote (non-finite numbers as floats again)."""
    runs: list[dict[str, Any]] = _floats(
        json.loads(Path(path).read_text(encoding="utf-8")).get("runs", [])
    )
    return runs


def save_runs(runs: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write the run records as JSON (numbers rounded by
    :func:`wellposed.evidence.records.jsonable`), for :func:`cached_runs`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps({"runs": jsonable(list(runs))}, indent=None, allow_nan=False) + "\n",
        encoding="utf-8",
    )


def _key(cfg: RunConfig | dict[str, Any]) -> str:
    d = (
        asdict(replace(cfg, device="cpu"))
        if isinstance(cfg, RunConfig)
        else {**cfg, "device": "cpu"}
    )
    return json.dumps(d, sort_keys=True)


def cached_only(configs: Sequence[RunConfig]) -> list[dict[str, Any]] | None:
    """The records of ``configs`` from ``$WELLPOSED_TRAINING_RUNS`` when that file holds
    every one of them (same config, any device), else None."""
    path = os.environ.get(RUNS_ENV)
    if path and Path(path).is_file():
        by_key = {_key(r["config"]): r for r in load_runs(path)}
        found = [by_key.get(_key(c)) for c in configs]
        if all(r is not None for r in found):
            return found  # type: ignore[return-value]
    return None


def cached_runs(configs: Sequence[RunConfig]) -> list[dict[str, Any]]:
    """The records of ``configs``: :func:`cached_only`'s, else trained now."""
    found = cached_only(configs)
    return run_suite(configs, jobs=1) if found is None else found
