"""Hypothesis profiles for the property suite and the ``reports/properties.md`` writer.

Profiles (select with ``--hypothesis-profile=NAME``; the default is ``dev``, or the
``HYPOTHESIS_PROFILE`` environment variable when set):

* ``dev``: few examples, for local iteration (well under a minute for the suite);
* ``ci``: derandomized (same examples on every run), no deadline, no example database,
  ``print_blob=True`` so a failure prints the ``@reproduce_failure`` blob; moderate
  example counts.  ``nox -s properties`` runs this profile;
* ``nightly``: many examples and a long targeting phase (``nox -s nightly``).

Scores.  Every property calls the session fixture ``scores``:
``scores.observe(value, bound, sense="<=")`` once per example.  It feeds
``hypothesis.target`` (a finite, clipped "badness" score, so the targeting phase
hunts for counterexamples) and keeps, per property, the number of examples run and the
example closest to violating the property (smallest margin to its bound).

The report.  At session end the table (property, claim ids, examples run, best value
found, bound, margin to the bound) is written atomically (temporary file +
``os.replace``) to ``reports/properties.md`` (override with ``--properties-report=PATH``
or the ``WELLPOSED_PROPERTIES_REPORT`` environment variable; paths are relative to the
repository root), and only when

* the profile is ``ci`` (derandomized, so reruns are byte-identical), or a report path
  was given explicitly (any profile, e.g. ``nightly``), and
* the whole ``properties/`` directory ran: invoked on the directory itself, no
  ``-k``/``-m``/``::`` selection, nothing deselected, and
* every test passed.

``dev`` runs (the default) therefore never touch the tree, and a ``nightly`` run only
writes where asked (its numbers differ from the committed ``ci`` report).  A property
names the ledger claims it exercises with ``@pytest.mark.claims("S4", "L2")``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings, target

from wellposed.report import markdown_table, wrap, write_text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_REPORT = Path("reports") / "properties.md"
REPORT_ENV = "WELLPOSED_PROPERTIES_REPORT"

settings.register_profile(
    "dev",
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly",
    max_examples=400,
    deadline=None,
    print_blob=True,
    phases=list(Phase),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

_TARGET_CLIP = 1e6


def claims_of(item: pytest.Item) -> tuple[str, ...]:
    """Claim ids of a property's ``@pytest.mark.claims(...)`` marker (empty without one)."""
    marker = item.get_closest_marker("claims")
    return tuple(str(c) for c in marker.args) if marker else ()


@dataclass
class _Row:
    claims: tuple[str, ...]
    examples: int = 0
    value: float = math.nan
    bound: float = math.nan
    sense: str = "<="
    margin: float = math.inf
    fmt: str = "g"
    count_label: str = ""
    seq_gap: float = math.nan
    seq_tol: float = math.nan


class Scores:
    """Per-property bookkeeping of examples and the example closest to its bound."""

    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}
        self.current: tuple[str, tuple[str, ...]] | None = None

    def __repr__(self) -> str:  # keeps Hypothesis' falsifying-example output short
        return "scores"

    def observe(
        self,
        value: float,
        bound: float,
        *,
        sense: str = "<=",
        fmt: str = "g",
        label: str = "margin",
    ) -> float:
        """Record one example: the property asserts ``value <sense> bound``.

        Returns the margin (``bound - value`` for ``"<="``, ``value - bound`` for ``">="``;
        negative means the property fails) and reports ``-margin`` (clipped to a finite
        range) to ``hypothesis.target`` so the search climbs towards a violation.
        ``fmt="exp"`` shows value and margin as powers of ten (for tiny errors, whose last
        digits depend on the machine).  A property observing several quantities per
        example gives each its own ``label``; examples are counted on the first label.
        """
        if sense not in {"<=", ">="}:
            raise ValueError(f"sense must be '<=' or '>=', got {sense!r}")
        margin = bound - value if sense == "<=" else value - bound
        clip = -_TARGET_CLIP if margin > 0 else _TARGET_CLIP
        score = -margin if math.isfinite(margin) else clip
        target(max(-_TARGET_CLIP, min(_TARGET_CLIP, score)), label=label)
        if self.current is None:  # called outside a collected property (e.g. tests/)
            return margin
        name, claims = self.current
        row = self.rows.setdefault(name, _Row(claims, count_label=label))
        if label == row.count_label:
            row.examples += 1
        if margin < row.margin or math.isnan(row.value):
            row.value, row.bound, row.sense, row.margin, row.fmt = value, bound, sense, margin, fmt
        return margin

    def tight(self, gaps: list[float], tol: float) -> float:
        """Record and assert a deterministic sequence approaching the bound (tightness): its
        ``gaps`` (``bound - value``) are never negative beyond float slack, never grow, and
        end ``<= tol`` (:func:`assert_tight`); the report keeps the largest final gap over
        the examples.  Returns the final gap."""
        assert_tight(gaps, tol)
        final = float(gaps[-1])
        if self.current is not None:
            name, claims = self.current
            row = self.rows.setdefault(name, _Row(claims))
            if math.isnan(row.seq_gap) or final > row.seq_gap:
                row.seq_gap, row.seq_tol = final, tol
        return final


