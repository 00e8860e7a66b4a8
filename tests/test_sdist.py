"""The sdist carries every file of the checkout that the tests and nox sessions read."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
#: in the checkout, deliberately not in the sdist (MANIFEST.in prunes them): CI drives a
#: checkout, never an unpacked sdist
CHECKOUT_ONLY = (".ci/", ".github/")
#: written by the build backend into every sdist
GENERATED = ("PKG-INFO", "setup.cfg", "wellposed.egg-info/")


def _checkout_files() -> set[str]:
    """Tracked and untracked-but-not-ignored files (what a commit would hold)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return {name for name in out.split("\0") if name and (ROOT / name).is_file()}


@pytest.mark.slow
def test_the_sdist_holds_exactly_the_checkout_but_ci(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (e.g. run from an unpacked sdist)")
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools (the build backend) is not installed")
    script = (
        "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    )
    name = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    with tarfile.open(tmp_path / name) as tar:
        listed = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
    shipped = {n for n in listed if not n.startswith(GENERATED)}
    wanted = {n for n in _checkout_files() if not n.startswith(CHECKOUT_ONLY)}
    assert sorted(wanted - shipped) == [], "in the checkout, missing from the sdist"
    assert sorted(shipped - wanted) == [], "in the sdist, not in the checkout"
    # what the test suite needs to run from the unpacked sdist
    for needed in (
        "tests/conftest.py",
        "tests/audit/test_family.py",
        "noxfile.py",
        "constraints.txt",
        "CHANGELOG.md",
        "CITATION.cff",
        "docs/claims.md",
        "properties/conftest.py",
        "mkdocs.yml",
    ):
        assert needed in shipped, needed
