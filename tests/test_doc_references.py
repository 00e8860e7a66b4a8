"""Every ``wellposed.X.Y`` and ``wellposed/x.py`` that the docs and docstrings name exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
#: where names are written for readers (tests/ may name missing things on purpose)
SOURCES = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "wellposed").rglob("*.py")),
    ROOT / "wellposed" / "ledger.toml",
    *sorted((ROOT / "examples").glob("*.py")),
    *sorted((ROOT / "benchmarks").glob("*")),
]
DOTTED = re.compile(r"\bwellposed(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"(?<![\w/.])wellposed/[\w/]+\.(?:py|toml)\b")
#: the changelog records names that were fixed (they are stale on purpose there)
HISTORY = ROOT / "CHANGELOG.md"


def _resolves(dotted: str) -> bool:
    """``dotted`` is an importable module, or an attribute chain below one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def test_named_modules_and_objects_exist() -> None:
    missing = []
    for source in SOURCES:
        if (
            source == HISTORY
            or not source.is_file()
            or source.suffix not in {".py", ".md", ".toml"}
        ):
            continue
        text = source.read_text(encoding="utf-8")
        for dotted in sorted(set(DOTTED.findall(text))):
            if "__main__" not in dotted and not _resolves(dotted.rstrip(".")):
                missing.append(f"{source.relative_to(ROOT)}: {dotted}")
        for path in sorted(set(PATH.findall(text))):
            if not (ROOT / path).exists():
                missing.append(f"{source.relative_to(ROOT)}: {path}")
    assert not missing, "\n".join(missing)
