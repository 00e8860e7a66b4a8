"""The claims ledger (``ledger.toml``): load, validate, and run one evidence runner per claim.

* :func:`load_ledger` reads the TOML ledger (the package's own, ``$WELLPOSED_LEDGER`` or a
  path) and validates it against :data:`SCHEMA`; every problem is a
  :class:`~wellposed.errors.WellposedInputError` naming the claim, the field and the fix.
* :func:`run_claims` runs the runners of :mod:`wellposed._runners` and turns their
  evidence into :class:`ClaimResult` records: ``ok`` iff the observed verdict equals the
  ledger's, every evaluation line agrees, and every evidence kind the ledger requires was
  produced by a computation that ran.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import WellposedInputError
from .verdict import VERDICTS, format_verdict, jsonable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "EVIDENCE_KINDS",
    "LEDGER_ENV",
    "QUANTITIES",
    "SCHEMA",
    "Claim",
    "ClaimResult",
    "default_ledger_path",
    "load_ledger",
    "run_claims",
    "validate_ledger",
]

LEDGER_ENV = "WELLPOSED_LEDGER"
QUANTITIES = ("log-likelihood", "elbo", "log-likelihood+elbo", "penalized-elbo", "log-density")
EVIDENCE_KINDS = (
    "witness",
    "rate",
    "mc",
    "quadrature",
    "bound",
    "search",
    "tightness",
    "symbolic",
    "identity",
    "counterexample",
    "audit",
)
_ID = re.compile(r"^[SLF][0-9]{1,2}$")

# field -> (required, python type, what to write)
SCHEMA: dict[str, tuple[bool, type, str]] = {
    "id": (
        True,
        str,
        'a claim id such as "S1", "L3" or "F2" (S: thread, L: literature, F: family)',
    ),
    "title": (True, str, "a short title (one line)"),
    "statement": (True, str, "the claim as stated by its source"),
    "source": (True, str, "who says it: thread post, or paper and section"),
    "objective": (True, str, "the model / objective the claim is about"),
    "quantity": (True, str, f"one of {', '.join(QUANTITIES)}"),
    "verdict": (True, str, f"one of {', '.join(VERDICTS)}, conditional"),
    "conditions": (False, dict, 'for verdict = "conditional": { name = "bounded", ... }'),
    "rate": (False, str, "the derived growth rate as a formula string"),
    "rate_expr": (
        False,
        str,
        'the leading growth rate as a sympy expression in n, D, r, e.g. "D/2" (checked '
        "against every rate the runner fits)",
    ),
    "bound": (False, str, "the analytic bound or closed form as a formula string"),
    "bound_expr": (
        False,
        str,
        'the analytic bound as a sympy expression in n, D, xi, H, lam, e.g. '
        '"-(n*D/2)*log(2*pi*xi)" (checked against every bound the runner uses)',
    ),
    "evidence": (True, list, f"a list drawn from {', '.join(EVIDENCE_KINDS)}"),
}


@dataclass(frozen=True)
class Claim:
    """One validated ledger entry."""

    id: str
    title: str
    statement: str
    source: str
    objective: str
    quantity: str
    verdict: str
    evidence: tuple[str, ...]
    conditions: dict[str, str] = field(default_factory=dict)
    rate: str = ""
    bound: str = ""
    rate_expr: str = ""
    bound_expr: str = ""

    @property
    def expected(self) -> str | dict[str, str]:
        """The ledger verdict: a string, or the condition -> verdict map when conditional."""
        return dict(self.conditions) if self.verdict == "conditional" else self.verdict

    @property
    def expected_text(self) -> str:
        return format_verdict(self.expected)

    @property
    def formula(self) -> str:
        """Rate and/or bound, for the report."""
        return "; ".join(p for p in (self.rate, self.bound) if p)


def default_ledger_path() -> Path:
    """``$WELLPOSED_LEDGER`` if set, else the package's ``ledger.toml``."""
    env = os.environ.get(LEDGER_ENV)
    return Path(env) if env else Path(__file__).with_name("ledger.toml")


