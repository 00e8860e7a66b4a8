"""Evidence: records (one JSON policy), checks (rates, bounds, agreement) and verdict rules."""

from wellposed.evidence.checks import (
    agree_close,
    agree_mc,
    check_bound,
    check_tightness,
    check_witness,
    fit_rate,
)
from wellposed.evidence.decide import (
    BOUND_VIOLATED,
    BOUNDED,
    IDENTITY,
    INCONCLUSIVE,
    REFUTED,
    UNBOUNDED,
    VERDICTS,
    decide_bounded,
    decide_unbounded,
    format_verdict,
)
from wellposed.evidence.records import (
    BoundCheck,
    Counterexample,
    IdentityCheck,
    LineCheck,
    RateFit,
    Tightness,
    Witness,
    jsonable,
)

__all__ = [
    "BOUNDED",
    "BOUND_VIOLATED",
    "IDENTITY",
    "INCONCLUSIVE",
    "REFUTED",
    "UNBOUNDED",
    "VERDICTS",
    "BoundCheck",
    "Counterexample",
    "IdentityCheck",
    "LineCheck",
    "RateFit",
    "Tightness",
    "Witness",
    "agree_close",
    "agree_mc",
    "check_bound",
    "check_tightness",
    "check_witness",
    "decide_bounded",
    "decide_unbounded",
    "fit_rate",
    "format_verdict",
    "jsonable",
]
