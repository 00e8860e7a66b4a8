"""Claims F1-F6 (wellposed.claims.families): evidence computed by the family audit."""

from __future__ import annotations

import json

import pytest
import torch.distributions as tdist
import torch.nn.functional as F

from wellposed.audit import AuditInputError
from wellposed.claims import registered
from wellposed.claims.families import family_claim_evidence
from wellposed.evidence.records import jsonable
from wellposed.gate import run_claims

EXPECTED = {
    "F1": "unbounded",
    "F2": "unbounded",
    "F3": "unbounded",
    "F4": "bounded",
    "F5": "bounded",
    "F6": "bounded",
}


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


def _leaky_gaussian_nll_loss(nats: float):  # type: ignore[no-untyped-def]
    """torch's gaussian_nll_loss returning a loss ``nats`` too low (log-likelihood leaks)."""
    original = F.gaussian_nll_loss

    def leaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        return original(*args, **kwargs) - nats

    return leaky


@pytest.mark.slow
def test_f6_gates_torchs_gaussian_nll_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    """F6 names torch.nn.GaussianNLLLoss: a loss that leaks 100 nats must fail the gate, and
    the report's sentence must say so (computed from torch's value, not fixed text)."""
    monkeypatch.setattr(F, "gaussian_nll_loss", _leaky_gaussian_nll_loss(100.0))
    out = family_claim_evidence("F6", seed=0)
    assert out["agree"] is False
    ev = out["evidence"]["gaussian_nll_loss"]
    assert ev["implementation_agrees"] is False
    assert "never exceeds" not in ev["implementation"]
    assert "EXCEEDS" in ev["implementation"] and "DEVIATES" in ev["implementation"]
    # the softclip and Student-t parts do not use the loss: they still agree
    assert out["evidence"]["softclip_gaussian"]["implementation_agrees"] is True
    (result,) = run_claims(["F6"], jobs=1, device="cpu")  # in this process: patched
    assert not result.ok and result.observed != "bounded"


@pytest.mark.slow
def test_f6_gates_torchs_softclip_and_studentt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The other implementations F6 names: torch's Normal under the softclip and StudentT."""
    original = tdist.StudentT.log_prob
    monkeypatch.setattr(tdist.StudentT, "log_prob", lambda self, v: original(self, v) + 1.0)
    out = family_claim_evidence("F6", seed=0)
    assert out["agree"] is False
    assert out["evidence"]["studentt_floor"]["implementation_agrees"] is False
    assert out["evidence"]["gaussian_nll_loss"]["implementation_agrees"] is True


def test_f4_gates_torchs_bernoulli(monkeypatch: pytest.MonkeyPatch) -> None:
    """F4 names BCE / torch's Bernoulli: a log_prob above log 1 = 0 fails the claim."""
    original = tdist.Bernoulli.log_prob
    monkeypatch.setattr(tdist.Bernoulli, "log_prob", lambda self, v: original(self, v) + 0.01)
    out = family_claim_evidence("F4", seed=0)
    assert out["agree"] is False and out["evidence"]["implementation_agrees"] is False
