"""The gate: run the registered claims, compare them with the ledger, decide the exit status.

A claim is ``ok`` iff its observed verdict equals the ledger's, every comparison of the
evaluation lines agrees, every evidence kind the ledger lists was produced by a computation
that ran, and the ledger's ``rate_expr`` / ``bound_expr`` match the rates fitted and the
bounds checked.  :func:`exit_status` turns results into the CLI's exit code (0 all ok,
1 any regression); input errors raise :class:`~wellposed.errors.WellposedInputError` (2).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from wellposed.claims.registry import Context, registered
from wellposed.errors import WellposedInputError
from wellposed.evidence.decide import format_verdict
from wellposed.evidence.records import jsonable
from wellposed.ledger import EVIDENCE_KINDS, Claim, load_ledger, parse_expr
from wellposed.lines.montecarlo import resolve_device

__all__ = ["ClaimResult", "exit_status", "run_claims"]


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
        expr = parse_expr(text, name, f"claim {claim.id}")
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


def _kinds_present(evidence: Mapping[str, object]) -> set[str]:
    kinds = {k for k in evidence if k in EVIDENCE_KINDS}
    for line in evidence.get("lines", ()):  # type: ignore[union-attr]
        kinds.update((getattr(line, "line", ""), getattr(line, "reference_line", "")))
    return kinds


def _evaluate(claim: Claim, ctx: object) -> ClaimResult:
    runner = registered().get(claim.id)
    problems: list[str] = []
    if runner is None:
        observed, evidence, summary, lines_ok = "no runner", {}, "no runner for this id", False
        problems.append(f"no runner is registered for {claim.id}")
    else:
        try:
            # closed forms evaluate both branches of np.where (e.g. 0 * inf in a discarded
            # branch); a NaN that reaches a result still fails the checks
            with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
                out = runner(ctx, claim)
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
    ctx = Context(seed=seed, device=device)
    try:
        for i, claim in enumerate(chosen):
            if progress is not None:
                progress(i, len(chosen), claim.id)
            results.append(_evaluate(claim, ctx))
    finally:
        torch.set_num_threads(threads)
    return results


def exit_status(results: Sequence[ClaimResult]) -> int:
    """0 when every claim is ok, 1 on any regression."""
    return 0 if all(r.ok for r in results) else 1
