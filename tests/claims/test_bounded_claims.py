"""Bounded claims approach their supremum, say whether it is attained, and check what could
fail (S7's sympy ELBO, S8's no-collapse search, L3's distinctness and ties, L7's floor)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from wellposed.claims import discrete, mixtures, thread
from wellposed.claims.registry import Context
from wellposed.ledger import load_ledger

CTX = Context(seed=0, device="cpu")
LEDGER = {c.id: c for c in load_ledger()}


def test_l7_floor_is_approached_and_attained_on_the_floor() -> None:
    """The floored GMM's supremum is the NPMLE (not the bound B, which the old runner's
    search stayed 53 below); the mixture on its atoms at sigma^2 = a reaches it."""
    case = mixtures._gmm_floor(CTX)
    verdict, ev, lines = case.verdict, case.evidence(), case.lines
    assert verdict == "bounded" and all(c.ok for c in lines)
    tight, bound = ev["tightness"], ev["bound"]
    assert tight.ok and tight.final_gap <= 1e-9 and tight.x[-1] == 0.0
    assert ev["attained"].attained == "yes"
    assert bound.max_value >= ev["npmle"]["value"] - 1e-9  # the margin is the bound's slack
    assert ev["bound_slack"]["slack"] >= 8 * math.log(8) - 1e-6  # far-apart points: n log n
    assert ev["search_gap"] >= -1e-9


def test_l3_tests_distinctness_and_checks_the_bound_with_ties() -> None:
    out = discrete.bernoulli_tight(CTX, LEDGER["L3"])
    assert out.observed == "bounded" and all(c.ok for c in out.lines)
    ties = out.evidence["ties"]
    # with ties the bound is sum_u n_u log(n_u/n) > -n log n, and the staircase passes
    # -n log n there: the distinct-points formula is no bound for tied data
    assert ties["bound"] == pytest.approx(4 * math.log(2 / 8) + 4 * math.log(1 / 8))
    assert ties["bound"] > ties["minus_n_log_n"] and ties["staircase_passes_minus_n_log_n"]
    assert ties["tightness"].ok and ties["attained"].attained == "no"
    assert out.evidence["attained"].attained == "no"
    assert out.evidence["distinct"]["draws_until_distinct"] >= 1


def test_l3_distinctness_is_a_test_of_the_drawn_rows() -> None:
    for seed in range(20):
        x, draws = discrete._distinct_binary(Context(seed=seed), 52, 6, 5)
        assert len(np.unique(x, axis=0)) == 6 and draws >= 1
    # a seed whose first draw has a tie needs more than one draw (the test is not vacuous)
    assert any(discrete._distinct_binary(Context(seed=s), 52, 6, 5)[1] > 1 for s in range(20))


def test_counted_bound_differs_from_minus_n_log_n_with_ties() -> None:
    x = np.array([[0, 1], [0, 1], [1, 1]], dtype=float)
    assert discrete._counted_bound(x) == pytest.approx(2 * math.log(2 / 3) + math.log(1 / 3))


def test_s8_no_collapse_check_can_fail() -> None:
    """The old check (``s* > 0`` for a formula that is always positive) could not fail; the
    numerical argmax is interior for the thread's ELBO and at the edge for a collapsing one."""
    lam = 4.0
    s, interior = thread._numeric_argmax(lambda s: thread._thread_exact("identity", lam, s))
    assert interior and s == pytest.approx((lam + 1) ** -0.5, rel=1e-6)
    s_c, interior_c = thread._numeric_argmax(lambda s: -math.log(s))  # rises as s -> 0
    assert not interior_c and s_c == pytest.approx(math.exp(-8.0), rel=1e-3)


def test_s7_sympy_elbo_is_derived_and_matches_the_library() -> None:
    sym = thread._s7_symbolic()
    m, s = sym["m"], sym["s"]
    assert sp.simplify(sym["kl"] - (m**2 + s**2 - 1) / 2 + sp.log(s)) == 0
    out = thread.kl_is_no_coding_cost(CTX, LEDGER["S7"])
    ident = out.evidence["symbolic"]["identity"]
    assert out.observed == "refuted" and ident.ok and ident.n_points >= 30
    assert out.evidence["symbolic"]["limit_sigma_to_0"] == "oo"


def test_s7_fails_when_the_library_elbo_is_off(monkeypatch) -> None:
    """A library ELBO off by log(2) per coordinate (log pi for log 2pi) no longer matches the
    derived expression: the counterexample is not shown."""
    real = thread.elbo

    def off(dec, enc, x, method="exact", **kw):
        est = real(dec, enc, x, method=method, **kw)
        if method != "exact":
            return est
        return type(est)(**{**est.__dict__, "value": est.value + 1.5 * math.log(2.0)})

    monkeypatch.setattr(thread, "elbo", off)
    out = thread.kl_is_no_coding_cost(CTX, LEDGER["S7"])
    assert not out.evidence["symbolic"]["identity"].ok and out.observed == "inconclusive"
