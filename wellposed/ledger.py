"""The claims ledger (``ledger.toml``): schema, loading, validation and formula parsing.

:func:`load_ledger` reads the TOML ledger (the package's own, ``$WELLPOSED_LEDGER`` or a
path) and validates it against :data:`SCHEMA`; every problem is a
:class:`~wellposed.errors.WellposedInputError` naming the claim, the field and the fix.
A claim's ``rate_expr`` / ``bound_expr`` are sympy expressions in the sizes of the
construction; :meth:`Claim.rate_at` / :meth:`Claim.bound_at` evaluate them, so a claim
runner takes its expected rate and bound from the ledger, never from a literal of its own.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sympy

from wellposed.errors import WellposedInputError
from wellposed.evidence.records import ATTAINED
from wellposed.evidence.vocabulary import (
    CONDITIONAL,
    LEDGER_VERDICTS,
    Conditional,
    Verdict,
    VerdictValue,
    format_verdict,
)

__all__ = [
    "EVIDENCE_KINDS",
    "GROUPS",
    "LEDGER_ENV",
    "QUANTITIES",
    "SCHEMA",
    "Claim",
    "default_ledger_path",
    "load_ledger",
    "parse_expr",
    "validate_ledger",
]

LEDGER_ENV = "WELLPOSED_LEDGER"
#: the verdict words a ledger entry may give (besides ``conditional``)
VERDICTS = tuple(v.value for v in LEDGER_VERDICTS)
BOUNDED = Verdict.BOUNDED
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
    "training",
)
_ID = re.compile(r"^[SLFT][0-9]{1,2}$")
#: claim groups: a plain ``wellposed check`` runs the ``core`` claims; the ``training``
#: claims (T) train networks for minutes and run by id or with ``--group training``
GROUPS = ("core", "training")

# field -> (required, python type, what to write)
SCHEMA: dict[str, tuple[bool, type | tuple[type, ...], str]] = {
    "id": (
        True,
        str,
        'a claim id such as "S1", "L3", "F2" or "T1" (S: thread, L: literature, F: family, '
        "T: training)",
    ),
    "title": (True, str, "a short title (one line)"),
    "statement": (True, str, "the claim as stated by its source"),
    "source": (True, str, "who says it: thread post, or paper and section"),
    "objective": (True, str, "the model / objective the claim is about"),
    "quantity": (True, str, f"one of {', '.join(QUANTITIES)}"),
    "verdict": (True, str, f"one of {', '.join(VERDICTS)}, {CONDITIONAL}"),
    "conditions": (False, dict, f'for verdict = "{CONDITIONAL}": {{ name = "{BOUNDED}", ... }}'),
    "rate": (False, str, "the derived growth rate as a formula string"),
    "rate_expr": (
        False,
        (str, dict),
        'the leading growth rate as a sympy expression in n, D, r, e.g. "D/2" (checked '
        "against every rate the runner fits), or a table naming the rate each part of the "
        'evidence fits, e.g. { log_likelihood = "D/2", elbo = "D/4*(1 + erf(...))" }',
    ),
    "bound": (False, str, "the analytic bound or closed form as a formula string"),
    "bound_expr": (
        False,
        str,
        "the analytic bound as a sympy expression in n, D, xi, H, lam, e.g. "
        '"-(n*D/2)*log(2*pi*xi)" (checked against every bound the runner uses)',
    ),
    "evidence": (True, list, f"a list drawn from {', '.join(EVIDENCE_KINDS)}"),
    "group": (
        False,
        str,
        f'one of {", ".join(GROUPS)} (default "core": run by a plain '
        '`wellposed check`; "training": run by id or with --group training)',
    ),
    "attained": (
        False,
        (str, dict),
        f"for a bounded verdict, is the supremum attained: one of {', '.join(ATTAINED)} "
        '(conditional: { name = "no" } per bounded condition; checked against the evidence)',
    ),
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
    rate_expr: str | dict[str, str] = ""
    bound_expr: str = ""
    #: is the supremum attained ("yes" / "no" / "unknown"; per bounded condition when
    #: conditional); empty when the ledger does not say
    attained: str | dict[str, str] = ""
    #: the claim group (:data:`GROUPS`): which ``wellposed check`` runs it
    group: str = "core"

    @property
    def expected(self) -> VerdictValue:
        """The ledger verdict: a :class:`Verdict`, or the :class:`Conditional` verdict."""
        return (
            Conditional.of(self.conditions)
            if self.verdict == CONDITIONAL
            else Verdict(self.verdict)
        )

    @property
    def expected_text(self) -> str:
        return format_verdict(self.expected)

    @property
    def formula(self) -> str:
        """Rate and/or bound, for the report."""
        return "; ".join(p for p in (self.rate, self.bound) if p)

    def rate_at(self, part: str | None = None, **sizes: float) -> float:
        """The ledger's ``rate_expr`` evaluated at ``sizes`` (e.g. ``n=3, D=2``); a table's
        entry is chosen with ``part=`` (e.g. ``rate_at("elbo", D=2)``)."""
        return _evaluate_expr(self, "rate_expr", self.rate_text(part), sizes)

    def rate_text(self, part: str | None = None) -> str:
        """The ``rate_expr`` text (of ``part`` when the ledger gives a table)."""
        if isinstance(self.rate_expr, dict):
            if part not in self.rate_expr:
                raise LookupError(
                    f"claim {self.id}: rate_expr has parts "
                    f"{sorted(self.rate_expr)}; ask for one of them"
                )
            return self.rate_expr[part]
        return self.rate_expr

    def bound_at(self, **sizes: float) -> float:
        """The ledger's ``bound_expr`` evaluated at ``sizes`` (e.g. ``n=4, D=3, xi=0.01``)."""
        return _evaluate_expr(self, "bound_expr", self.bound_expr, sizes)


