"""The claim registry: ``@claim("S1")`` binds one evidence function to one ledger id.

A claim function takes the run's :class:`Context` and its validated ledger entry
(:class:`~wellposed.ledger.Claim`, whose ``rate_at`` / ``bound_at`` give the expected rate and
bound) and returns an :class:`Outcome`: the observed verdict, the evidence records, the
comparisons of the evaluation lines and a one-line summary.  Every module of the
:mod:`wellposed.claims` package is imported by :func:`registered`, so a new claim is one
decorated function in a new or existing module there, plus its ledger entry.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wellposed.evidence.records import Evidence, LineCheck
from wellposed.evidence.vocabulary import VerdictValue

if TYPE_CHECKING:
    from wellposed.ledger import Claim

__all__ = ["ClaimFunction", "Context", "Outcome", "claim", "registered"]


@dataclass(frozen=True)
class Context:
    """One ``wellposed check`` run: the seed and the Monte Carlo device."""

    seed: int = 0
    device: str = "auto"

    def rng(self, salt: int) -> np.random.Generator:
        """The generator of one draw site: seeded by ``(seed, salt)``, recorded in the report."""
        return np.random.default_rng([self.seed, salt])


@dataclass
class Outcome:
    """What a claim function found: the observed :class:`~wellposed.evidence.Verdict` (or
    :class:`~wellposed.evidence.Conditional` verdict), the typed evidence records by the name
    the report files them under, the evaluation lines' comparisons and a one-line summary."""

    observed: VerdictValue
    evidence: Evidence
    lines: list[LineCheck]
    summary: str


ClaimFunction = Callable[[Context, "Claim"], Outcome]
_REGISTRY: dict[str, ClaimFunction] = {}


def claim(claim_id: str) -> Callable[[ClaimFunction], ClaimFunction]:
    """Register the decorated function as the evidence of ledger claim ``claim_id``."""

    def register(fn: ClaimFunction) -> ClaimFunction:
        if claim_id in _REGISTRY and _REGISTRY[claim_id] is not fn:
            raise RuntimeError(
                f"claim {claim_id} is registered twice "
                f"({_REGISTRY[claim_id].__module__} and {fn.__module__})"
            )
        _REGISTRY[claim_id] = fn
        return fn

    return register


def registered() -> dict[str, ClaimFunction]:
    """Every registered claim function by id (imports each module of this package once)."""
    package = importlib.import_module("wellposed.claims")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "registry":
            importlib.import_module(f"wellposed.claims.{info.name}")
    return dict(_REGISTRY)
