"""Vocabulary: every verdict word the project prints, and the typed verdicts built from them.

A claim observes a :class:`Verdict` (a ``str`` enum: it compares equal to its word and
serialises to it) or a :class:`Conditional` verdict, a mapping from case name to
:class:`Verdict` (the ledger's ``verdict = "conditional"`` with its ``conditions``).
:func:`format_verdict` is the one spelling of either (``conditional(a=bounded, b=unbounded)``);
:func:`as_verdict` reads a word, a mapping or that spelling back (ledger rows, tests, JSON).

Besides the verdicts this module holds the other words a report or the terminal prints for
an outcome: the attainment answers (:class:`Attained`), what the gate records when a claim
could not run (:data:`NO_RUNNER`, :data:`ERROR`) or whose own check failed
(:data:`CHECK_FAILED`), the family audit's words
(:data:`OUTSIDE_SUPPORT`, :data:`PARTLY`), the model audit's (:data:`NO_WITNESS`) and the
pass/fail words of the tables (:data:`OK`, :data:`FAIL`, :data:`AGREE`, :data:`DISAGREE`,
:data:`HOLDS`, :data:`FAILS`, :data:`NO_RUNS`).
No other module spells one of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "AGREE",
    "CHECK_FAILED",
    "CONDITIONAL",
    "DISAGREE",
    "ERROR",
    "FAIL",
    "FAILS",
    "HOLDS",
    "LEDGER_VERDICTS",
    "NO_RUNNER",
    "NO_RUNS",
    "NO_WITNESS",
    "OK",
    "OUTSIDE_SUPPORT",
    "PARTLY",
    "PARTLY_TEXT",
    "Attained",
    "Conditional",
    "Verdict",
    "VerdictValue",
    "as_verdict",
    "bounded_cases",
    "format_verdict",
]


class Verdict(StrEnum):
    """A verdict word: the four a ledger can expect, then the observed-only outcomes."""

    UNBOUNDED = "unbounded"
    BOUNDED = "bounded"
    IDENTITY = "identity"
    REFUTED = "refuted"
    #: the evidence did not establish any ledger verdict
    INCONCLUSIVE = "inconclusive"
    #: a bounded claim's search found a value above the bound
    BOUND_VIOLATED = "bound violated"
    #: the gate: no function is registered for the ledger id
    NO_RUNNER = "no runner"
    #: the gate: the claim's function raised
    ERROR = "error"
    #: a claim's own check failed (a T-claim's training criterion): a regression of the
    #: code or of training, never a finding about the objective
    CHECK_FAILED = "check failed"

    def __repr__(self) -> str:
        """As its word (``'bounded'``): a verdict reads like the string it compares equal to."""
        return repr(self.value)


#: the verdicts a ledger entry may expect (besides ``conditional``)
LEDGER_VERDICTS = (Verdict.UNBOUNDED, Verdict.BOUNDED, Verdict.IDENTITY, Verdict.REFUTED)
#: the ledger's word for a verdict given per case (``conditions``)
CONDITIONAL = "conditional"
NO_RUNNER = Verdict.NO_RUNNER
ERROR = Verdict.ERROR
CHECK_FAILED = Verdict.CHECK_FAILED


class Attained(StrEnum):
    """Is the supremum of a bounded objective attained (does a maximiser exist)?"""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    def __repr__(self) -> str:
        return repr(self.value)


#: a family audit observation outside the family's support (left out of the verdict)
OUTSIDE_SUPPORT = "outside support"
#: a family audit unbounded at some observations, bounded at others (the verdict chart)
PARTLY = "partly"
PARTLY_TEXT = "unbounded at some observations"
#: the model audit found neither a witness nor a proof within its budget
NO_WITNESS = "no witness within budget"
#: a claim that passed / failed the gate; evaluation lines that agree / do not
OK = "ok"
FAIL = "FAIL"
AGREE = "agree"
DISAGREE = "DISAGREE"
#: a training criterion (T1-T4) holds on every seed / fails on one / had no runs
HOLDS = "yes"
FAILS = "NO"
NO_RUNS = "no runs"


@dataclass(frozen=True, eq=False)  # equality is the mapping's (a dict of words compares equal)
class Conditional(Mapping[str, Verdict]):
    """A verdict per case (in the ledger's order), e.g. ``unconstrained -> unbounded``,
    ``floor -> bounded``; a read-only mapping from case name to :class:`Verdict`."""

    cases: tuple[tuple[str, Verdict], ...]

    @classmethod
    def of(cls, cases: Mapping[str, str]) -> Conditional:
        """From a mapping case -> verdict word (each word must be a :class:`Verdict`)."""
        return cls(tuple((str(k), Verdict(v)) for k, v in cases.items()))

    def __getitem__(self, case: str) -> Verdict:
        for name, verdict in self.cases:
            if name == case:
                return verdict
        raise KeyError(case)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.cases)

    def __len__(self) -> int:
        return len(self.cases)

    def __str__(self) -> str:
        return format_verdict(self)


VerdictValue = Verdict | Conditional


def format_verdict(verdict: Verdict | Mapping[str, str] | str) -> str:
    """``"bounded"`` or, for a conditional verdict, ``"conditional(a=bounded, b=unbounded)"``."""
    if isinstance(verdict, Mapping):
        inner = ", ".join(f"{k}={v}" for k, v in verdict.items())
        return f"{CONDITIONAL}({inner})"
    return str(verdict)


def as_verdict(value: VerdictValue | Mapping[str, str] | str) -> VerdictValue:
    """A :class:`Verdict` or :class:`Conditional` from a word, a mapping case -> word, or the
    text :func:`format_verdict` writes; anything else raises ``ValueError``."""
    if isinstance(value, Verdict | Conditional):
        return value
    if isinstance(value, Mapping):
        return Conditional.of(value)
    text = str(value)
    if text.startswith(f"{CONDITIONAL}(") and text.endswith(")"):
        pairs = (p.split("=", 1) for p in text[len(CONDITIONAL) + 1 : -1].split(", ") if p)
        return Conditional.of({name: word for name, word in pairs})
    return Verdict(text)


def bounded_cases(verdict: VerdictValue) -> list[str]:
    """The bounded parts of a verdict: ``[""]`` for ``bounded``, the case names whose verdict
    is ``bounded`` for a conditional one, else none."""
    if isinstance(verdict, Conditional):
        return [name for name, v in verdict.cases if v is Verdict.BOUNDED]
    return [""] if verdict is Verdict.BOUNDED else []
