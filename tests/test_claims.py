"""The full ledger run once (module fixture): every claim ok, under the time budget."""

import math

import pytest

from wellposed.gate import run_claims
from wellposed.errors import WellposedInputError


@pytest.fixture(scope="module")
def results():
    return {r.id: r for r in run_claims(device="cpu")}


def test_every_claim_ok(results):
    bad = {i: r.problems for i, r in results.items() if not r.ok}
    assert not bad


def test_s8_shows_both_sigmas(results):
    rows = results["S8"].evidence["counterexample"].values["table"]
    for r in rows:
        assert r["correct_s_star"] == pytest.approx((r["lambda"] + 1) ** -0.5, rel=1e-12)
        assert r["elbo_at_s_star"] == pytest.approx(
            0.5 * math.log(r["lambda"] / (r["lambda"] + 1)) - 0.5 * math.log(2 * math.pi))


def test_unbounded_witnesses_pass_target(results):
    for cid in ("S1", "S6", "S7", "L6"):
        w = results[cid].evidence["witness"]
        assert w.passed and w.value > 1000


def test_unknown_id():
    with pytest.raises(WellposedInputError, match="unknown claim id"):
        run_claims(["S1", "Z9"])
