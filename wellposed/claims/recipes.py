"""Recipes: the two shapes claims repeat, as typed cases that decide their own verdict.

* :class:`UnboundedCase`: *unbounded along this sequence at this rate*: a witness past the
  target ``M``, the growth rate fitted along the sequence against the derived one, and the
  evaluation lines that checked members of it (:func:`~wellposed.evidence.decide_unbounded`);
* :class:`BoundedCase`: *bounded by this bound, searched by these searches, approached by this
  sequence*: the bound check over every search source, the tightness of a sequence approaching
  the supremum and whether a finite parameter attains it
  (:func:`~wellposed.evidence.decide_bounded`; ``inconclusive`` without a certified supremum);
  where the supremum is known, the searches are also held against it (:func:`held_below_sup`:
  a search above a known supremum is ``bound violated``, even below the bound).

A claim builds one case (or one per condition of a conditional verdict, combined by
:func:`conditional`) and files :meth:`evidence` in its :class:`~wellposed.claims.Outcome`;
``facts`` carries what a case reports beside its checks (under the names given).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from wellposed.evidence.checks import check_bound
from wellposed.evidence.decide import (
    BOUND_VIOLATED,
    INCONCLUSIVE,
    decide_bounded,
    decide_unbounded,
)
from wellposed.evidence.records import (
    Attainment,
    BoundCheck,
    Evidence,
    Facts,
    LineCheck,
    RateFit,
    Search,
    Tightness,
    Witness,
)
from wellposed.evidence.vocabulary import Conditional, Verdict

__all__ = ["BoundedCase", "UnboundedCase", "conditional", "held_below_sup"]


def held_below_sup(
    sup: float, found: Mapping[str, Sequence[float] | np.ndarray], *, nats: float
) -> BoundCheck:
    """Every searched value ``<= sup + nats`` (:func:`~wellposed.evidence.check_bound` against
    the known supremum ``sup`` with an absolute tolerance of ``nats``: the values' own error,
    e.g. a Monte Carlo estimate's standard errors, or the supremum's certificate gap): no
    search may pass the supremum, which lies below the bound ``B`` whenever ``B`` is not
    approached."""
    return check_bound(sup, found, tol=nats / max(1.0, abs(sup)))


@dataclass(frozen=True)
class UnboundedCase:
    """A divergent sequence: its witness, its fitted rate and the lines' comparisons."""

    witness: Witness
    rate: RateFit
    lines: list[LineCheck]
    facts: Facts = field(default_factory=Facts)

    @property
    def verdict(self) -> Verdict:
        """``unbounded`` iff witness, rate and lines hold (:func:`decide_unbounded`)."""
        return decide_unbounded(self.witness, self.rate, self.lines)

    def evidence(self) -> Evidence:
        """``{"witness", "rate", **facts}``."""
        return {"witness": self.witness, "rate": self.rate, **self.facts}


@dataclass(frozen=True)
class BoundedCase:
    """A bound, the searches that tried to pass it, and a sequence approaching the supremum.

    ``certified`` says whether the supremum the tightness sequence approaches is certified
    (e.g. the NPMLE's duality gap); without it the case is ``inconclusive``.
    """

    bound: BoundCheck
    tightness: Tightness | None
    attained: Attainment | None
    lines: list[LineCheck]
    search: Search | None = None
    facts: Facts = field(default_factory=Facts)
    certified: bool = True
    #: the searches held against the known supremum (:func:`held_below_sup`), when known
    below_sup: BoundCheck | None = None

    @property
    def verdict(self) -> Verdict:
        """``bounded`` iff nothing passed the bound, no search passed the known supremum,
        the sequence approached the supremum (:func:`decide_bounded`), and the supremum is
        certified; a search above the supremum is ``bound violated``."""
        if self.below_sup is not None and not self.below_sup.ok:
            return BOUND_VIOLATED
        return decide_bounded(self.bound, self.tightness) if self.certified else INCONCLUSIVE

    def evidence(self) -> Evidence:
        """``{"bound", "search", "search_below_sup", "tightness", "attained", **facts}``
        (those computed)."""
        out: Evidence = {"bound": self.bound}
        if self.below_sup is not None:
            out["search_below_sup"] = self.below_sup
        if self.search is not None:
            out["search"] = self.search
        if self.tightness is not None:
            out["tightness"] = self.tightness
        if self.attained is not None:
            out["attained"] = self.attained
        return {**out, **self.facts}


def conditional(cases: Mapping[str, UnboundedCase | BoundedCase]) -> Conditional:
    """The conditional verdict of ``cases`` (each case's own verdict, in the given order)."""
    return Conditional(tuple((name, case.verdict) for name, case in cases.items()))