def _fail(where: str, problem: str, fix: str) -> WellposedInputError:
    return WellposedInputError(f"ledger {where}: {problem}; {fix}")


_EXPR_SYMBOLS = {"rate_expr": ("n", "D", "r"), "bound_expr": ("n", "D", "xi", "H", "lam")}


def _parse_expr(text: str, name: str, where: str = "ledger") -> object:
    """A ledger ``rate_expr`` / ``bound_expr`` as a sympy expression in its allowed symbols
    (``pi``, ``log``, ... are sympy's); anything else is a ledger error naming the fix."""
    import sympy

    allowed = _EXPR_SYMBOLS[name]
    names = {sym: sympy.Symbol(sym) for sym in allowed}
    try:
        expr = sympy.sympify(text, locals=names)
    except (sympy.SympifyError, SyntaxError, TypeError) as exc:
        raise _fail(where, f"{name} {text!r} does not parse ({exc})",
                    f"write an expression in {', '.join(allowed)} such as \"n*D/2\"") from exc
    extra = sorted(str(sym) for sym in getattr(expr, "free_symbols", ()) if str(sym) not in names)
    if extra:
        raise _fail(where, f"{name} {text!r} uses unknown symbol(s) {extra}",
                    f"use only {', '.join(allowed)}")
    return expr


def _records(value: object, kind: str) -> list[object]:
    """Every evidence record of ``kind`` (``"rate"`` / ``"bound"``) with recorded ``symbols``."""
    if isinstance(value, Mapping):
        return [r for v in value.values() for r in _records(v, kind)]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _records(v, kind)]
    return [value] if getattr(value, "kind", None) == kind and value.symbols is not None else []


def _formula_problems(claim: Claim, evidence: Mapping[str, object]) -> list[str]:
    """The ledger's ``rate_expr`` / ``bound_expr``, evaluated at the sizes each fitted rate /
    checked bound records, must match it (a rate within the fit's ``rtol``, a bound to 1e-9
    relative): editing a derived formula in the ledger is a regression too."""
    problems = []
    for name, kind, text in (("rate_expr", "rate", claim.rate_expr),
                             ("bound_expr", "bound", claim.bound_expr)):
        if not text:
            continue
        expr = _parse_expr(text, name, f"claim {claim.id}")
        records = _records(evidence.get(kind), kind)
        if not records:
            problems.append(f"the ledger gives {name} = {text!r} but no {kind} was computed")
        for rec in records:
            want = float(expr.subs(rec.symbols).evalf())
            if kind == "rate":
                got, tol, scale, what = rec.slope, rec.rtol, abs(want) or 1.0, "fitted rate"
            else:
                got, tol, scale, what = rec.bound, 1e-9, max(1.0, abs(want)), "checked bound"
            if not abs(got - want) <= tol * scale:
                problems.append(f"{what} {got:.10g} disagrees with the ledger's {name} {text} "
                                f"= {want:.10g} at {rec.symbols}")
    return problems