def assert_tight(gaps: list[float], tol: float) -> None:
    """Gaps of a tightness sequence: never negative (beyond float slack), non-increasing,
    and the last ``<= tol``."""
    g = np.asarray(gaps, dtype=np.float64)
    slack = 1e-12 * (1.0 + float(np.max(np.abs(g))))
    assert np.all(np.isfinite(g)), f"non-finite gap in {gaps}"
    assert np.all(g >= -slack), f"a sequence value passed the bound: gaps {gaps}"
    assert np.all(np.diff(g) <= slack), f"gaps do not shrink: {gaps}"
    assert g[-1] <= tol, f"the sequence stops {g[-1]!r} below the bound (tolerance {tol})"


_SCORES = Scores()
_STATE: dict[str, object] = {"deselected": 0, "items": []}


@pytest.fixture(scope="session")
def scores() -> Scores:
    """The session's :class:`Scores` (see the module docstring)."""
    return _SCORES


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--properties-report",
        default=None,
        help=f"write the property table here (default {DEFAULT_REPORT} under profile ci; "
        f"also ${REPORT_ENV})",
    )


def pytest_deselected(items: list[pytest.Item]) -> None:
    _STATE["deselected"] = int(_STATE["deselected"]) + len(items)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _STATE["items"] = [it for it in items if Path(str(it.path)).resolve().parent == HERE]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    _SCORES.current = (item.name, claims_of(item))
    try:
        yield
    finally:
        _SCORES.current = None


def _fmt(x: float, style: str) -> str:
    if not math.isfinite(x):
        return str(x)
    if style == "exp":
        if x <= 0:
            return "0" if x == 0 else f"{x:.3g}"
        return f"<= 1e{math.ceil(math.log10(x)):d}"
    return f"{x:.4g}"


def render(rows: dict[str, _Row], coverage: dict[str, list[str]], profile: str) -> str:
    """Markdown for ``reports/properties.md`` (deterministic: sorted, rounded, no paths),
    through the one output layer (:mod:`wellposed.report`: tables split past its width,
    prose wrapped)."""
    table = []
    for name in sorted(rows):
        r = rows[name]
        table.append(
            [
                name,
                ", ".join(r.claims) or "-",
                r.examples,
                _fmt(r.value, r.fmt),
                f"{r.sense} {_fmt(r.bound, 'g')}",
                _fmt(r.margin, "g"),
                "-"
                if math.isnan(r.seq_gap)
                else f"{_fmt(max(r.seq_gap, 0.0), 'exp')} (tol {r.seq_tol:g})",
            ]
        )
    head = ["property", "claims", "examples", "best value found", "bound", "margin", "sequence gap"]
    # one wrapped list item a claim: a two-column table of long property lists would be
    # wider than the output layer's table width
    cov = [
        wrap(f"- **{c}**: {', '.join(sorted(set(props)))}")
        for c, props in sorted(coverage.items(), key=_key)
    ]
    return "\n".join(
        [
            "# Property suite: best scores",
            "",
            wrap(
                f"Generated by `pytest properties --hypothesis-profile={profile}` "
                "(properties/conftest.py); do not edit."
            ),
            "",
            wrap(
                "Each row is one property; *best value found* is the example closest to violating "
                "it (smallest margin to its bound) among all examples run, including the "
                "`hypothesis.target` phase and the gradient ascent inside the property.  A "
                "negative margin would be a counterexample.  *sequence gap* is the largest final "
                "gap, over the examples, of a deterministic sequence that approaches the bound "
                "(tightness, asserted to end within the tolerance shown), so a bound check far "
                "from the bound is not the only evidence; `-` where the property has none "
                "(an unbounded or agreement property, or a bound that is not the supremum: "
                "docs/claims.md)."
            ),
            "",
            markdown_table(table, head),
            "",
            "## Claims exercised",
            "",
            *cov,
            "",
        ]
    )


def _key(item: tuple[str, list[str]]) -> tuple[str, int]:
    claim = item[0]
    return (claim[0], int(claim[1:]) if claim[1:].isdigit() else 0)


def _report_path(config: pytest.Config, profile: str) -> Path | None:
    explicit = config.getoption("--properties-report") or os.environ.get(REPORT_ENV)
    if explicit:
        path = Path(explicit)
        return path if path.is_absolute() else ROOT / path
    return ROOT / DEFAULT_REPORT if profile == "ci" else None


def _whole_directory(config: pytest.Config) -> bool:
    if config.getoption("keyword") or config.getoption("markexpr") or _STATE["deselected"]:
        return False
    args = [a for a in config.args if not a.startswith("-")]
    if not args or any("::" in a for a in args):
        return False
    return all(Path(a).resolve() == HERE for a in args)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    profile = config.getoption("hypothesis_profile", default=None) or os.environ.get(
        "HYPOTHESIS_PROFILE", "dev"
    )
    path = _report_path(config, profile)
    if path is None or exitstatus != 0 or not _whole_directory(config) or not _SCORES.rows:
        return
    coverage: dict[str, list[str]] = {}
    for item in _STATE["items"]:
        for claim in claims_of(item):
            coverage.setdefault(claim, []).append(item.name)
    text = render(_SCORES.rows, coverage, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
