"""The floored supremum of L2 (wellposed.lines.npmle) and the staircase on its atoms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wellposed import constructions
from wellposed.errors import WellposedInputError
from wellposed.evidence import check_tightness
from wellposed.lines import exact
from wellposed.lines.npmle import floored_mixture_sup, mixture_certificate
from wellposed.models.variance import Floor


def _separated(n: int, D: int, xi: float) -> float:
    return -n * math.log(n) + exact.floor_bound(n, D, xi)


def test_close_pair_shares_one_atom_at_the_midpoint() -> None:
    """Two points ``0.3 sqrt(xi)`` apart (< 2 sqrt(xi)): one atom at the midpoint, value
    ``B - d^2 / (4 xi)``, above the separated-points target ``-2 log 2 + B``."""
    xi = 0.04
    x = np.array([[1.0, -0.5], [1.0 + 0.3 * math.sqrt(xi), -0.5]])
    value, atoms, weights, gap = floored_mixture_sup(x, xi)
    assert len(weights) == 1 and weights[0] == pytest.approx(1.0)
    np.testing.assert_allclose(atoms[0], x.mean(axis=0), atol=1e-12)
    d2 = float(np.sum((x[1] - x[0]) ** 2))
    assert value == pytest.approx(exact.floor_bound(2, 2, xi) - d2 / (4 * xi), abs=1e-12)
    assert value > _separated(2, 2, xi) + 1.0
    assert 0.0 <= gap < 1e-9


def test_far_apart_points_give_minus_n_log_n_plus_b() -> None:
    xi = 1e-2
    x = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [3.0, 3.0]])  # 30 sqrt(xi) apart
    value, atoms, weights, gap = floored_mixture_sup(x, xi)
    assert value == pytest.approx(_separated(4, 2, xi), abs=1e-9)
    np.testing.assert_allclose(weights, 0.25, atol=1e-12)
    np.testing.assert_allclose(np.sort(atoms, axis=0), np.sort(x, axis=0), atol=1e-12)
    assert 0.0 <= gap < 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_certificate_below_1e_9_and_atoms_at_most_n(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, D = 3 + seed % 4, 1 + seed % 3
    x = rng.normal(size=(n, D))
    xi = float(np.exp(rng.uniform(-3.0, 0.0)))
    value, atoms, weights, gap = floored_mixture_sup(x, xi)
    assert 0.0 <= gap < 1e-9 and len(weights) <= n
    assert weights.sum() == pytest.approx(1.0) and np.all(weights > 0)
    again, cert, _ = mixture_certificate(x, xi, atoms, weights)
    assert again == pytest.approx(value, abs=1e-12) and cert == pytest.approx(gap, abs=1e-12)
    # the equal-mass mixture on the data is one candidate G: never above l*
    data_mix = exact.gmm_log_lik(x, np.full(n, 1 / n), x, np.full(n, math.log(xi))).sum()
    assert data_mix <= value + 1e-12
    assert value <= exact.floor_bound(n, D, xi)


def test_agrees_with_a_dense_grid_of_atoms_in_one_dimension() -> None:
    """Independent check, ``D = 1``: weights on 401 fixed grid atoms by EM (a concave
    problem; EM creeps, so 10^4 steps) give a value <= l*, within 1e-3 of it."""
    x = np.array([[-0.31], [-0.12], [0.05], [0.5], [0.58], [1.4]])
    xi = 0.04
    value, _, _, gap = floored_mixture_sup(x, xi)
    grid = np.linspace(-0.5, 1.5, 401)
    kern = np.exp(-0.5 * (x - grid[None, :]) ** 2 / xi - 0.5 * math.log(2 * math.pi * xi))
    w = np.full(len(grid), 1 / len(grid))
    for _ in range(10000):
        w = w * (kern / (kern @ w)[:, None]).mean(axis=0)
    grid_value = float(np.log(kern @ w).sum())
    assert grid_value <= value + 1e-12
    assert value - grid_value < 1e-3
    assert gap < 1e-9


def test_planted_wrong_values_are_caught() -> None:
    """The certificate of a wrong candidate (equal masses on two close points) is positive and
    bounds its deficit; a target below l* (the separated-points value) is exceeded by the
    staircase on the NPMLE atoms, and check_tightness rejects it."""
    xi = 1e-2
    x = np.array([[0.0, 0.0], [0.12, 0.0], [2.0, 2.0]])
    value, atoms, weights, _ = floored_mixture_sup(x, xi)
    wrong, wrong_gap, argmax = mixture_certificate(x, xi, x, np.full(3, 1 / 3))
    assert wrong < value - 0.1
    assert wrong_gap > 0.1 and wrong + wrong_gap >= value
    assert np.linalg.norm(argmax - x[:2].mean(axis=0)) < 0.05  # points at the merge
    ks = [8.0, 32.0, 128.0, 512.0]
    vals = [
        float(
            exact.construction_values(
                constructions.staircase(x, k, variance=Floor(xi), centres=atoms, masses=weights)
            )["log_lik"].sum()
        )
        for k in ks
    ]
    assert check_tightness(value, ks, vals, tol=0.05).ok
    assert all(v < value for v in vals)  # approached from below, never attained
    assert not check_tightness(_separated(3, 2, xi), ks, vals, tol=0.05).ok
    assert not check_tightness(value - 1e-2, ks, vals, tol=0.05).ok


def test_weighted_staircase_reduces_to_the_plain_one() -> None:
    x = np.array([[0.0, 1.0], [1.0, -1.0], [2.0, 0.5]])
    plain = exact.construction_values(constructions.staircase(x, 8.0, variance=Floor(0.1)))
    same = exact.construction_values(
        constructions.staircase(x, 8.0, variance=Floor(0.1), centres=x, masses=np.ones(3))
    )
    for key in ("log_lik", "elbo"):
        np.testing.assert_allclose(same[key], plain[key], rtol=1e-12, atol=1e-12)


def test_bad_inputs_are_refused() -> None:
    x = np.zeros((2, 2))
    with pytest.raises(WellposedInputError):
        floored_mixture_sup(x, 0.0)
    with pytest.raises(WellposedInputError):
        floored_mixture_sup(np.array([1.0, 2.0]), 1.0)
    with pytest.raises(WellposedInputError):
        constructions.staircase(x, 2.0, centres=np.zeros((2, 2)), masses=[1.0, -1.0])
    with pytest.raises(WellposedInputError):
        constructions.staircase(x, 2.0, family="bernoulli", centres=np.zeros((1, 2)))
