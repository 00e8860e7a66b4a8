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
    mc = agree_mc("x", 0.0, 0.1, 1.0, 10)  # an exact tie would be a code path
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


def test_fit_rate_tolerance_from_the_fit_is_tight_for_clean_asymptotics() -> None:
    ks = np.array([20.0, 40.0, 80.0, 160.0, 320.0, 640.0])
    values = 0.99957 * ks + 3.0 / ks - 2.0
    fit = fit_rate(ks, values, expected=0.99957, rtol=None, corrections=(("1/k", 1 / ks),))
    assert fit.ok and fit.rtol == pytest.approx(1e-8) and fit.corrections == ("1/k",)
    off = fit_rate(ks, values, expected=1.0, rtol=None, corrections=(("1/k", 1 / ks),))
    assert not off.ok  # 4.3e-4 off: a fixed 1% tolerance would have accepted it
    assert fit_rate(ks, values, expected=1.0, rtol=0.01, corrections=(("1/k", 1 / ks),)).ok


def test_fit_rate_tolerance_from_the_fit_refuses_a_fit_too_poor_to_pin_the_rate() -> None:
    ks = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    values = ks + 5.0 * np.sqrt(ks)  # an unmodelled sqrt(k) term: the slope drifts with k
    fit = fit_rate(ks, values, expected=1.0, rtol=None)
    assert fit.rtol > 0.01 and not fit.ok
    with pytest.raises(ValueError, match="more points"):
        fit_rate(ks[:3], values[:3], expected=1.0, rtol=None, corrections=(("1/k", 1 / ks[:3]),))


def test_default_rate_tolerance_is_one_percent() -> None:
    k = np.linspace(10, 50, 9)
    assert fit_rate(k, 1.009 * k, expected=1.0).ok
    assert not fit_rate(k, 1.011 * k, expected=1.0).ok
    assert not fit_rate(k, 0.98 * k, expected=1.0).ok


def test_a_standard_error_off_its_batch_means_estimate_fails() -> None:
    """The gate checks the Monte Carlo line's own SE against its batch-means estimate."""
    good = agree_mc("m", 1.0, 1.01, 0.01, 400, se_batch=0.012)
    assert good.ok and good.se_batch == pytest.approx(0.012)
    inflated = agree_mc("m", 1.0, 1.01, 0.1, 400, se_batch=0.01)  # x10: z reads 0.1
    assert not inflated.ok and "batch-means" in (inflated.note or "")
    deflated = agree_mc("m", 1.0, 1.0001, 0.001, 400, se_batch=0.01)  # x0.1: z still small
    assert not deflated.ok
    assert not agree_mc("m", 1.0, 1.01, 0.01, 400, se_batch=math.nan).ok  # none formed
    assert not agree_mc("m", 1.0, 1.01, 0.01, 400, se_batch=0.0).ok
    assert agree_mc("m", 1.0, 1.01, 0.01, 400, se_batch=0.029).ok  # within the factor 3
    assert not agree_mc("m", 1.0, 1.01, 0.01, 400, se_batch=0.031).ok


def test_a_round_off_difference_is_a_code_path_check_whatever_the_se() -> None:
    """L6: an IWAE whose weights are constant has a round-off SE (4.2e-9); an estimate equal
    to the reference to 64 eps |value| is no statistical agreement (z = 0)."""
    c = agree_mc("const", 7.93401, 7.93401 + 8.9e-16, 4.2e-9, 200, se_batch=1e-9)
    assert c.ok and c.mode == "code path" and c.z is None
    near = agree_mc("m", 7.93401, 7.93401 + 1e-6, 4.2e-3, 200, se_batch=4e-3)
    assert near.mode == "statistical" and near.ok


def test_a_quadrature_error_estimate_must_support_the_tolerance_and_cover_the_difference():
    ok = agree_close("q", 12.0, 12.0 + 3e-15, error=1.4e-13)
    assert ok.ok and ok.error_estimate == pytest.approx(1.4e-13)
    loose = agree_close("q", 12.0, 12.0 + 3e-15, error=2e-6)  # the values agree, the line
    assert not loose.ok and "exceeds" in (loose.note or "")  # does not claim 1e-8
    hidden = agree_close("q", 12.0, 12.0 + 5e-8, rtol=1e-7, error=1e-12)  # understated
    assert not hidden.ok and "understates" in (hidden.note or "")
    assert agree_close("q", 12.0, 12.0 + 5e-8, rtol=1e-7, error=1e-8).ok
    assert not agree_close("q", 12.0, 12.0, error=math.nan).ok
