"""The seed thread's 1-D examples (S7, S8, S9) at drawn ``lambda`` and ``s``.

Setting (answer 2): one data point ``x = 0``, ``d = D = 1``, ``q = N(m, s^2)``,
``p(x|t) = N(x | t, 1/lam)`` (identity decoder) or ``N(x | 0, 1/lam)`` (constant decoder).
Closed form written out here (docs/claims.md#s8, derived by hand):

    E_q log N(0 | t, 1/lam) = (1/2) log(lam / 2pi) - lam (m^2 + s^2) / 2
    KL(q || N(0, 1))       = (m^2 + s^2 - 1 - log s^2) / 2

so the maximizer over ``s`` (``m = 0``) is ``s* = (lam + 1)^(-1/2)``, not the answer's
``sigma* = (2 (lam - 1/2))^(-1/2)`` (the two coincide only at ``lam = 2``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wellposed import constructions
from wellposed.lines import exact, objectives
from wellposed.models.networks import LinearGaussianDecoder, TabularEncoder
from wellposed.testing import strategies as wst

LOG_2PI = math.log(2.0 * math.pi)
_FEW = max(4, settings.default.max_examples // 2)
_QUAD_WARNINGS = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

lams = st.floats(-2.0, 4.0).map(lambda e: 10.0**e)
scales = st.floats(-3.0, 1.0).map(lambda e: 10.0**e)


def thread_elbo(lam: float, s: float, m: float = 0.0, kind: str = "identity") -> float:
    """The closed form of the module docstring."""
    spread = m * m + s * s if kind == "identity" else 0.0
    kl = 0.5 * (m * m + s * s - 1.0 - math.log(s * s))
    return 0.5 * math.log(lam / (2.0 * math.pi)) - 0.5 * lam * spread - kl


def _encoder(m: float, s: float) -> TabularEncoder:
    return TabularEncoder(np.array([[m]]), np.array([[2.0 * math.log(s)]]))


@_QUAD_WARNINGS
@settings(max_examples=_FEW)
@given(
    lam=lams,
    s=scales,
    m=st.floats(-2.0, 2.0),
    kind=st.sampled_from(("identity", "constant")),
)
@pytest.mark.claims("S8", "S9")
def test_thread_closed_form_equals_quadrature(scores, lam, s, m, kind) -> None:
    """At drawn lambda, s, m the closed form (written here), the library's
    closed form (``exact.thread_elbo``), the linear-Gaussian exact line and scipy quadrature
    agree to 1e-8 (relative) on the ELBO; the log-likelihood log N(0 | 0, 1 + 1/lam)
    (identity) or log N(0 | 0, 1/lam) (constant) matches both lines too."""
    dec = constructions.thread_decoder(kind, lam)
    enc = _encoder(m, s)
    x = np.zeros((1, 1))
    ref = thread_elbo(lam, s, m, kind)
    values = [
        exact.thread_elbo(lam, s, kind, m),
        objectives.elbo(dec, enc, x, method="exact").value,
        objectives.elbo(dec, enc, x, method="quadrature").value,
    ]
    var = 1.0 + 1.0 / lam if kind == "identity" else 1.0 / lam
    ll_ref = -0.5 * (LOG_2PI + math.log(var))
    ll = [objectives.log_likelihood(dec, x, method=meth).value for meth in ("exact", "quadrature")]
    rel = max(abs(v - ref) / max(1.0, abs(ref)) for v in values)
    rel = max(rel, *(abs(v - ll_ref) / max(1.0, abs(ll_ref)) for v in ll))
    scores.observe(rel, 1e-8, fmt="exp")
    assert rel <= 1e-8, f"ELBO lines {values} vs closed form {ref}; log-lik {ll} vs {ll_ref}"


@pytest.mark.claims("S8")
@given(lam=st.floats(0.5, 1e4, exclude_min=True), s=scales)
@example(lam=2.0, s=0.5)
def test_thread_answer_sigma_star_is_not_the_maximizer(scores, lam, s) -> None:
    """For lambda > 1/2 the answer's sigma* = (2(lambda - 1/2))^(-1/2) is not the
    maximizer s* = (lambda + 1)^(-1/2) of the ELBO (they coincide only at lambda = 2); s* is
    the maximizer (ELBO(s*) >= ELBO(s) for drawn s, derivative 0), ELBO(sigma*) < ELBO(s*),
    and max_s ELBO = log N(0 | 0, 1 + 1/lambda) <= -(1/2) log 2pi."""
    answer = (2.0 * (lam - 0.5)) ** -0.5
    s_star = (lam + 1.0) ** -0.5
    assert math.isclose(exact.thread_optimal_s(lam), s_star, rel_tol=1e-12)
    assert math.isclose(exact.thread_answer_sigma_star(lam), answer, rel_tol=1e-12)
    best = thread_elbo(lam, s_star)
    assert best >= thread_elbo(lam, s) - 1e-12 * (1.0 + abs(best))
    h = 1e-5 * s_star
    slope = (thread_elbo(lam, s_star + h) - thread_elbo(lam, s_star - h)) / (2 * h)
    assert abs(slope) <= 1e-5 * (1.0 + lam)
    marginal = -0.5 * (LOG_2PI + math.log1p(1.0 / lam))
    assert math.isclose(best, marginal, rel_tol=1e-12, abs_tol=1e-12)
    assert best <= -0.5 * LOG_2PI
    if abs(lam - 2.0) > 1e-6:
        gap = best - thread_elbo(lam, answer)
        # (answer - s*)^2 is what separates them; the ELBO gap is second order in it
        scores.observe(abs(answer - s_star) / s_star, 0.0, sense=">=")
        assert answer != s_star, f"lam={lam}: sigma*={answer} equals s*={s_star}"
        assert gap > 0.0, f"lam={lam}: ELBO(s*) - ELBO(sigma*) = {gap!r}"
    else:
        assert math.isclose(answer, s_star, rel_tol=1e-5)


@pytest.mark.claims("S9")
@given(s=scales, m=st.floats(-2.0, 2.0), M=wst.targets())
def test_thread_identity_decoder_fixed_s_not_unbounded(scores, s, m, M) -> None:
    """Identity decoder: the comment's "fix sigma* and let lambda grow" does not
    diverge.  At fixed s the ELBO -> -infinity (below -M at lambda = 2(M + 1 + KL)/s^2 + 2pi),
    and for every lambda the ELBO is <= max_s ELBO <= -(1/2) log 2pi."""
    kl = 0.5 * (m * m + s * s - 1.0 - math.log(s * s))
    lam = 2.0 * (max(M, 0.0) + 1.0 + abs(kl)) / (s * s) + 2.0 * math.pi
    lam = lam + math.log(lam) / (s * s)  # absorbs the (1/2) log(lam / 2pi) term
    value = thread_elbo(lam, s, m)
    scores.observe(value, -M, sense="<=", label="diverges_down")
    assert value < -M
    for lam_i in np.geomspace(1e-3, 1e8, 12):
        assert thread_elbo(lam_i, s, m) <= -0.5 * LOG_2PI + 1e-12


@pytest.mark.claims("S9", "S7")
@given(log_lam=st.floats(-5.0, 10.0), M=wst.targets())
@example(log_lam=0.0, M=1e6)  # found: exact.linear_expected_log_lik gave 0 * inf = NaN
def test_thread_constant_decoder_unbounded(scores, log_lam, M) -> None:
    """Constant decoder mu = 0 with q = prior: ELBO = (1/2) log(lambda / 2pi)
    exceeds any target M (lambda = 2pi e^(2M + 2), built in log space), exactly (linear
    exact line) and by the library closed form."""
    log_lam_M = max(log_lam, LOG_2PI + 2.0 * M + 2.0)
    dec = LinearGaussianDecoder(np.zeros((1, 1)), np.zeros(1), -log_lam_M)
    value = objectives.elbo(dec, _encoder(0.0, 1.0), np.zeros((1, 1)), method="exact").value
    expected = 0.5 * (log_lam_M - LOG_2PI)
    assert math.isclose(value, expected, rel_tol=1e-12)
    scores.observe(value, M, sense=">=")
    assert value > M


@pytest.mark.claims("S7")
@given(x=wst.distinct_points(n=st.just(1), D=st.integers(1, 4)), M=wst.targets())
@example(x=np.zeros((1, 1)), M=1e6)  # found: 0 * inf = NaN in the exact line at k ~ 2e6
def test_collapse_to_point_exceeds_any_target(scores, x, M) -> None:
    """N = 1, decoder mean constant x_1, sigma^2 = e^-k, q = prior: KL = 0 and
    ELBO = -(D/2) log(2 pi sigma^2) = (D/2)(k - log 2pi) exceeds M at k = 2(M + 1)/D + log 2pi,
    so the KL term does not keep the objective well-defined."""
    D = x.shape[1]
    k = max(1.0, 2.0 * (M + 1.0) / D + LOG_2PI)
    c = constructions.collapse_to_point(x[0], k)
    el = objectives.elbo(c.decoder, c.encoder, c.data, method="exact")
    assert math.isclose(el.value, 0.5 * D * (k - LOG_2PI), rel_tol=1e-12, abs_tol=1e-9)
    scores.observe(el.value, M, sense=">=")
    assert el.value > M
