"""Whether committed reports still match regenerated ones, number by number as printed.

Reports round every number (``wellposed.evidence.records``: 6 significant digits, fewer where
a report says so), and they print only what the evidence supports on every CPU (torch's
round-off digits never reach a report; ``--json`` keeps them under ``machine_dependent``).
The comparison here is what the gate's staleness check uses (docs/design.md, "Reports that
travel"):

* the words and the structure are identical (JSON: keys, strings, booleans, list lengths;
  text: everything between the numbers, with runs of spaces and table rules folded, since
  their widths follow the numbers);
* every number matches **as printed**: equal values, or, where a value sits on a rounding
  boundary that another CPU rounds the other way, at most :data:`ULPS` unit in the last
  printed digit of the more precise of the two (``1`` vs ``0.999571`` is 429 units of
  ``1e-6``: stale).  Numbers printed with fewer than 3 significant digits on both sides
  (counts, ids such as ``S6``, exponents) must be equal, except that values at most the
  error floor (1e-8, which errors and differences to a bound read as "at most 1e-8") are
  one value;
* JSON keys named in :data:`IGNORED_KEYS` (the software versions, raw machine-dependent
  values) and the wall-clock seconds of ``seeds.md`` and ``mutants.md`` (:data:`MASKS`) are
  left out.

A figure (``figures/<name>.png``) is compared through the plotted data written next to it
(``figures/<name>.json``), never through its pixels.  Reports (and figures) that match get
their committed bytes back, so a regeneration leaves no diff; a report that differs keeps its
new bytes for review.  ``seeds.md`` and ``mutants.md`` (:data:`EXPENSIVE`) are regenerated
only by their own nox sessions: absent from the new directory they are not compared, and
:func:`consistency` checks that they cover exactly the ledger's claims and the planted
faults.  ``python -m wellposed.staleness OLD_DIR NEW_DIR`` runs both and exits 1 naming each
stale or inconsistent report.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tomllib
from pathlib import Path

from wellposed.evidence.records import ERROR_FLOOR
from wellposed.ledger import load_ledger

__all__ = [
    "EXPENSIVE",
    "FIGURES",
    "IGNORED_KEYS",
    "MASKS",
    "REPORTS",
    "ULPS",
    "compare",
    "consistency",
    "json_match",
    "main",
    "same_printed",
    "text_match",
]

#: how many units in the last printed digit two printings of one value may differ by
ULPS = 1
REPORTS = ("claims.md", "claims.json", "properties.md", "families.md", "seeds.md", "mutants.md")
#: reports that only their own (long) nox sessions regenerate
EXPENSIVE = ("seeds.md", "mutants.md")
#: JSON keys whose values are not compared (software versions; raw machine-dependent values)
IGNORED_KEYS = frozenset({"versions", "machine_dependent"})
#: per report, the machine-dependent text (wall-clock seconds) replaced before comparing
MASKS = {
    "seeds.md": (re.compile(r"\b\d+(?:\.\d+)? s\b"),),
    "mutants.md": (re.compile(r"\| *\d+(?:\.\d+)? *\|$", re.MULTILINE),),
}
#: the figure directory (PNG + plotted-data JSON per figure), relative to the reports
FIGURES = "figures"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_MIN_SIG = 3


def _mantissa_digits(text: str) -> tuple[str, int]:
    """(significant digits, position of the last printed digit as a power of ten) of a
    printed number: ``"0.4486"`` -> ("4486", -4), ``"2.5e-08"`` -> ("25", -9)."""
    mant, _, exp = text.lstrip("+-").lower().partition("e")
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    if "." not in mant:  # an integer: its trailing zeros are not significant digits
        digits = digits.rstrip("0")
    return digits, (int(exp) if exp else 0) - len(frac)


def same_printed(old: str, new: str, ulps: int = ULPS) -> bool:
    """Whether two printed numbers are one value as printed: equal, or (at least one with
    :data:`_MIN_SIG` significant digits) at most ``ulps`` units apart in the last printed
    digit of the more precise one, the most a rounding boundary moves a printed value."""
    if old == new:
        return True
    a, b = float(old), float(new)
    if a == b or max(abs(a), abs(b)) <= ERROR_FLOOR * (1.0 + 1e-9):
        return True  # "1" and "1.0"; errors and differences at the floor read "at most 1e-8"
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    (da, la), (db, lb) = _mantissa_digits(old), _mantissa_digits(new)
    if max(len(da), len(db)) < _MIN_SIG:
        return False
    unit = 10.0 ** min(la, lb)
    return abs(a - b) <= ulps * unit * (1.0 + 1e-9)


def _printed(value: float | int) -> str:
    """A JSON number as ``json.dumps`` printed it (the committed reports' text)."""
    return json.dumps(value)


def json_match(old: object, new: object, ignore: frozenset[str] = IGNORED_KEYS) -> bool:
    """Same structure, keys, strings and booleans; numbers equal as printed
    (:func:`same_printed`); keys in ``ignore`` left out at every depth."""
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
        return same_printed(_printed(old), _printed(new))
    return old == new


def _split(text: str) -> tuple[str, list[str]]:
    """The text with each number replaced by ``#`` (padding and table rules folded: their
    widths follow the numbers), and the numbers as printed."""
    nums = _NUMBER.findall(text)
    words = re.sub(r"-{3,}", "---", _NUMBER.sub("#", text))
    return re.sub(r"[ \t]+", " ", words), nums


def text_match(old: str, new: str) -> bool:
    """The same text once numbers are set aside, and the numbers equal as printed."""
    (t_old, n_old), (t_new, n_new) = _split(old), _split(new)
    return (
        t_old == t_new
        and len(n_old) == len(n_new)
        and all(same_printed(a, b) for a, b in zip(n_old, n_new, strict=True))
    )


def _masked(name: str, text: str) -> str:
    for pattern in MASKS.get(name, ()):
        text = pattern.sub("<machine-dependent>", text)
    return text


def _match(name: str, old: bytes, new: bytes) -> bool:
    if old == new:
        return True
    if name.endswith(".json"):
        return json_match(json.loads(old), json.loads(new))
    return text_match(_masked(name, old.decode("utf-8")), _masked(name, new.decode("utf-8")))


def _figure_names(old_dir: Path, new_dir: Path) -> list[str]:
    """Stems of every figure (PNG or data JSON) under either ``figures/`` directory."""
    stems = {
        p.stem
        for d in (old_dir, new_dir)
        if (d / FIGURES).is_dir()
        for p in (d / FIGURES).iterdir()
        if p.suffix in (".png", ".json")
    }
    return sorted(stems)


def _compare_figure(old_dir: Path, new_dir: Path, stem: str) -> bool:
    """A figure is fresh iff both sides have its PNG and data and the data match; then both
    files get their committed bytes back."""
    paths = [
        (old_dir / FIGURES / f"{stem}{ext}", new_dir / FIGURES / f"{stem}{ext}")
        for ext in (".json", ".png")
    ]
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
    :func:`same_printed`; those that did not get the bytes of ``old_dir`` back.  An
    :data:`EXPENSIVE` report absent from ``new_dir`` was not regenerated: not compared."""
    stale = []
    for name in REPORTS:
        old_p, new_p = old_dir / name, new_dir / name
        if name in EXPENSIVE and not new_p.exists():
            continue
        if not old_p.exists() or not new_p.exists():
            if old_p.exists() != new_p.exists():
                stale.append(name)
            continue
        old, new = old_p.read_bytes(), new_p.read_bytes()
        if _match(name, old, new):
            if new != old:
                new_p.write_bytes(old)  # equal as printed: keep the committed bytes
        else:
            stale.append(name)
    stale += [
        f"{FIGURES}/{stem}"
        for stem in _figure_names(old_dir, new_dir)
        if not _compare_figure(old_dir, new_dir, stem)
    ]
    return stale


def _table_ids(text: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, text, flags=re.MULTILINE))


def consistency(
    report_dir: Path, ledger: Path | None = None, faults: Path | None = None
) -> list[str]:
    """Problems of the :data:`EXPENSIVE` reports in ``report_dir`` against the current claim
    set: ``seeds.md`` must list exactly the ledger's core claims, ``mutants.md`` exactly the
    faults of ``faults`` (``mutants/faults.toml``; skipped when None or missing)."""
    problems = []
    seeds = report_dir / "seeds.md"
    if seeds.exists():
        want = {c.id for c in load_ledger(ledger) if c.group == "core"}
        have = _table_ids(seeds.read_text("utf-8"), r"^\| ([A-Z]+\d+) \|")
        if have != want:
            problems.append(
                f"seeds.md lists {sorted(have - want) or 'no'} claims the ledger "
                f"lacks and lacks {sorted(want - have) or 'none'}; rerun "
                "`nox -s seeds`"
            )
    mutants = report_dir / "mutants.md"
    if mutants.exists() and faults is not None and faults.exists():
        want = {f["id"] for f in tomllib.loads(faults.read_text("utf-8")).get("fault", [])}
        have = _table_ids(mutants.read_text("utf-8"), r"^\| `([^`]+)`:")
        if have != want:
            problems.append(
                f"mutants.md lists {sorted(have - want) or 'no'} faults "
                f"{faults} lacks and lacks {sorted(want - have) or 'none'}; "
                "rerun `nox -s mutants`"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Compare ``OLD_DIR`` (the committed reports) with ``NEW_DIR`` (just regenerated), and
    check the expensive reports of ``NEW_DIR`` (the committed ones where this run did not
    regenerate them) against the ledger and ``mutants/faults.toml`` (relative to the working
    directory)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m wellposed.staleness OLD_DIR NEW_DIR", file=sys.stderr)
        return 2
    new_dir = Path(args[1])
    stale = compare(Path(args[0]), new_dir)
    for name in stale:
        print(
            f"stale: {new_dir / name} changed beyond the printed digits; review and commit it",
            file=sys.stderr,
        )
    problems = consistency(new_dir, faults=Path("mutants") / "faults.toml")
    for problem in problems:
        print(f"inconsistent: {new_dir / problem}", file=sys.stderr)
    return 1 if stale or problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
