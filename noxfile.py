#!/usr/bin/env python3
# /// script
# dependencies = ["nox>=2024.3.2"]
# ///
"""nox sessions for wellposed.

Default sessions (``nox`` with no arguments): ``tests`` and ``properties``.
Optional sessions (``nox -s NAME``): ``nightly``, ``lint``, ``benchmark``, ``seeds``, ``mutants``,
``portability`` (the reports under every torch CPU kernel level),
``tests_pythons`` (the test suite on every supported Python found on this machine),
``tests_lowest`` (the declared lower bounds, constraints-lowest.txt), ``sdist`` (pytest from
the unpacked sdist), ``docs`` (the documentation site, strict), ``cluster`` (a seed sweep on
a 2-worker local Dask cluster against the local pool), ``training`` (CI-sized training runs,
reports/training.md and the T-claims).  .github/workflows/ci.yml runs one job per session.

torch: every session installs torch before the package.  On a machine without
CUDA (no ``nvidia-smi`` on PATH) the CPU build ``torch==2.13.0+cpu`` is used;
with CUDA the default PyPI build (CUDA wheels on Linux).  Override with the
environment variables

* ``WELLPOSED_TORCH=cpu|cuda|skip`` (``skip`` keeps whatever torch pip resolves
  from the project's own ``torch>=2.4`` requirement), and
* ``WELLPOSED_TORCH_INDEX=URL``: an extra package index for the torch wheel,
  e.g. PyTorch's CPU index on machines that do not carry the CPU wheel locally.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = False

ROOT = Path(__file__).parent
TORCH_VERSION = "2.13.0"
# the Pythons the package supports (requires-python and the classifiers in pyproject.toml)
PYTHONS = ["3.11", "3.12", "3.13"]
# lint tools, pinned: a new release may add rules or type errors on its own
RUFF_VERSION = "0.17.6"
MYPY_VERSION = "2.4.1"


def _torch_install_args(version: str = TORCH_VERSION) -> list[str]:
    """pip arguments that install the torch build this machine should use."""
    choice = os.environ.get("WELLPOSED_TORCH", "auto").strip().lower()
    if choice == "auto":
        choice = "cuda" if shutil.which("nvidia-smi") else "cpu"
    if choice not in {"cpu", "cuda", "skip"}:
        raise SystemExit(f"WELLPOSED_TORCH={choice!r}: use one of auto, cpu, cuda, skip")
    if choice == "skip":
        return []
    spec = f"torch=={version}+cpu" if choice == "cpu" else f"torch=={version}"
    index = os.environ.get("WELLPOSED_TORCH_INDEX")
    return [spec, "--extra-index-url", index] if index else [spec]


def _install(
    session: nox.Session,
    extras: str = "test",
    target: str = "-e .",
    constraints: str = "constraints.txt",
    torch: str = TORCH_VERSION,
) -> None:
    """torch first (build chosen above), then the package (``target``: the checkout,
    editable, or an unpacked sdist), all under ``constraints``."""
    pins = ("-c", str(ROOT / constraints))
    torch_args = _torch_install_args(torch)
    if torch_args:
        session.install(*pins, *torch_args)
    *editable, path = target.split()
    session.install(*pins, *editable, f"{path}[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, integration, CLI and detection-power tests (tests/), the Dask test included."""
    _install(session, extras="test,cluster")
    session.run("pytest", "tests", *session.posargs)


@nox.session(python=PYTHONS, default=False)
def tests_pythons(session: nox.Session) -> None:
    """The test suite on each supported Python (interpreters missing here are skipped).

    The ``torch==2.13.0+cpu`` wheel for another Python comes from ``WELLPOSED_TORCH_INDEX``
    (e.g. https://download.pytorch.org/whl/cpu); ``WELLPOSED_TORCH=cuda`` takes PyPI's
    default build instead, which runs on a CPU as well.
    """
    _install(session, extras="test,cluster")
    session.run("pytest", "tests", *session.posargs)


#: the lowest versions pyproject.toml allows (requires-python's 3.11: numpy 1.26 and torch
#: 2.4 have no wheels for 3.13); pip's equivalent of uv's --resolution lowest-direct
LOWEST_TORCH = "2.4.0"


@nox.session(python="3.11", default=False)
def tests_lowest(session: nox.Session) -> None:
    """The test suite at the declared lower bounds (constraints-lowest.txt, torch 2.4.0)."""
    _install(
        session, extras="test,cluster", constraints="constraints-lowest.txt", torch=LOWEST_TORCH
    )
    session.run("pytest", "tests", *session.posargs)


@nox.session(default=False)
def sdist(session: nox.Session) -> None:
    """Build the sdist (python -m build --sdist), unpack it, install it and run its tests."""
    session.install("build")
    tmp = Path(session.create_tmp())
    shutil.rmtree(tmp / "dist", ignore_errors=True)
    session.run("python", "-m", "build", "--sdist", "--outdir", str(tmp / "dist"))
    (archive,) = (tmp / "dist").glob("wellposed-*.tar.gz")
    unpacked = tmp / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    (src,) = unpacked.iterdir()
    _install(session, extras="test,cluster", target=str(src))
    with session.chdir(src):  # the sdist's own tests, against the installed package
        session.run("pytest", "tests", "-p", "no:cacheprovider", *session.posargs)


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml) into site/, strict: a warning fails the build.

    The API reference is read from the source by griffe (static analysis), so neither the
    package nor torch is installed here.
    """
    session.install("-c", str(ROOT / "constraints.txt"), "mkdocs-material", "mkdocstrings-python")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs)


@nox.session(default=False)
def cluster(session: nox.Session) -> None:
    """A small seed sweep on a 2-worker local Dask cluster, equal to the local pool's."""
    _install(session, extras="test,cluster")
    session.run("pytest", "tests/test_executor.py", *session.posargs)


