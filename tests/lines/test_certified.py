"""Rigorous enclosures (lines/certified.py) hold independent references and catch wrong meshes."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from wellposed import constructions
from wellposed.errors import WellposedInputError
from wellposed.lines import certified, certify, exact, meshes, npmle
from wellposed.lines.enclosures import Enclosure, agrees, check
from wellposed.models.variance import Floor

# L4's draw site (claims/variance_heads.py: seeded_data(ctx, 64, 3, 2)) at seed 26, where the
# staircase mesh graded only at its cuts lost 1e-4 nats on one point at k = 10
_L4_SEED26 = np.random.default_rng([26, 64]).normal(size=(3, 2))
_L4_KS = [0.25, 10.0, 30.0, 40.0, 80.0, 160.0, 320.0, 2.0 * 1050.0 / 6.0]


def test_enclosures_are_tight_and_round_outwards() -> None:
    enc = certified.floor_bound(3, 2, 0.1)
    with mp.workdps(40):
        ref = -3 * mp.log(2 * mp.pi * mp.mpf(0.1))
        assert mp.mpf(enc.lo) <= ref <= mp.mpf(enc.hi)
    assert 0 < enc.width < 1e-12


def test_agrees_allows_rounding_only() -> None:
    enc = Enclosure(10.0, 10.0)
    assert agrees(10.0 * (1 + 1e-13), enc)
    assert not agrees(10.0 * (1 + 1e-9), enc)
    assert not agrees(math.nan, enc) and not agrees(math.inf, enc)
    with pytest.raises(WellposedInputError, match="enclosures"):
        check([1.0, 2.0], [enc])


def test_closed_forms_hold_mpmath_references_and_the_float64_values() -> None:
    rng = np.random.default_rng(5)
    m, lv = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    encs = certified.gaussian_kl(m, lv)
    with mp.workdps(40):
        refs = [
            sum(
                mp.mpf(a) ** 2 + mp.e ** mp.mpf(b) - 1 - mp.mpf(b)
                for a, b in zip(mr, lr, strict=True)
            )
            / 2
            for mr, lr in zip(m, lv, strict=True)
        ]
        assert all(mp.mpf(e.lo) <= r <= mp.mpf(e.hi) for e, r in zip(encs, refs, strict=True))
    assert check(exact.gaussian_kl(m, lv), encs).all()
    x = rng.normal(size=(5, 2))
    w, mu, lvs = np.array([0.2, 0.8]), rng.normal(size=(2, 2)), np.array([-3.0, 0.5])
    assert check(exact.gmm_log_lik(x, w, mu, lvs), certified.gmm_log_lik(x, w, mu, lvs)).all()
    xb = rng.integers(0, 2, size=(9, 3))
    assert agrees(exact.bernoulli_bound(xb), certified.bernoulli_bound(xb))
    args = (4, 3, 8, 0.1)
    assert agrees(exact.weight_decay_bound(*args), certified.weight_decay_bound(*args))
    for kind in ("identity", "constant"):
        assert agrees(
            exact.thread_elbo(30.0, 0.2, kind, 0.1), certified.thread_elbo(30.0, 0.2, kind, 0.1)
        )
        assert agrees(exact.thread_max_elbo(30.0, kind), certified.thread_max_elbo(30.0, kind))


@pytest.mark.parametrize("log_var", [0.3, -12.0, -30.0])
def test_linear_marginal_and_expected_log_lik_are_enclosed(log_var: float) -> None:
    rng = np.random.default_rng(7)
    x, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 1)), rng.normal(size=3)
    lv = np.full(3, log_var)
    assert check(
        exact.linear_log_marginal(x, W, b, lv), certified.linear_log_marginal(x, W, b, lv)
    ).all()
    m, qlv = rng.normal(size=(4, 1)), rng.normal(size=(4, 1))
    assert check(
        exact.linear_expected_log_lik(x, W, b, lv, m, qlv),
        certified.linear_expected_log_lik(x, W, b, lv, m, qlv),
    ).all()


def test_the_spike_near_point_enclosure_holds_the_mpmath_integral() -> None:
    """k = 1050, a point at squared distance 0.087 (the case that found the spike's cliff):
    the enclosure holds an independent 30-digit mpmath integral."""
    D, k, R = 2, 1050.0, 0.0865927459604896

    def g(u):
        lv = -k / (1 + mp.e ** (-2 * k * u))
        return mp.e ** (-(D / 2) * (mp.log(2 * mp.pi) + lv) - (R / 2) * mp.e ** (-lv)) * mp.npdf(u)

    with mp.workdps(30):
        ref = float(mp.log(mp.quad(g, [-mp.inf, -1, -0.01, -0.003, 0, 0.01, 1, mp.inf])))
    enc = certified.spike_log_lik(D, k, np.array([R]))[0]
    assert enc.width < 1e-10 and enc.lo - 1e-12 <= ref <= enc.hi + 1e-12


def test_the_old_spike_mesh_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spike mesh graded only at the switch u = 0 (before the peak and cliff were added)
    was 1.3e-5 off at k = 1050 for a near point: the check says so; the current mesh passes."""
    D, k, R = 2, 1050.0, np.array([0.0, 0.0865927459604896, 3.0])
    encs = certified.spike_log_lik(D, k, R)
    assert check(exact.spike_log_lik(D, k, R), encs).all()
    monkeypatch.setattr(meshes, "spike_switches", lambda D, k, R: np.array([0.0]))
    old = exact.spike_log_lik(D, k, R)
    caught = ~check(old, encs)
    assert not caught[0] and caught[1] and abs(old[1] - encs[1].mid) > 1e-6


def test_the_old_staircase_mesh_is_caught_at_l4_seed_26(monkeypatch: pytest.MonkeyPatch) -> None:
    """L4 at seed 26: the staircase log-likelihood mesh graded only at the cuts lost 1e-4
    nats on the third point at k = 10 (the cliff where ``|r|^2 e^k / 2`` passes 50 sits
    inside a panel ``~k/(4a)`` wide); the check catches it, and the current mesh passes."""
    c = constructions.staircase(_L4_SEED26, 10.0)
    encs = certified.construction_values(c)["log_lik"]
    assert check(exact.construction_values(c)["log_lik"], encs).all()
    monkeypatch.setattr(meshes, "staircase_cliffs", lambda *a, **kw: np.array([]))
    old = exact.construction_values(c)["log_lik"]
    caught = ~check(old, encs)
    assert caught[2] and abs(old[2] - encs[2].mid) > 1e-5


@pytest.mark.parametrize("shift", [1e-7, -1e-7])
def test_a_planted_relative_shift_of_1e7_is_caught(shift: float) -> None:
    c = constructions.staircase(_L4_SEED26, 40.0)
    ex, enc = exact.construction_values(c), certified.construction_values(c)
    for key in ("log_lik", "elbo"):
        assert check(ex[key], enc[key]).all()
        assert not check(ex[key] * (1 + shift), enc[key]).any()
    spike = exact.spike_log_lik(3, 160.0, np.array([0.0, 0.4, 2.0]))
    encs = certified.spike_log_lik(3, 160.0, np.array([0.0, 0.4, 2.0]))
    assert not check(spike * (1 + shift), encs).any()


def test_enclosures_of_spike_constructions_hold_the_exact_line() -> None:
    x = np.random.default_rng([26, 11]).normal(size=(4, 2))
    for k, encoder in [(20.0, "coadapted"), (640.0, "coadapted"), (80.0, "prior")]:
        c = constructions.spike(x, k, encoder=encoder)
        ex, enc = exact.construction_values(c), certified.construction_values(c)
        for key in ("log_lik", "elbo", "log_lik_lower", "log_lik_upper"):
            assert check(ex[key], enc[key]).all(), (k, encoder, key)


def test_bernoulli_and_weighted_staircases_are_enclosed() -> None:
    rng = np.random.default_rng(3)
    xb = rng.integers(0, 2, size=(4, 3)).astype(float)
    c = constructions.staircase(xb, 6.0, family="bernoulli")
    ex, enc = exact.construction_values(c), certified.construction_values(c)
    assert all(check(ex[key], enc[key]).all() for key in ("log_lik", "elbo"))
    x = rng.normal(size=(4, 2))
    c = constructions.staircase(
        x, 32.0, variance=Floor(0.5), centres=x[:3], masses=np.array([0.2, 0.3, 0.5])
    )
    ex, enc = exact.construction_values(c), certified.construction_values(c)
    assert all(check(ex[key], enc[key]).all() for key in ("log_lik", "elbo"))


def test_unknown_kinds_and_non_finite_inputs_are_refused() -> None:
    with pytest.raises(WellposedInputError, match="finite"):
        certified.floor_bound(3, 2, math.nan)


def test_the_npmle_certificate_value_is_enclosed() -> None:
    x = np.random.default_rng(23).normal(size=(5, 3))
    sup, atoms, weights, gap = npmle.floored_mixture_sup(x, 1.0)
    value, _, _ = npmle.mixture_certificate(x, 1.0, atoms, weights)
    enc = certified.floored_mixture_value(x, 1.0, atoms, weights)
    assert agrees(value, enc) and agrees(sup, enc) and enc.width < 1e-12
    assert not agrees(value * (1 + 1e-7), enc)


def test_certify_mirrors_exact_calls_and_pairs_values_with_enclosures() -> None:
    R = np.array([0.0, 0.5])
    out = exact.spike_log_lik_bounds(2, 40.0, R)
    got = certify.pairs(out, certify.certify("spike_log_lik_bounds", 2, 40.0, R))
    assert len(got) == 4 and all(agrees(v, e) for v, e in got)
    c = constructions.staircase(_L4_SEED26, 80.0)
    got = certify.pairs(exact.construction_values(c), certify.certify("construction_values", c))
    assert len(got) == 6 and all(agrees(v, e) for v, e in got)
    with pytest.raises(WellposedInputError, match="no certified mirror"):
        certify.certify("ppca_fit", np.zeros((3, 2)), 1)


@pytest.mark.parametrize("scale", [1.0, 1e-3])
def test_the_ppca_maximum_likelihood_is_enclosed(scale: float) -> None:
    x = np.random.default_rng(9).normal(size=(12, 4)) * np.array([3.0, 1.5, 0.7, 0.2]) * scale
    for d in (1, 2):
        enc = certified.ppca_max_log_lik(x, d)
        assert agrees(exact.ppca_fit(x, d)["max_log_lik"], enc) and enc.width < 1e-9


def test_a_rank_deficient_linear_elbo_is_certified_up_to_its_residual_rounding() -> None:
    """Data in a line, ``log sigma^2 = -53``: float64 rounds the zero residual
    ``x - (W m + b)`` to ~1e-16, which ``e^53`` turns into ~1e-9 nats; the residual allowance
    covers that and nothing like a 1e-7 relative shift."""
    rng = np.random.default_rng(4)
    t = rng.normal(size=(20, 1))
    W, b = rng.normal(size=(4, 1)), rng.normal(size=4)
    x, lv = t @ W.T + b, np.full(4, -53.0)
    m, qlv = t, np.full((20, 1), -54.7)
    val = exact.linear_expected_log_lik(x, W, b, lv, m, qlv)
    args = (x, W, b, lv, m, qlv)
    assert not certify.disagreements("linear_expected_log_lik", val, args)
    assert len(certify.disagreements("linear_expected_log_lik", val * (1 + 1e-7), args)) == 20


def test_the_npmle_gap_is_enclosed_by_branch_and_bound() -> None:
    """The certificate's gap ``max_m D_G(m)`` (float64 multistart search) lies in a rigorous
    enclosure from ball-arithmetic branch and bound; a worse ``G`` (one atom dropped) has a
    certified positive gap, so a search that missed it would be caught."""
    x = np.random.default_rng(23).normal(size=(5, 3))
    sup, atoms, weights, gap = npmle.floored_mixture_sup(x, 1.0)
    lo, hi = npmle.certified_gap(x, 1.0, atoms, weights)
    assert lo <= hi and max(0.0, lo) - 1e-12 <= gap <= max(0.0, hi) + 1e-12
    assert hi - lo <= 2e-10 and hi < 1e-9
    worse_lo, worse_hi = npmle.certified_gap(x, 1.0, atoms[1:], weights[1:])
    _, search, _ = npmle.mixture_certificate(x, 1.0, atoms[1:], weights[1:])
    assert worse_lo > 1e-3 and worse_lo - 1e-9 <= search <= worse_hi + 1e-9
