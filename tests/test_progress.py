"""Long commands say what they are doing on stderr, and -q silences it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wellposed", "check", "L6", "--no-report", "-j", "1", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_check_says_what_it_loads_and_runs_before_the_first_claim_finishes() -> None:
    proc = _check()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    loading = next(i for i, ln in enumerate(lines) if ln.startswith("check: loading torch"))
    running = next(i for i, ln in enumerate(lines) if ln.startswith("check: running the claims"))
    first = next(i for i, ln in enumerate(lines) if ln.startswith("[1/1] L6 done"))
    assert loading < running < first
    assert "local executor" in lines[running]


@pytest.mark.slow
def test_quiet_check_prints_no_progress() -> None:
    proc = _check("-q")
    assert proc.returncode == 0, proc.stderr
    assert "check:" not in proc.stderr and "[1/1]" not in proc.stderr