def _properties(session: nox.Session, profile: str) -> None:
    _install(session)
    committed = Path(session.create_tmp()) / "committed-reports"
    shutil.rmtree(committed, ignore_errors=True)
    shutil.copytree(ROOT / "reports", committed)
    args = list(session.posargs)
    if not any(a.startswith("--hypothesis-profile") for a in args):
        args.insert(0, f"--hypothesis-profile={profile}")
    session.run("pytest", "properties", "-p", "no:cacheprovider", *args)
    # the committed reports are computed on the CPU (a GPU draws other Monte Carlo samples)
    session.run("wellposed", "check", "--device", "cpu", "--report-dir", "reports")
    # stale = changed beyond the reports' own rounding (another CPU's last bits are not);
    # reports equal up to rounding get their committed bytes back
    session.run("python", "-m", "wellposed.staleness", str(committed), "reports")


@nox.session
def properties(session: nox.Session) -> None:
    """The main job: Hypothesis properties (profile ci), then every claim, then reports/."""
    _properties(session, "ci")


@nox.session(default=False)
def nightly(session: nox.Session) -> None:
    """The property suite with the nightly profile (many examples, long targeting)."""
    _properties(session, "nightly")


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check and mypy (rules and strictness in pyproject.toml)."""
    session.install(f"ruff=={RUFF_VERSION}")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # mypy needs the package and its dependencies (torch, numpy, ...) to read their types
    _install(session, extras="test")
    session.install(f"mypy=={MYPY_VERSION}")
    session.run("mypy", *session.posargs)


@nox.session(default=False)
def training(session: nox.Session) -> None:
    """CI-sized training (``wellposed train --preset ci``): reports/training.md and its figures,
    then the T-claims gated on the same runs (``wellposed check --group training``).

    Training is float32 optimisation, so the report is rounded coarsely and regenerated
    here without a staleness check; what this session gates is the T-claims' verdicts.
    Extra arguments go to ``wellposed train`` (e.g. ``-- --preset long``).
    """
    _install(session, extras="test,train")
    runs = Path(session.create_tmp()) / "training-runs.json"
    session.run(
        "wellposed",
        "train",
        "--preset",
        "ci",
        "--report-dir",
        "reports",
        "--runs-json",
        str(runs),
        *session.posargs,
    )
    session.run(
        "wellposed", "check", "--group", "training", env={"WELLPOSED_TRAINING_RUNS": str(runs)}
    )


@nox.session(default=False)
def training_seeds(session: nox.Session) -> None:
    """The T-criteria's seed spread (sweeps/training_seeds.py): digits at the CI budget over
    10 seeds (extra arguments go to the script, e.g. ``-- --seeds 20``), printed, not gated:
    where the thresholds of wellposed/training/criteria.py get their margins."""
    _install(session, extras="test,train")
    session.run("python", "sweeps/training_seeds.py", *session.posargs)


@nox.session(default=False)
def benchmark(session: nox.Session) -> None:
    """Monte Carlo ELBO throughput (benchmarks/), printed, never asserted."""
    _install(session)
    session.run("python", "benchmarks/bench_mc_elbo.py", *session.posargs)


def _committed(session: nox.Session) -> Path:
    """A copy of the committed reports/, to compare the regenerated ones with."""
    committed = Path(session.create_tmp()) / "committed-reports"
    shutil.rmtree(committed, ignore_errors=True)
    shutil.copytree(ROOT / "reports", committed)
    return committed


@nox.session(default=False)
def seeds(session: nox.Session) -> None:
    """Every claim under 20 seeds, the cheap ones under 100 (sweeps/seeds.py):
    reports/seeds.md, fails on a flip, then
    compares it with the committed one (its seconds aside; stale = review and commit it)."""
    _install(session)
    committed = _committed(session)
    session.run("python", "sweeps/seeds.py", *session.posargs)
    session.run("python", "-m", "wellposed.staleness", str(committed), "reports")


@nox.session(default=False)
def mutants(session: nox.Session) -> None:
    """Planted faults (mutants/faults.toml) against gate, tests, properties: reports/mutants.md,
    then compared with the committed one (its seconds aside).  Installs the ``train`` extra
    (scikit-learn): the training gate stage trains short digits runs."""
    _install(session, extras="test,train")
    committed = _committed(session)
    session.run("python", "mutants/run.py", *session.posargs)
    session.run("python", "-m", "wellposed.staleness", str(committed), "reports")


@nox.session(default=False)
def portability(session: nox.Session) -> None:
    """Every committed report regenerated under each torch CPU kernel level this machine
    offers (ATEN_CPU_CAPABILITY = default, avx2, avx512 where the CPU has it) and compared
    with reports/ by the staleness check: a report printing a digit the kernels decide
    fails.  Extra arguments go to ``python -m wellposed.portability`` (e.g.
    ``-- --levels default,avx2 --no-properties``)."""
    _install(session)
    session.run("python", "-m", "wellposed.portability", "--reports", "reports", *session.posargs)


if __name__ == "__main__":
    nox.main()
