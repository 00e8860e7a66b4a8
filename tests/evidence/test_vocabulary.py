"""The verdict vocabulary and the typed evidence kinds the gate reads."""

from __future__ import annotations

import json

import pytest

from wellposed.evidence import (
    AuditFacts,
    Conditional,
    Facts,
    IdentityCheck,
    Search,
    Symbolic,
    Verdict,
    as_verdict,
    evidence_kinds,
    format_verdict,
    jsonable,
)
from wellposed.gate import ClaimResult, _kinds_present


def test_conditional_round_trips_through_its_text() -> None:
    cond = Conditional.of({"unconstrained": "unbounded", "floor": "bounded"})
    text = format_verdict(cond)
    assert text == "conditional(unconstrained=unbounded, floor=bounded)"
    back = as_verdict(text)
    assert isinstance(back, Conditional) and back == cond and list(back) == list(cond)
    assert back["floor"] is Verdict.BOUNDED and back != Verdict.BOUNDED


def test_unknown_word_is_rejected() -> None:
    with pytest.raises(ValueError, match="maybe"):
        as_verdict("maybe")
    with pytest.raises(ValueError, match="sometimes"):
        Conditional.of({"a": "sometimes"})


def test_verdicts_serialise_as_their_words() -> None:
    r = ClaimResult(
        "L7", "t", "s", "conditional(a=unbounded, b=bounded)", "bounded", False, True, "", "f", {}
    )
    assert isinstance(r.expected, Conditional) and r.observed is Verdict.BOUNDED
    doc = json.loads(json.dumps(r.to_dict()))
    assert doc["expected"] == "conditional(a=unbounded, b=bounded)"
    assert doc["observed"] == "bounded"


def test_a_bare_mapping_is_no_evidence_kind() -> None:
    """Kinds come from record classes, never from the key a claim files a value under."""
    assert _kinds_present({"search": {}, "symbolic": {"x": 1}, "audit": {}}) == set()
    found = _kinds_present({"anything": Search(("random",)), "x": AuditFacts({"a": 1.0})})
    assert found == {"search", "audit"}


def test_identity_is_symbolic_only_when_proved_so() -> None:
    proved = IdentityCheck("a = b", True, 10, 0.0, 1e-9, True)
    numeric = IdentityCheck("a = b", False, 10, 0.0, 1e-9, True)
    assert evidence_kinds(proved) == {"identity", "symbolic"}
    assert evidence_kinds(numeric) == {"identity"}
    assert evidence_kinds(Symbolic(identity=numeric)) == {"symbolic", "identity"}
    assert evidence_kinds(Facts(identity=numeric)) == {"facts", "identity"}


def test_facts_and_search_keep_the_json_shape() -> None:
    assert jsonable({"s": Search(("random", "ascent"), 12)}) == {
        "s": {"sources": ["random", "ascent"], "n_evaluated": 12}
    }
    assert jsonable(Facts(rel_error=1.234e-12, value=1.23456789)) == {
        "rel_error": 1e-8,
        "value": 1.23457,
    }