def _evaluate_expr(claim: Claim, name: str, text: str, sizes: Mapping[str, float]) -> float:
    """A ledger formula at the given sizes; a runner asking for a missing one is a bug."""
    if not text:
        raise LookupError(f"claim {claim.id} has no {name} in the ledger; add one")
    expr = parse_expr(text, name, f"claim {claim.id}")
    missing = sorted(str(s) for s in expr.free_symbols if str(s) not in sizes)
    if missing:
        raise LookupError(f"claim {claim.id}: {name} {text!r} needs sizes {missing}")
    return float(expr.subs({sympy.Symbol(k): v for k, v in sizes.items()}).evalf())


def default_ledger_path() -> Path:
    """``$WELLPOSED_LEDGER`` if set, else the package's ``ledger.toml``."""
    env = os.environ.get(LEDGER_ENV)
    return Path(env) if env else Path(__file__).with_name("ledger.toml")


def _fail(where: str, problem: str, fix: str) -> WellposedInputError:
    return WellposedInputError(f"ledger {where}: {problem}; {fix}")


_EXPR_SYMBOLS = {"rate_expr": ("n", "D", "r"), "bound_expr": ("n", "D", "xi", "H", "lam")}


def parse_expr(text: str, name: str, where: str = "ledger") -> sympy.Expr:
    """A ledger ``rate_expr`` / ``bound_expr`` as a sympy expression in its allowed symbols
    (``pi``, ``log``, ... are sympy's); anything else is a ledger error naming the fix."""
    allowed = _EXPR_SYMBOLS[name]
    names = {sym: sympy.Symbol(sym) for sym in allowed}
    try:
        expr = sympy.sympify(text, locals=names)
    except (sympy.SympifyError, SyntaxError, TypeError) as exc:
        raise _fail(
            where,
            f"{name} {text!r} does not parse ({exc})",
            f'write an expression in {", ".join(allowed)} such as "n*D/2"',
        ) from exc
    extra = sorted(str(sym) for sym in getattr(expr, "free_symbols", ()) if str(sym) not in names)
    if extra:
        raise _fail(
            where,
            f"{name} {text!r} uses unknown symbol(s) {extra}",
            f"use only {', '.join(allowed)}",
        )
    return expr


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
    if verdict == CONDITIONAL:
        if not conditions:
            raise _fail(
                where,
                "conditional verdict without conditions",
                f'add conditions = {{ name = "{BOUNDED}", other = "{Verdict.UNBOUNDED}" }}',
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
                f'remove conditions or set verdict = "{CONDITIONAL}"',
            )
    else:
        raise _fail(
            where, f"verdict {verdict!r} is unknown", f"use one of {VERDICTS} or {CONDITIONAL}"
        )
    needs_rate = verdict == Verdict.UNBOUNDED or Verdict.UNBOUNDED in conditions.values()
    needs_bound = verdict == BOUNDED or BOUNDED in conditions.values()
    if needs_rate and "rate" not in raw:
        raise _fail(where, "an unbounded verdict needs the derived rate", 'add rate = "..."')
    if needs_bound and "bound" not in raw:
        raise _fail(where, "a bounded verdict needs the analytic bound", 'add bound = "..."')
    rate_expr = raw.get("rate_expr", "")
    for text in rate_expr.values() if isinstance(rate_expr, dict) else [rate_expr]:
        if not isinstance(text, str) or (not text.strip() and isinstance(rate_expr, dict)):
            raise _fail(
                where, f"rate_expr entry {text!r} is invalid", f"write {SCHEMA['rate_expr'][2]}"
            )
        if text:
            parse_expr(text, "rate_expr", where)
    if "bound_expr" in raw:
        parse_expr(raw["bound_expr"], "bound_expr", where)
    if raw.get("group", "core") not in GROUPS:
        raise _fail(where, f"group {raw['group']!r} is unknown", f"use one of {GROUPS}")
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
        rate_expr=(
            {k: v.strip() for k, v in rate_expr.items()}
            if isinstance(rate_expr, dict)
            else rate_expr.strip()
        ),
        bound_expr=raw.get("bound_expr", "").strip(),
        attained=_attained(raw, conditions, where),
        group=raw.get("group", "core"),
    )


def _attained(
    raw: Mapping[str, object], conditions: Mapping[str, str], where: str
) -> str | dict[str, str]:
    """The validated ``attained`` field: one of :data:`ATTAINED` for a bounded verdict, or a
    map from each bounded condition to one (conditional verdicts)."""
    value = raw.get("attained", "")
    if value == "":
        return ""
    bounded = [c for c, v in conditions.items() if v == BOUNDED]
    if isinstance(value, str):
        if raw["verdict"] != BOUNDED or value not in ATTAINED:
            raise _fail(
                where,
                f"attained = {value!r} is invalid",
                f"give one of {ATTAINED} for a bounded verdict only",
            )
        return value
    assert isinstance(value, dict)
    if (
        raw["verdict"] != CONDITIONAL
        or sorted(value) != sorted(bounded)
        or any(v not in ATTAINED for v in value.values())
    ):
        raise _fail(
            where,
            f"attained = {value!r} is invalid",
            f"map each bounded condition ({', '.join(bounded) or 'none'}) to one of {ATTAINED}",
        )
    return {str(k): str(v) for k, v in value.items()}


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
