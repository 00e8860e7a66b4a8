"""Verdicts: the one vocabulary used by claims and audits, and the rules that decide them.

The rules (docs/design.md, "Trust rules"):

* **unbounded**: a witness whose exact (or rigorous lower-bound) value passes a target
  ``M``, a least-squares growth rate matching the derived rate, and the evaluation lines
  agreeing at moderate ``k``;
* **bounded**: no evaluated parameterization (constructions, random and gradient search)
  above the analytic bound ``B``, and, where the supremum is known, a sequence whose gap
  to it shrinks (tightness);
* **identity** / **refuted**: symbolic or exact checks at many points, with the
  counterexample shown.
"""

from __future__ import annotations

from collections.abc import Sequence

from wellposed.evidence.records import BoundCheck, LineCheck, RateFit, Tightness, Witness
from wellposed.evidence.vocabulary import LEDGER_VERDICTS, Verdict, format_verdict

__all__ = [
    "BOUNDED",
    "BOUND_VIOLATED",
    "IDENTITY",
    "INCONCLUSIVE",
    "REFUTED",
    "UNBOUNDED",
    "VERDICTS",
    "decide_bounded",
    "decide_unbounded",
    "format_verdict",
]

# the verdicts by their short names (the words are in wellposed.evidence.vocabulary)
UNBOUNDED = Verdict.UNBOUNDED
BOUNDED = Verdict.BOUNDED
IDENTITY = Verdict.IDENTITY
REFUTED = Verdict.REFUTED
VERDICTS = LEDGER_VERDICTS
# observed-only outcomes: the evidence did not establish any ledger verdict
INCONCLUSIVE = Verdict.INCONCLUSIVE
BOUND_VIOLATED = Verdict.BOUND_VIOLATED


def decide_unbounded(witness: Witness, rate: RateFit, lines: Sequence[LineCheck]) -> Verdict:
    """``unbounded`` iff the witness passed ``M``, the rate matched, every line comparison
    agreed and at least one Monte Carlo comparison was statistical (not a code-path check)."""
    mc_ok = any(c.line == "mc" and c.mode == "statistical" for c in lines)
    return (
        UNBOUNDED
        if witness.passed and rate.ok and mc_ok and all(c.ok for c in lines)
        else INCONCLUSIVE
    )


def decide_bounded(bound: BoundCheck, tightness: Tightness | None = None) -> Verdict:
    """``bounded`` iff nothing exceeded ``B`` (and the sequence approached the sup, if known)."""
    if not bound.ok:
        return BOUND_VIOLATED
    if tightness is not None and not tightness.ok:
        return INCONCLUSIVE
    return BOUNDED
