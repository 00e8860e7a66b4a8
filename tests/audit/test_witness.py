"""F1-F3 verdicts come from computations that could come out otherwise, and the wording of
torch's failures (a cap vs numerically broken values; GaussianNLLLoss with full=False)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributions as tdist

import wellposed.audit.analytic as analytic
from wellposed.audit import audit_family
from wellposed.audit.analytic import sequence_verdict


def test_sequence_verdict_can_come_out_otherwise() -> None:
    k = np.array([6.0, 9.0, 12.0, 15.0])
    up = sequence_verdict(k, 0.5 * k + 1.0, "u", "w")
    assert up.verdict == "unbounded" and up.rate == 0.5
    flat = sequence_verdict(k, np.minimum(k, 8.0), "u", "w")
    assert flat.verdict == "inconclusive" and "does not grow linearly" in flat.reason
    assert sequence_verdict(k[:1], np.array([math.inf]), "", "w").verdict == "unbounded"


@pytest.mark.parametrize(
    ("family", "x"),
    [
        ("normal", 0.3),
        ("laplace", -1.0),
        ("gamma", 1.5),
        ("beta", 0.4),
        ("continuous_bernoulli", 0.0),
    ],
)
def test_a_floored_density_changes_the_verdict(
    monkeypatch: pytest.MonkeyPatch, family: str, x: float
) -> None:
    """The unbounded verdict is read off the density's values: floor the density and the
    audit no longer says unbounded (the old per-family lookup did regardless)."""
    assert audit_family(family, np.array([x]), probe=False).verdict == "unbounded"
    real = analytic.witness_log_density
    monkeypatch.setattr(
        analytic, "witness_log_density", lambda name, xs, k: np.minimum(real(name, xs, k), 7.0)
    )
    assert audit_family(family, np.array([x]), probe=False).verdict == "inconclusive"


def test_concentration_rate_is_fitted_not_typed() -> None:
    res = audit_family("vonmises", np.array([0.1]), probe=False)
    assert res.observations[0].rate == 0.5 and "grows linearly" in res.observations[0].reason


@pytest.mark.parametrize("family", ["gamma", "beta", "vonmises"])
def test_cancellation_garbage_is_numerically_broken_not_a_cap(family: str) -> None:
    res = audit_family(family, np.array([0.7]))
    assert "numerically broken" in res.implementation
    assert "capped" not in res.implementation
    assert not any(r.kind == "capped" for r in res.probe)


def test_a_constant_departure_is_still_a_cap() -> None:
    res = audit_family("continuous_bernoulli", np.array([0.0]))
    assert "capped at 3.58473" in res.implementation


def test_gaussian_nll_loss_default_full_false_bound() -> None:
    x = torch.tensor([0.3], dtype=torch.float64)
    v = -float(torch.nn.GaussianNLLLoss(eps=1e-6)(x, x, torch.tensor([1e-9], dtype=torch.float64)))
    res = audit_family("gaussian_nll_loss_default", np.array([0.3]))
    assert res.verdict == "bounded" and res.bound == pytest.approx(v, abs=1e-12)
    assert res.bound == pytest.approx(-0.5 * math.log(1e-6))
    full = audit_family("gaussian_nll_loss", np.array([0.3]))
    assert full.bound == pytest.approx(res.bound - 0.5 * math.log(2 * math.pi))
    # each family probes its own setting of torch's loss against its own bound
    assert "full=False" in res.implementation and "6.90776" in res.implementation
    assert "full=True" in full.implementation and "5.98882" in full.implementation


@pytest.mark.slow  # a 10-radius continuation of the generic search: about 6 s on 2 cores
def test_torch_continuous_bernoulli_search_sees_the_cap_beyond_32() -> None:
    """At |logit| = 32 torch's log p(0) is log 32 = 3.466, below its cap 3.585: the search
    continues past 32 and reports the saturation instead of a divergence."""
    res = audit_family(tdist.ContinuousBernoulli, np.array([0.0]), method="numerical")
    assert res.verdict == "inconclusive"
    assert "saturates" in res.observations[0].reason