def _validate_entry(raw: object, pos: int, origin: str) -> Claim:
    where = f"{origin}, claim #{pos + 1}"
    if not isinstance(raw, dict):
        raise _fail(where, "is not a table", "write each claim as a [[claim]] table")
    cid = raw.get("id")
    if isinstance(cid, str):
        where = f"{origin}, claim {cid}"
    unknown = sorted(set(raw) - set(SCHEMA))
    if unknown:
        raise _fail(where, f"unknown field(s) {unknown}", f"use only {sorted(SCHEMA)}")
    for name, (required, typ, hint) in SCHEMA.items():
        if name not in raw:
            if required:
                raise _fail(where, f"missing field {name!r}", f"add {name} = {hint}")
            continue
        if not isinstance(raw[name], typ) or (typ is str and not raw[name].strip()):
            raise _fail(where, f"field {name!r} = {raw[name]!r} is invalid", f"write {hint}")
    if not _ID.match(raw["id"]):
        raise _fail(where, f"id {raw['id']!r} is malformed", f"write {SCHEMA['id'][2]}")
    if raw["quantity"] not in QUANTITIES:
        raise _fail(where, f"quantity {raw['quantity']!r} is unknown", f"use one of {QUANTITIES}")
    verdict = raw["verdict"]
    conditions = raw.get("conditions", {})
    if verdict == "conditional":
        if not conditions:
            raise _fail(
                where,
                "conditional verdict without conditions",
                'add conditions = { name = "bounded", other = "unbounded" }',
            )
        for cname, cverdict in conditions.items():
            if cverdict not in VERDICTS:
                raise _fail(
                    where, f"condition {cname!r} has verdict {cverdict!r}", f"use one of {VERDICTS}"
                )
    elif verdict in VERDICTS:
        if conditions:
            raise _fail(
                where,
                "conditions given for a non-conditional verdict",
                'remove conditions or set verdict = "conditional"',
            )
    else:
        raise _fail(
            where, f"verdict {verdict!r} is unknown", f"use one of {VERDICTS} or conditional"
        )
    needs_rate = verdict == "unbounded" or "unbounded" in conditions.values()
    needs_bound = verdict == "bounded" or "bounded" in conditions.values()
    if needs_rate and "rate" not in raw:
        raise _fail(where, "an unbounded verdict needs the derived rate", 'add rate = "..."')
    if needs_bound and "bound" not in raw:
        raise _fail(where, "a bounded verdict needs the analytic bound", 'add bound = "..."')
    if "rate_expr" in raw:
        _parse_expr(raw["rate_expr"], "rate_expr", where)
    if "bound_expr" in raw:
        _parse_expr(raw["bound_expr"], "bound_expr", where)
    kinds = raw["evidence"]
    bad = [k for k in kinds if k not in EVIDENCE_KINDS]
    if not kinds or bad:
        raise _fail(where, f"evidence {kinds!r} is invalid", f"list kinds from {EVIDENCE_KINDS}")
    return Claim(
        id=raw["id"],
        title=raw["title"].strip(),
        statement=raw["statement"].strip(),
        source=raw["source"].strip(),
        objective=raw["objective"].strip(),
        quantity=raw["quantity"],
        verdict=verdict,
        evidence=tuple(kinds),
        conditions=dict(conditions),
        rate=raw.get("rate", "").strip(),
        bound=raw.get("bound", "").strip(),
        rate_expr=raw.get("rate_expr", "").strip(),
        bound_expr=raw.get("bound_expr", "").strip(),
    )


def validate_ledger(data: Mapping[str, object], origin: str = "ledger") -> list[Claim]:
    """Validate a parsed ledger (``{"schema_version": 1, "claim": [...]}``) into claims."""
    version = data.get("schema_version")
    if version != 1:
        raise _fail(origin, f"schema_version = {version!r}", "write schema_version = 1 at the top")
    unknown = sorted(set(data) - {"schema_version", "claim"})
    if unknown:
        raise _fail(
            origin,
            f"unknown top-level key(s) {unknown}",
            "keep only schema_version and [[claim]] tables",
        )
    entries = data.get("claim")
    if not isinstance(entries, list) or not entries:
        raise _fail(origin, "has no claims", "add [[claim]] tables")
    claims = [_validate_entry(raw, i, origin) for i, raw in enumerate(entries)]
    seen: set[str] = set()
    for c in claims:
        if c.id in seen:
            raise _fail(origin, f"duplicate id {c.id!r}", "give every claim a unique id")
        seen.add(c.id)
    return claims


