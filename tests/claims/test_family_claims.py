"""Claims F1-F6 (wellposed.claims.families): evidence computed by the family audit."""

from __future__ import annotations

import json

import pytest

from wellposed.audit import AuditInputError
from wellposed.claims import registered
from wellposed.claims.families import family_claim_evidence
from wellposed.evidence.records import jsonable

EXPECTED = {"F1": "unbounded", "F2": "unbounded", "F3": "unbounded", "F4": "bounded",
            "F5": "bounded", "F6": "bounded"}


@pytest.mark.slow
@pytest.mark.parametrize("claim", sorted(EXPECTED))
def test_family_claim_evidence(claim: str) -> None:
    out = family_claim_evidence(claim, seed=0)
    assert out["observed"] == EXPECTED[claim]
    assert out["agree"] is True
    text = json.dumps(jsonable(out["evidence"]), allow_nan=False)  # serialisable
    assert "diverges" not in text
    assert out == family_claim_evidence(claim, seed=0)  # deterministic


def test_family_claim_evidence_unknown() -> None:
    with pytest.raises(AuditInputError):
        family_claim_evidence("F9", seed=0)


def test_f_claims_are_registered_by_the_families_module() -> None:
    fns = registered()
    for claim_id in EXPECTED:
        assert fns[claim_id].__module__ == "wellposed.claims.families", claim_id
