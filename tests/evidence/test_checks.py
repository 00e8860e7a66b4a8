import math

import numpy as np
import pytest

from wellposed.evidence import (
    BOUND_VIOLATED,
    BOUNDED,
    INCONCLUSIVE,
    UNBOUNDED,
    agree_close,
    agree_mc,
    check_bound,
    check_tightness,
    check_witness,
    decide_bounded,
    decide_unbounded,
    fit_rate,
    format_verdict,
    jsonable,
)


def test_fit_rate_recovers_slope_and_rejects_wrong_one():
    k = np.linspace(10, 50, 9)
    y = 1.5 * k - 3.0
    assert fit_rate(k, y, expected=1.5).ok
    bad = fit_rate(k, y, expected=1.0)
    assert not bad.ok and bad.rel_error == pytest.approx(0.5)


def test_fit_rate_with_log_term():
    k = np.linspace(20, 200, 7)
    y = 2.0 * k - 1.5 * np.log(k) + 4
    fit = fit_rate(k, y, expected=2.0, extra=("log k", np.log(k)), extra_expected=-1.5)
    assert fit.ok and fit.extra_coef == pytest.approx(-1.5)
    assert fit.residual < 1e-9


def test_nonfinite_values_fail_the_fit():
    assert not fit_rate([1, 2, 3], [1, math.inf, 3], expected=1).ok


def test_bound_and_tightness():
    assert check_bound(1.0, {"a": [0.5, 0.9]}).ok
    assert not check_bound(1.0, {"a": [0.5, 1.1]}).ok
    assert not check_bound(1.0, {"a": [np.nan]}).ok
    t = check_tightness(0.0, [1, 2, 3], [-1, -0.1, -1e-7], tol=1e-6)
    assert t.ok
    assert not check_tightness(0.0, [1, 2], [-1, 0.5], tol=1).ok  # above the sup
    assert decide_bounded(check_bound(1.0, {"a": [2.0]})) == BOUND_VIOLATED
    assert decide_bounded(check_bound(1.0, {"a": [0.0]}), t) == BOUNDED


def test_mc_agreement_and_decision():
    assert agree_mc("x", 1.0, 1.3, 0.1, 100).ok
    assert not agree_mc("x", 1.0, 1.5, 0.1, 100).ok
    assert agree_mc("x", 1.0, 1.0 + 1e-15, 0.0, 10).ok  # round-off with se = 0
    assert not agree_close("x", 1.0, 1.0 + 1e-6).ok
    w = check_witness({"k": 1}, 2e3, 1e3)
    r = fit_rate([1, 2, 3], [1, 2, 3], expected=1)
    mc = agree_mc("x", 0.0, 0.0, 1.0, 10)
    assert decide_unbounded(w, r, [mc]) == UNBOUNDED
    assert decide_unbounded(w, r, []) == INCONCLUSIVE  # no MC line: not enough
    assert decide_unbounded(check_witness({}, 5.0, 1e3), r, [mc]) == INCONCLUSIVE


def test_records_are_jsonable_and_deterministic():
    d = fit_rate([1, 2, 3], [1, 2, 3.0000000000001], expected=1).to_dict()
    assert d["kind"] == "rate" and isinstance(d["slope"], float)
    assert jsonable(math.inf) == "inf" and jsonable(np.float64(0.1 + 0.2)) == 0.3
    assert (
        format_verdict({"a": "bounded", "b": "unbounded"}) == "conditional(a=bounded, b=unbounded)"
    )


def test_zero_variance_mc_is_a_code_path_check_not_statistical():
    c = agree_mc("const", -3.5, -3.5 + 1e-14, 0.0, 100)
    assert c.ok and c.mode == "code path" and c.z is None
    assert not agree_mc("const", -3.5, -3.4, 0.0, 100).ok  # still must match to round-off


def test_broken_standard_errors_fail_agreement():
    # an IWAE that averages log-weights: a huge error with an overflowed SE is no agreement
    assert not agree_mc("iwae", -3.53, -53864.0, math.inf, 100).ok
    assert not agree_mc("iwae", -3.53, -3.6, math.nan, 100).ok
    assert not agree_mc("iwae", -3.53, -30.0, 50.0, 100).ok  # SE above max(1, |ref|)
    ok = agree_mc("spike", -3.53, -3.50, 0.02, 100)
    assert ok.ok and ok.mode == "statistical" and ok.z == pytest.approx(1.5)


def test_unbounded_needs_a_statistical_mc_line():
    w = check_witness({"k": 1.0}, 2e3, 1e3)
    rate = fit_rate([1.0, 2.0, 3.0, 4.0], [0.5, 1.0, 1.5, 2.0], expected=0.5)
    code_path = agree_mc("const", 1.0, 1.0, 0.0, 10)
    assert decide_unbounded(w, rate, [code_path]) == INCONCLUSIVE
    assert decide_unbounded(w, rate, [code_path, agree_mc("m", 1.0, 1.01, 0.01, 10)]) == UNBOUNDED
