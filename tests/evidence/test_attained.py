"""Attainment: is the supremum of a bounded objective reached at a finite parameter?"""

from __future__ import annotations

import json

import pytest

from wellposed.errors import WellposedInputError
from wellposed.evidence import check_attained, check_tightness, jsonable
from wellposed.gate import ClaimResult, _attained_problems
from wellposed.ledger import validate_ledger


def _tight(gaps: list[float], sup: float = 1.0, tol: float = 1e-3):
    xs = [float(i + 1) for i in range(len(gaps))]
    return check_tightness(sup, xs, [sup - g for g in gaps], tol=tol)


def test_zero_gap_at_a_finite_parameter_is_attained() -> None:
    a = check_attained(_tight([1.0, 0.1, 0.0]), case="c")
    assert a.attained == "yes" and a.at == 3.0 and "maximiser" in a.rule


def test_strict_derivation_and_positive_gaps_is_not_attained() -> None:
    a = check_attained(_tight([1.0, 0.1, 1e-4]), case="c", strict="sigmoid < 1")
    assert a.attained == "no" and a.at is None and a.reason == "sigmoid < 1"
    assert a.min_gap == pytest.approx(1e-4)


def test_no_derivation_or_no_approach_is_unknown() -> None:
    assert check_attained(_tight([1.0, 0.1, 1e-4]), case="c").attained == "unknown"
    # the sequence stops short of the supremum: nothing is decided
    far = check_attained(_tight([1.0, 0.5, 0.2]), case="c", strict="tanh < 1")
    assert far.attained == "unknown" and "did not reach" in far.rule


def test_a_zero_gap_contradicts_a_strict_derivation() -> None:
    """A member that reaches the supremum makes ``yes`` even where the derivation says it
    cannot: the gate then reports the mismatch with the ledger's ``no``."""
    a = check_attained(_tight([1.0, 0.1, 0.0]), case="c", strict="tanh < 1")
    assert a.attained == "yes"


def test_attainment_json_rounds_gaps_on_the_difference_grid() -> None:
    a = check_attained(_tight([1.0, 0.1, 3e-15]), case="c")
    doc = jsonable(a)
    assert doc["kind"] == "attainment" and doc["min_gap"] == 0.0 and doc["attained"] == "yes"
    json.dumps(doc, allow_nan=False)


def _entry(**extra: object) -> dict[str, object]:
    base = {
        "id": "S5",
        "title": "t",
        "statement": "s",
        "source": "src",
        "objective": "o",
        "quantity": "log-likelihood",
        "verdict": "bounded",
        "bound": "b",
        "evidence": ["bound"],
    }
    return {**base, **extra}


def test_ledger_attained_is_validated() -> None:
    (claim,) = validate_ledger({"schema_version": 1, "claim": [_entry(attained="no")]})
    assert claim.attained == "no"
    (cond,) = validate_ledger(
        {
            "schema_version": 1,
            "claim": [
                _entry(
                    verdict="conditional",
                    conditions={"floor": "bounded", "free": "unbounded"},
                    rate="r",
                    attained={"floor": "yes"},
                )
            ],
        }
    )
    assert cond.attained == {"floor": "yes"}
    for bad in (
        _entry(attained="maybe"),
        _entry(verdict="unbounded", rate="r", attained="no"),
        _entry(verdict="conditional", conditions={"floor": "bounded"}, attained={"free": "no"}),
    ):
        with pytest.raises(WellposedInputError, match="attained"):
            validate_ledger({"schema_version": 1, "claim": [bad]})


def test_gate_reports_an_attained_mismatch_and_a_missing_attainment() -> None:
    (claim,) = validate_ledger({"schema_version": 1, "claim": [_entry(attained="no")]})
    yes = check_attained(_tight([1.0, 0.0]), case="c")
    no = check_attained(_tight([1.0, 1e-4]), case="c", strict="s")
    assert _attained_problems(claim, {"attained": no}) == []
    assert "ledger expects 'no'" in _attained_problems(claim, {"attained": yes})[0]
    assert "no attainment was computed" in _attained_problems(claim, {})[0]
    r = ClaimResult("S5", "t", "s", "bounded", "bounded", True, True, "", "", {"attained": no})
    assert r.attained == "no" and r.to_dict()["attained"] == "no"
