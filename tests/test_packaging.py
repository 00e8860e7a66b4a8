"""What a user picks up: the public names, the version everywhere it is written, typing."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import wellposed

ROOT = Path(__file__).parents[1]


def test_all_lists_exactly_the_lazy_public_names() -> None:
    assert wellposed.__all__ == sorted([*wellposed._LAZY, "__version__"])
    for name in wellposed.__all__:
        assert getattr(wellposed, name) is not None


def test_version_agrees_in_package_pyproject_citation_and_changelog() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == wellposed.__version__
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert re.search(rf"^version: {re.escape(wellposed.__version__)}$", cff, re.MULTILINE)
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{wellposed.__version__}]" in changelog


def test_the_package_ships_its_type_information_and_license() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert (ROOT / "wellposed" / "py.typed").is_file()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["wellposed"]
    assert pyproject["project"]["license"] == "MIT"
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").is_file()


def test_readme_links_work_on_a_package_index_page() -> None:
    """PyPI renders README.md without the repository: every link target is absolute."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets
    relative = [t for t in targets if not re.match(r"https?://|#|mailto:", t)]
    assert not relative, f"relative links in README.md: {relative}"
