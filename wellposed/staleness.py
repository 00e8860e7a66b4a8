"""Whether committed reports still match regenerated ones, up to the reports' own rounding.

Reports round every number (``wellposed.evidence.records``), yet a number lying on a
rounding boundary can still print one unit apart on another CPU.  The comparison here is
what the gate's staleness check uses: identical text around the numbers, identical JSON
structure, strings and booleans, and numbers equal within :data:`RTOL` relative (or both at
most the error floor).  A figure (``figures/<name>.png``) is compared through the plotted
data written next to it (``figures/<name>.json``), never through its pixels: a PNG whose data
matches keeps its committed bytes, whatever the local matplotlib / freetype drew.
``python -m wellposed.staleness OLD_DIR NEW_DIR`` compares the reports of two directories,
restores the committed bytes of those that match, and exits 1 naming each report that
changed.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

__all__ = ["FIGURES", "RTOL", "REPORTS", "compare", "json_match", "main", "text_match"]

#: relative tolerance between two printed numbers (a few units in their 4th digit)
RTOL = 5e-3
_FLOOR = 1.0e-8
REPORTS = ("claims.md", "claims.json", "properties.md", "families.md")
#: the figure directory (PNG + plotted-data JSON per figure), relative to the reports
FIGURES = "figures"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _close(a: float, b: float) -> bool:
    if a == b or (abs(a) <= _FLOOR * 1.01 and abs(b) <= _FLOOR * 1.01):
        return True
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= RTOL * max(abs(a), abs(b))


def json_match(old: object, new: object, ignore: frozenset[str] = frozenset({"versions"})) -> bool:
    """Same structure, keys, strings and booleans; numbers within :data:`RTOL`."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = set(old) - ignore
        return keys == set(new) - ignore and all(json_match(old[k], new[k], ignore) for k in keys)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(
            json_match(a, b, ignore) for a, b in zip(old, new, strict=True)
        )
    if isinstance(old, bool) or isinstance(new, bool):
        return old is new
    if isinstance(old, int | float) and isinstance(new, int | float):
        return _close(float(old), float(new))
    return old == new


def text_match(old: str, new: str) -> bool:
    """The same text once numbers are set aside, and the numbers within :data:`RTOL`.

    Table padding follows the width of the printed numbers, so runs of spaces are folded."""
    def split(s: str) -> tuple[str, list[float]]:
        nums = [float(m) for m in _NUMBER.findall(s)]
        # fold padding and table rules (their widths follow the numbers), keep every sign
        text = re.sub(r"-{3,}", "---", _NUMBER.sub("#", s))
        return re.sub(r"[ \t]+", " ", text), nums

    (t_old, n_old), (t_new, n_new) = split(old), split(new)
    return t_old == t_new and len(n_old) == len(n_new) and all(
        _close(a, b) for a, b in zip(n_old, n_new, strict=True))


def _match(name: str, old: bytes, new: bytes) -> bool:
    if old == new:
        return True
    if name.endswith(".json"):
        return json_match(json.loads(old), json.loads(new))
    return text_match(old.decode("utf-8"), new.decode("utf-8"))


def _figure_names(old_dir: Path, new_dir: Path) -> list[str]:
    """Stems of every figure (PNG or data JSON) under either ``figures/`` directory."""
    stems = {p.stem for d in (old_dir, new_dir) if (d / FIGURES).is_dir()
             for p in (d / FIGURES).iterdir() if p.suffix in (".png", ".json")}
    return sorted(stems)


def _compare_figure(old_dir: Path, new_dir: Path, stem: str) -> bool:
    """A figure is fresh iff both sides have its PNG and data and the data match; then both
    files get their committed bytes back."""
    paths = [(old_dir / FIGURES / f"{stem}{ext}", new_dir / FIGURES / f"{stem}{ext}")
             for ext in (".json", ".png")]
    if not all(o.exists() and n.exists() for o, n in paths):
        return False
    (old_json, new_json), _ = paths
    if not _match(old_json.name, old_json.read_bytes(), new_json.read_bytes()):
        return False
    for old_p, new_p in paths:
        old = old_p.read_bytes()
        if new_p.read_bytes() != old:
            new_p.write_bytes(old)
    return True


def compare(old_dir: Path, new_dir: Path) -> list[str]:
    """The reports (and figures, ``figures/<stem>``) of ``new_dir`` that changed beyond
    rounding; those that did not get the bytes of ``old_dir`` back."""
    stale = []
    for name in REPORTS:
        old_p, new_p = old_dir / name, new_dir / name
        if not old_p.exists() or not new_p.exists():
            if old_p.exists() != new_p.exists():
                stale.append(name)
            continue
        old, new = old_p.read_bytes(), new_p.read_bytes()
        if _match(name, old, new):
            new_p.write_bytes(old)  # equal up to rounding: keep the committed bytes
        else:
            stale.append(name)
    stale += [f"{FIGURES}/{stem}" for stem in _figure_names(old_dir, new_dir)
              if not _compare_figure(old_dir, new_dir, stem)]
    return stale


def main(argv: list[str] | None = None) -> int:
    """Compare ``OLD_DIR`` (the committed reports) with ``NEW_DIR`` (just regenerated)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m wellposed.staleness OLD_DIR NEW_DIR", file=sys.stderr)
        return 2
    new_dir = Path(args[1])
    stale = compare(Path(args[0]), new_dir)
    for name in stale:
        print(f"stale: {new_dir / name} changed beyond rounding; review and commit it",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
