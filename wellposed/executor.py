"""Where independent tasks run: a local process pool (default) or a Dask cluster.

Every task the harness fans out (one claim under one seed, one planted fault, one training
run) is seeded by its own arguments only, so *where* it runs never changes its result:
:func:`open_executor` hands back a :class:`concurrent.futures.Executor` and the callers
(:mod:`wellposed.gate`, ``sweeps/seeds.py``, ``mutants/run.py``) submit to it unchanged.

* ``"local"``: a :class:`~concurrent.futures.ProcessPoolExecutor` of ``jobs`` spawned
  processes (spawn, not fork: torch's thread pools do not survive a fork).
* ``"dask"``: the ``concurrent.futures`` face of a ``distributed.Client``
  (``pip install 'wellposed[cluster]'``).  The scheduler is the one at
  ``$WELLPOSED_DASK_SCHEDULER`` (e.g. ``tcp://10.0.0.5:8786``, started with
  ``dask scheduler`` and ``dask worker ADDRESS --nthreads 1`` on each machine, every
  machine with the same ``wellposed`` installed); without it a ``LocalCluster`` of ``jobs``
  single-threaded worker processes is started here and closed on exit.

``distributed`` is imported only when ``"dask"`` is asked for, so the default path (and
every ``--help``) never pays for it.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, TypeVar

from wellposed.errors import WellposedInputError

__all__ = ["EXECUTORS", "SCHEDULER_ENV", "default_jobs", "map_unordered", "open_executor"]

#: the executor kinds ``--executor`` accepts
EXECUTORS = ("local", "dask")
#: environment variable naming a running Dask scheduler (``tcp://host:8786``)
SCHEDULER_ENV = "WELLPOSED_DASK_SCHEDULER"

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """Worker processes for a local run: the cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _distributed() -> Any:
    """The ``distributed`` module, or an input error that says how to install it."""
    try:
        return importlib.import_module("distributed")
    except ImportError as exc:
        raise WellposedInputError(
            "--executor dask needs the 'distributed' package: pip install "
            "'wellposed[cluster]' (or use --executor local)"
        ) from exc


@contextmanager
def _dask_executor(jobs: int) -> Iterator[Executor]:
    """A ``distributed`` client's executor: on ``$WELLPOSED_DASK_SCHEDULER`` if set, else on
    a ``LocalCluster`` of ``jobs`` one-thread worker processes started (and closed) here."""
    distributed = _distributed()
    address = os.environ.get(SCHEDULER_ENV, "").strip()
    if address:
        try:
            client = distributed.Client(address, timeout="30s")
        except OSError as exc:
            raise WellposedInputError(
                f"cannot reach the Dask scheduler {SCHEDULER_ENV}={address!r} ({exc}); start "
                "one with `dask scheduler`, or unset the variable for a local cluster"
            ) from exc
        cluster = None
    else:
        # silence_logs: the nanny's "still alive, killing" notes on close are not news
        cluster = distributed.LocalCluster(
            n_workers=jobs,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: never clashes with another cluster
            silence_logs=logging.ERROR,
        )
        client = distributed.Client(cluster)
    try:
        # pure=False: two tasks with equal arguments are still two runs (never merged)
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextmanager
def open_executor(kind: str = "local", jobs: int | None = None) -> Iterator[Executor]:
    """An executor of ``kind`` (:data:`EXECUTORS`) with ``jobs`` workers (default: one per
    core; for a remote scheduler, the cluster's own workers are used and ``jobs`` is ignored).

    Unknown kinds, a missing ``distributed`` or an unreachable scheduler raise
    :class:`~wellposed.errors.WellposedInputError` before any task runs.
    """
    if kind not in EXECUTORS:
        raise WellposedInputError(f"unknown executor {kind!r}; choose from {', '.join(EXECUTORS)}")
    workers = default_jobs() if jobs is None else max(1, int(jobs))
    if kind == "dask":
        with _dask_executor(workers) as pool:
            yield pool
        return
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=spawn) as local:
        yield local


def map_unordered(
    fn: Callable[[T], R], items: Iterable[T], *, kind: str = "local", jobs: int | None = None
) -> Iterator[tuple[int, R]]:
    """``(index, fn(item))`` for every item, in order of completion, on an executor of
    ``kind``; an exception in a task is raised here (the remaining tasks are cancelled)."""
    tasks = list(items)
    with open_executor(kind, min(jobs or default_jobs(), max(1, len(tasks)))) as pool:
        futures: dict[Future[R], int] = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()
