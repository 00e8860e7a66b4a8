"""wellposed.audit.search: the numerical search over torch.distributions parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributions as tdist
from scipy import stats

from wellposed.audit import audit_family, torch_univariate_families

# ---------------------------------------------------------------------------------------
# expected mathematics, written out independently of the implementation:
# (family, x) -> "unbounded" | "bounded" (x on a support boundary where the density is
# +inf for some parameters: "unbounded" is right, "inconclusive" is honest)
# ---------------------------------------------------------------------------------------
MATH = {
    "Bernoulli": {0.0: "bounded", 1.0: "bounded"},
    "Beta": {0.3: "unbounded", 0.8: "unbounded"},
    "Binomial": {0.0: "bounded", 3.0: "bounded"},
    "Cauchy": {-1.3: "unbounded", 0.0: "unbounded", 2.5: "unbounded"},
    "Chi2": {0.0: "unbounded", 0.5: "bounded", 2.0: "bounded"},
    "ContinuousBernoulli": {0.3: "bounded", 0.8: "bounded"},
    "Exponential": {0.0: "unbounded", 0.5: "bounded", 2.0: "bounded"},
    "FisherSnedecor": {0.5: "bounded", 2.0: "bounded"},
    "Gamma": {0.0: "unbounded", 0.5: "unbounded", 2.0: "unbounded"},
    "GeneralizedPareto": {-1.3: "unbounded", 0.0: "unbounded", 2.5: "unbounded"},
    "Geometric": {0.0: "bounded", 3.0: "bounded"},
    "Gumbel": {-1.3: "unbounded", 0.0: "unbounded", 2.5: "unbounded"},
    "HalfCauchy": {0.0: "unbounded", 0.5: "bounded", 2.0: "bounded"},
    "HalfNormal": {0.0: "unbounded", 0.5: "bounded", 2.0: "bounded"},
    "InverseGamma": {0.5: "unbounded", 2.0: "unbounded"},
    "Kumaraswamy": {0.3: "unbounded", 0.8: "unbounded"},
    "Laplace": {-1.3: "unbounded", 0.0: "unbounded", 2.5: "unbounded"},
    "LogNormal": {0.5: "unbounded", 2.0: "unbounded"},
    "NegativeBinomial": {0.0: "bounded", 3.0: "bounded"},
    "Normal": {-1.3: "unbounded", 0.0: "unbounded", 2.5: "unbounded"},
    "Pareto": {0.5: "unbounded", 2.0: "unbounded"},
    "Poisson": {0.0: "bounded", 3.0: "bounded"},
    "RelaxedBernoulli": {0.3: "unbounded", 0.8: "unbounded"},
    "StudentT": {-1.3: "unbounded", 0.0: "unbounded", 2.5: "unbounded"},
    "VonMises": {-1.3: "unbounded", 0.0: "unbounded", 2.5: "unbounded"},
    "Weibull": {0.5: "unbounded", 2.0: "unbounded"},
}
# sup over params where it is attained at finite parameters (closed forms):
ATTAINED = {
    ("Exponential", 0.5): -math.log(0.5) - 1,
    ("Exponential", 2.0): -math.log(2.0) - 1,
    ("HalfNormal", 0.5): 0.5 * math.log(2 / math.pi) - math.log(0.5) - 0.5,
    ("HalfNormal", 2.0): 0.5 * math.log(2 / math.pi) - math.log(2.0) - 0.5,
    ("HalfCauchy", 0.5): -math.log(math.pi * 0.5),
    ("HalfCauchy", 2.0): -math.log(math.pi * 2),
    ("Poisson", 3.0): float(stats.poisson.logpmf(3, 3.0)),
    ("Bernoulli", 0.0): 0.0,
    ("Bernoulli", 1.0): 0.0,
    ("Poisson", 0.0): 0.0,
    ("Geometric", 0.0): 0.0,
    ("Binomial", 0.0): 0.0,
    ("Binomial", 3.0): 0.0,
    ("NegativeBinomial", 0.0): 0.0,
}


def test_registry_enumerates_scale_like_univariate_families() -> None:
    reg = torch_univariate_families()
    # every class named in the expected-mathematics table is found, nothing multivariate
    assert set(MATH) <= set(reg)
    assert "Dirichlet" not in reg and "MultivariateNormal" not in reg
    assert "LKJCholesky" not in reg and "LogisticNormal" not in reg
    for name, cls in reg.items():
        assert issubclass(cls, tdist.Distribution), name


def _registry_cases() -> list[str]:
    return sorted(torch_univariate_families())


@pytest.mark.slow
@pytest.mark.parametrize("name", _registry_cases())
def test_every_registry_family_agrees_with_mathematics_or_is_honestly_inconclusive(
    name: str,
) -> None:
    cls = torch_univariate_families()[name]
    assert name in MATH, f"add the mathematics for {name} to the table"
    xs = np.array(sorted(MATH[name]))
    res = audit_family(cls, xs, seed=0, method="numerical")
    assert res.method == "numerical"
    for o, x in zip(res.observations, xs, strict=True):
        expected = MATH[name][float(x)]
        if o.verdict == "inconclusive":
            assert len(o.reason) > 20, (name, x)  # a reason is given
            continue
        assert o.verdict == expected, (name, x, o.verdict, o.reason)
        if (name, float(x)) in ATTAINED and o.verdict == "bounded":
            assert o.bound == pytest.approx(ATTAINED[(name, float(x))], abs=1e-6)


@pytest.mark.slow
def test_registry_verdicts_are_mostly_decided() -> None:
    """At most a few families may be inconclusive somewhere (honesty is not an excuse)."""
    inconclusive = []
    for name in ("Normal", "Exponential", "Poisson"):
        xs = np.array(sorted(MATH[name]))
        res = audit_family(torch_univariate_families()[name], xs, method="numerical")
        inconclusive += [name for o in res.observations if o.verdict == "inconclusive"]
    assert inconclusive == []


def test_numerical_rates_match_derived_rates() -> None:
    res = audit_family(tdist.Normal, np.array([0.7]), method="numerical")
    assert res.observations[0].rate == pytest.approx(1.0, abs=0.02)
    res = audit_family(tdist.Gamma, np.array([1.5]), method="numerical")
    assert res.observations[0].rate == pytest.approx(0.5, abs=0.02)


@pytest.mark.slow  # torch and an unclamped CB, continued to |logit| = 512: ~10 s on 2 cores
def test_continuous_bernoulli_log_log_growth_is_never_called_bounded() -> None:
    # torch's implementation (clamped probabilities) at x = 0 and x = 1
    res = audit_family(tdist.ContinuousBernoulli, np.array([0.0, 1.0]), method="numerical")
    assert all(o.verdict != "bounded" for o in res.observations)

    # an unclamped implementation of the mathematics: still not bounded
    class CB(tdist.Distribution):
        arg_constraints = {"logits": tdist.constraints.real}
        support = tdist.constraints.unit_interval

        def __init__(self, logits: torch.Tensor, validate_args: bool | None = None) -> None:
            self.logits = logits
            super().__init__(logits.shape, validate_args=validate_args)

        def log_prob(self, value: torch.Tensor) -> torch.Tensor:
            e = self.logits
            a = torch.where(
                e > 0, e + torch.log(-torch.expm1(-e.abs())), torch.log(-torch.expm1(-e.abs()))
            ) - torch.log(e.abs())
            return e * value - a

    res = audit_family(CB, np.array([0.0]), method="numerical")
    o = res.observations[0]
    assert o.verdict in ("unbounded", "inconclusive")
    if o.verdict == "unbounded":
        assert "log" in o.rate_unit


def test_unsupported_family_is_inconclusive_with_reason() -> None:
    res = audit_family(tdist.Dirichlet, np.array([0.5]), method="numerical")
    assert res.verdict == "inconclusive"
    assert "vector" in res.observations[0].reason or "multivariate" in res.observations[0].reason
