"""The spike claims (S1, S6, S10, L1): the network evaluated along the whole sequence, the
App. C.2 MLP encoder realising the co-adapted encoder, and rates pinned by their own fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from wellposed import constructions
from wellposed.claims import spike
from wellposed.claims.registry import Context
from wellposed.evidence import fit_rate
from wellposed.ledger import load_ledger
from wellposed.lines.objectives import elbo

CTX = Context(seed=0, device="cpu")
PHI = float(scipy.stats.norm.cdf(constructions.SPIKE_Q_MEAN / constructions.SPIKE_Q_STD))


@pytest.fixture(scope="module")
def ledger() -> dict:
    return {c.id: c for c in load_ledger()}


@pytest.fixture(scope="module")
def loglik() -> dict:
    return spike.spike_loglik(CTX, 1.0)


@pytest.fixture(scope="module")
def coadapted() -> dict:
    return spike.spike_elbo(CTX, PHI)


def test_ledger_states_the_coadapted_rate_with_phi(ledger: dict) -> None:
    d = spike.SPIKE_D
    assert ledger["S6"].rate_at(D=d) == pytest.approx(d / 2 * PHI, rel=1e-12)
    assert ledger["L1"].rate_at("elbo", D=d) == pytest.approx(d / 2 * PHI, rel=1e-12)
    assert ledger["L1"].rate_at("log_likelihood", D=d) == d / 2


def test_network_is_evaluated_at_every_k_and_at_the_witness(loglik: dict, coadapted: dict) -> None:
    k_w = loglik.witness.params["k"]
    for ev in (loglik, coadapted):
        labels = " ".join(c.label for c in ev.lines)
        for k in [*spike.SPIKE_KS, k_w]:
            assert f"k={k:.4g}" in labels
        assert {c.line for c in ev.lines} == {"quadrature", "mc"}
        assert all(c.ok for c in ev.lines)
        assert ev.witness.line == "quadrature" and ev.witness.passed
    lower, upper = (loglik.others["witness_bracket"][b] for b in ("lower", "upper"))
    assert lower <= loglik.witness.value <= upper


def test_rate_tolerance_comes_from_the_fit_and_separates_phi_from_one(coadapted: dict) -> None:
    fit = coadapted.rate
    assert fit.ok and fit.rtol < 1e-5 and fit.corrections
    # the slope D/2 (without Phi(1/0.3)) is 4.3e-4 away: far outside the fit's tolerance
    assert abs(fit.slope - spike.SPIKE_D / 2) / (spike.SPIKE_D / 2) > 100 * fit.rtol
    refit = fit_rate(
        fit.x,
        fit.values,
        expected=spike.SPIKE_D / 2,
        rtol=None,
        extra=("log k", np.log(fit.x)),
        corrections=_columns(fit),
    )
    assert not refit.ok


def _columns(fit: object) -> tuple[tuple[str, np.ndarray], ...]:
    ks = np.asarray(fit.x)
    table = {"1/k": 1 / ks, "1/k^2": 1 / ks**2, "log(k)/k": np.log(ks) / ks}
    return tuple((name, table[name]) for name in fit.corrections)


def test_loglik_slope_is_d_over_2_to_the_fits_precision(loglik: dict) -> None:
    fit = loglik.rate
    assert fit.ok and fit.rtol < 1e-4
    assert not fit_rate(fit.x, fit.values, expected=PHI, rtol=None, corrections=_columns(fit)).ok


def test_mlp_encoder_realises_the_coadapted_parameters() -> None:
    x = spike._spike_data(CTX)
    tab = constructions.spike(x, 160.0, encoder="coadapted")
    mlp = constructions.spike(x, 160.0, encoder="coadapted-mlp")
    assert isinstance(mlp.encoder, torch.nn.Module) and hasattr(mlp.encoder, "W6")
    xt = torch.as_tensor(x)
    with torch.no_grad():
        for a, b in zip(tab.encoder(xt), mlp.encoder(xt), strict=True):
            assert torch.allclose(a, b, atol=1e-9, rtol=0)
    same = [elbo(c.decoder, c.encoder, x, method="quadrature").value for c in (tab, mlp)]
    assert same[0] == pytest.approx(same[1], rel=1e-10)


def test_mlp_encoder_ignoring_its_width_changes_the_elbo() -> None:
    """The App. C.2 encoder's variance head is used: zero it and the ELBO moves."""
    x = spike._spike_data(CTX)
    c = constructions.spike(x, 40.0, encoder="coadapted-mlp")
    before = elbo(c.decoder, c.encoder, x, method="quadrature").value
    with torch.no_grad():
        c.encoder.W6.zero_()
        c.encoder.b6.zero_()
    after = elbo(c.decoder, c.encoder, x, method="quadrature").value
    assert abs(before - after) > 1.0


def test_others_approach_their_limit_from_below_where_far(loglik: dict) -> None:
    o = loglik.others
    assert o["ok"]
    gaps = o["values_at_k"] - o["limit_log_half_N"]
    assert np.all(gaps[:, o["from_below"]] < 0)
    assert np.all(np.abs(gaps[-1]) < np.abs(gaps[0]) + 1e-12)


def test_coadapted_elbo_mc_is_statistical_with_enough_draws(coadapted: dict) -> None:
    """2e5 draws see the Phi(-1/0.3) event ~86 times: the SE is trustworthy."""
    mcs = [c for c in coadapted.lines if c.line == "mc"]
    assert all(c.mode == "statistical" and c.n >= 100_000 for c in mcs)
    expected_hits = min(c.n for c in mcs) * (1 - PHI)
    assert expected_hits > 50
    assert max(abs(c.z) for c in mcs) < 4.0
    assert math.isfinite(coadapted.encoder["max_abs_error"])
