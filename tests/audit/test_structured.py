"""wellposed.audit.structured: vector/matrix parameters, parameter-dependent supports and
saturating implementations get a verdict computed in log space (never 'inconclusive')."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributions as tdist

from wellposed.audit import AuditInputError, audit_family
from wellposed.audit.structured import STRUCTURED, log_concrete

ROWS = np.array([[0.3, -1.2, 2.0], [1.0, 0.5, -0.7]])


@pytest.mark.parametrize("name", ["MultivariateNormal", "LowRankMultivariateNormal"])
def test_gaussian_vectors_unbounded_at_rate_D_per_row(name: str) -> None:
    res = audit_family(name, ROWS)
    assert res.verdict == "unbounded" and res.event_dim == 3
    assert [o.rate for o in res.observations] == [3.0, 3.0]  # D per unit log(1/scale)
    assert res.rate == pytest.approx(6.0)
    assert "matches the mathematics" in res.implementation


def test_gaussian_vector_witness_agrees_with_torch() -> None:
    """The log-space formula is the density torch implements, at a moderate k."""
    fam = STRUCTURED["MultivariateNormal"]
    x = ROWS[0]
    exact = fam.exact(x, 3.0)
    d = fam.make(x, 3.0)
    assert float(d.log_prob(torch.as_tensor(x))) == pytest.approx(exact, rel=1e-12)
    low = STRUCTURED["LowRankMultivariateNormal"]
    assert float(low.make(x, 3.0).log_prob(torch.as_tensor(x))) == pytest.approx(
        low.exact(x, 3.0), rel=1e-12
    )


@pytest.mark.parametrize(
    ("name", "values", "unit"),
    [
        ("Uniform", [-1.0, 0.2], "log(1/width)"),
        ("Pareto", [0.5, 2.0], "log(concentration alpha)"),
        ("Weibull", [0.5, 2.0], "log(concentration)"),
        ("Kumaraswamy", [0.3, 0.8], "log(concentration a)"),
        ("RelaxedBernoulli", [0.3, 0.8], "log(temperature)"),
    ],
)
def test_univariate_families_the_search_could_not_decide(
    name: str, values: list[float], unit: str
) -> None:
    res = audit_family(name, np.array(values))
    assert res.verdict == "unbounded", res.observations
    assert all(o.rate == 1.0 and o.rate_unit == unit for o in res.observations)


def test_support_depending_on_the_parameter_and_outside_it() -> None:
    res = audit_family("Pareto", np.array([-1.0, 2.0]))
    assert [o.verdict for o in res.observations] == ["outside support", "unbounded"]
    with pytest.raises(AuditInputError, match="outside the support of Pareto"):
        audit_family("Pareto", np.array([-1.0, 0.0]))


def test_weibull_decided_from_the_mathematics_and_torch_along_the_witness() -> None:
    res = audit_family("Weibull", np.array([0.5]))
    assert res.observations[0].rate == 1.0
    assert any("generic search" in n for n in res.notes)
    k = 30.0  # torch's own log_prob at scale = x, concentration = e^k: log c - log x - 1
    v = tdist.Weibull(
        torch.tensor(0.5, dtype=torch.float64), torch.tensor(math.exp(k), dtype=torch.float64)
    ).log_prob(torch.tensor(0.5, dtype=torch.float64))
    assert float(v) == pytest.approx(k - math.log(0.5) - 1.0, abs=1e-9)


def test_simplex_families() -> None:
    S = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    d = audit_family("Dirichlet", S)
    assert d.verdict == "unbounded" and [o.rate for o in d.observations] == [1.0, 1.0]  # (K-1)/2
    edge = audit_family("Dirichlet", np.array([[0.0, 0.4, 0.6]]))
    assert edge.verdict == "unbounded" and "+inf" in edge.observations[0].reason
    r = audit_family("RelaxedOneHotCategorical", S)
    assert [o.rate for o in r.observations] == [2.0, 2.0]  # K - 1
    off = audit_family("Dirichlet", np.array([[0.2, 0.3, 0.5], [0.5, 0.6, 0.1]]))
    assert off.observations[1].verdict == "outside support"


def test_concrete_density_matches_torch() -> None:
    x = np.array([0.2, 0.3, 0.5])
    logits = np.array([0.1, -0.4, 0.7])
    t = 0.8
    v = tdist.RelaxedOneHotCategorical(
        torch.tensor(t, dtype=torch.float64), logits=torch.as_tensor(logits)
    ).log_prob(torch.as_tensor(x))
    assert log_concrete(x, logits, math.log(t)) == pytest.approx(float(v), rel=1e-10)


def test_discrete_families_are_bounded_with_computed_values() -> None:
    c = audit_family("Categorical", np.array([0.0, 2.0]))
    assert c.verdict == "bounded" and c.bound == 0.0
    m = audit_family("Multinomial", np.array([[1.0, 2.0, 0.0]]))
    expect = math.log(3) + math.log(1 / 3) + 2 * math.log(2 / 3)  # log 3!/(1!2!) + Gibbs
    assert m.verdict == "bounded" and m.bound == pytest.approx(expect, abs=1e-12)
    assert m.observations[0].attained is True


def test_wrappers_take_their_base_family() -> None:
    ind = audit_family("Independent(Normal)", ROWS, probe=False)
    assert ind.family == "Independent(Normal)" and ind.rate == pytest.approx(6.0)
    mix = audit_family("MixtureSameFamily(bernoulli)", np.array([0.0, 1.0]), probe=False)
    assert mix.verdict == "bounded"
    with pytest.raises(AuditInputError, match=r"Independent\(Normal\)"):
        audit_family("Independent", ROWS)


def test_no_scale_like_torch_family_is_left_without_a_verdict() -> None:
    """Every torch family with a scale-, rate-, concentration- or dof-like parameter that the
    generic search cannot take gets unbounded or bounded (inconclusive before)."""
    rows = np.array([[0.2, 0.3, 0.5]])
    data = {"scalar": np.array([0.3, 0.8]), "vector": rows}
    special = {
        "Categorical": np.array([0.0, 2.0]),
        "OneHotCategorical": np.eye(3),
        "OneHotCategoricalStraightThrough": np.eye(3),
        "Multinomial": np.array([[1.0, 2.0, 0.0]]),
        "MultivariateNormal": ROWS,
        "LowRankMultivariateNormal": ROWS,
    }
    for name, fam in STRUCTURED.items():
        res = audit_family(name, special.get(name, data[fam.event]), probe=False)
        assert res.verdict in ("unbounded", "bounded"), (name, res.observations)


def test_support_edges_are_decided_by_evaluating_the_density() -> None:
    for name in ("Kumaraswamy", "RelaxedBernoulli"):
        res = audit_family(name, np.array([0.0, 1.0, 0.5]))
        assert [o.verdict for o in res.observations] == ["unbounded"] * 3
        assert "+inf at finite parameters" in res.observations[0].reason
