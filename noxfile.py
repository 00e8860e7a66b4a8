"""nox sessions for wellposed.

Default sessions (``nox`` with no arguments): ``tests`` and ``properties``.
Optional sessions (``nox -s NAME``): ``nightly``, ``lint``, ``benchmark``.

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

import json
import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = False

ROOT = Path(__file__).parent
TORCH_VERSION = "2.13.0"
REPORTS = ("claims.md", "claims.json", "properties.md", "families.md")


def _torch_install_args() -> list[str]:
    """pip arguments that install the torch build this machine should use."""
    choice = os.environ.get("WELLPOSED_TORCH", "auto").strip().lower()
    if choice == "auto":
        choice = "cuda" if shutil.which("nvidia-smi") else "cpu"
    if choice not in {"cpu", "cuda", "skip"}:
        raise SystemExit(f"WELLPOSED_TORCH={choice!r}: use one of auto, cpu, cuda, skip")
    if choice == "skip":
        return []
    spec = f"torch=={TORCH_VERSION}+cpu" if choice == "cpu" else f"torch=={TORCH_VERSION}"
    index = os.environ.get("WELLPOSED_TORCH_INDEX")
    return [spec, "--extra-index-url", index] if index else [spec]


def _install(session: nox.Session, extras: str = "test") -> None:
    """torch first (build chosen above), then the package, all under constraints.txt."""
    pins = ("-c", str(ROOT / "constraints.txt"))
    torch_args = _torch_install_args()
    if torch_args:
        session.install(*pins, *torch_args)
    session.install(*pins, "-e", f".[{extras}]")


def _snapshot_reports() -> dict[str, object]:
    """The reports' contents, minus what legitimately differs between machines: the
    ``versions`` record in claims.json (Python / torch build of the machine that ran)."""
    out: dict[str, object] = {}
    for name in REPORTS:
        path = ROOT / "reports" / name
        if not path.exists():
            out[name] = None
        elif name.endswith(".json"):
            doc = json.loads(path.read_text(encoding="utf-8"))
            doc.pop("versions", None)
            out[name] = doc
        else:
            out[name] = path.read_bytes()
    return out


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, integration, CLI and detection-power tests (tests/)."""
    _install(session)
    session.run("pytest", "tests", *session.posargs)


def _properties(session: nox.Session, profile: str) -> None:
    _install(session)
    before = _snapshot_reports()
    args = list(session.posargs)
    if not any(a.startswith("--hypothesis-profile") for a in args):
        args.insert(0, f"--hypothesis-profile={profile}")
    session.run("pytest", "properties", "-p", "no:cacheprovider", *args)
    # the committed reports are computed on the CPU (a GPU draws other Monte Carlo samples)
    session.run("wellposed", "check", "--device", "cpu", "--report-dir", "reports")
    after = _snapshot_reports()
    stale = [name for name in REPORTS if before[name] != after[name]]
    if stale:
        session.error(
            "committed reports were stale and have been regenerated: "
            + ", ".join(f"reports/{n}" for n in stale)
            + ". Review and commit them (git diff reports/)."
        )


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
    """ruff check (lint rules in pyproject.toml)."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session(default=False)
def benchmark(session: nox.Session) -> None:
    """Monte Carlo ELBO throughput (benchmarks/), printed, never asserted."""
    _install(session)
    session.run("python", "benchmarks/bench_mc_elbo.py", *session.posargs)