def load_ledger(path: str | os.PathLike[str] | None = None) -> list[Claim]:
    """Read and validate a ledger file (default: :func:`default_ledger_path`)."""
    p = Path(path) if path is not None else default_ledger_path()
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise WellposedInputError(
            f"cannot read the ledger {p.name!r} ({exc.strerror}); pass an existing TOML file"
        ) from exc
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WellposedInputError(f"ledger {p.name!r} is not valid TOML: {exc}") from exc
    return validate_ledger(data, p.name)


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of one claim: verdicts, agreement of the lines and the evidence records."""

    id: str
    title: str
    source: str
    expected: str
    observed: str
    ok: bool
    lines_agree: bool
    summary: str
    formula: str
    evidence: dict[str, object] = field(repr=False)
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "expected": self.expected,
            "observed": self.observed,
            "ok": self.ok,
            "lines_agree": self.lines_agree,
            "summary": self.summary,
            "formula": self.formula,
            "problems": list(self.problems),
            "evidence": jsonable(self.evidence),
        }


def _kinds_present(evidence: Mapping[str, object]) -> set[str]:
    kinds = {k for k in evidence if k in EVIDENCE_KINDS}
    for line in evidence.get("lines", ()):  # type: ignore[union-attr]
        kinds.update((getattr(line, "line", ""), getattr(line, "reference_line", "")))
    return kinds


def _evaluate(claim: Claim, ctx: object) -> ClaimResult:
    from . import _runners

    runner = _runners.RUNNERS.get(claim.id)
    problems: list[str] = []
    if runner is None:
        observed, evidence, summary, lines_ok = "no runner", {}, "no runner for this id", False
        problems.append(f"no runner is registered for {claim.id}")
    else:
        try:
            # closed forms evaluate both branches of np.where (e.g. 0 * inf in a discarded
            # branch); a NaN that reaches a result still fails the checks
            with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
                out = runner(ctx)
        except Exception as exc:  # a crash (even an input error raised inside a runner:
            # the user's input was validated before the run) is a regression, exit 1
            observed, evidence, summary, lines_ok = (
                "error",
                {},
                f"{type(exc).__name__}: {exc}",
                False,
            )
            problems.append(f"runner raised {type(exc).__name__}: {exc}")
        else:
            observed = format_verdict(out.observed)
            evidence = dict(out.evidence)
            evidence["lines"] = list(out.lines)
            summary = out.summary
            lines_ok = all(c.ok for c in out.lines)
            problems.extend(
                f"line disagrees: {c.label} ({c.line} vs {c.reference_line})"
                for c in out.lines
                if not c.ok
            )
            problems.extend(_formula_problems(claim, evidence))
            missing = sorted(set(claim.evidence) - _kinds_present(evidence))
            if missing:
                problems.append(f"missing evidence: {', '.join(missing)}")
    expected = claim.expected_text
    if observed != expected:
        problems.insert(0, f"observed {observed!r}, ledger expects {expected!r}")
    ok = not problems
    return ClaimResult(
        claim.id,
        claim.title,
        claim.source,
        expected,
        observed,
        ok,
        lines_ok,
        summary,
        claim.formula,
        evidence,
        tuple(problems),
    )


def run_claims(
    ids: Iterable[str] | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    progress: Callable[[int, int, str], None] | None = None,
    ledger: str | os.PathLike[str] | None = None,
) -> list[ClaimResult]:
    """Run the claims ``ids`` (all by default, in ledger order) and return their results.

    ``progress(i, total, claim_id)`` is called before each claim.  Unknown ids raise
    :class:`WellposedInputError` before anything runs.  ``device`` is used only by the
    Monte Carlo line.
    """
    from .montecarlo import resolve_device

    resolve_device(device)  # validate up front (unknown device / cuda without CUDA)
    claims = load_ledger(ledger)
    by_id = {c.id: c for c in claims}
    if ids is None:
        chosen = claims
    else:
        wanted = [str(i).upper() for i in ids]
        unknown = [i for i in wanted if i not in by_id]
        if unknown:
            raise WellposedInputError(
                f"unknown claim id(s) {', '.join(unknown)}; choose from {', '.join(by_id)}"
            )
        chosen = [c for c in claims if c.id in set(wanted)]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 or not math.isfinite(seed):
        raise WellposedInputError(f"seed must be a non-negative integer, got {seed!r}")
    results = []
    threads = torch.get_num_threads()
    # the claims evaluate many tiny tensors: one intra-op thread is ~100x faster than
    # several contending ones on a loaded 2-core machine (restored afterwards)
    torch.set_num_threads(1)
    from ._runners import Context

    ctx = Context(seed=seed, device=device)
    try:
        for i, claim in enumerate(chosen):
            if progress is not None:
                progress(i, len(chosen), claim.id)
            results.append(_evaluate(claim, ctx))
    finally:
        torch.set_num_threads(threads)
    return results
