"""wellposed.testing assertions: they pass on correct objectives and fail on planted faults."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from wellposed.models.variance import Floor, ValueClamp
from wellposed.testing import assert_bounded, assert_model_bounded, assert_unbounded
from wellposed.testing import strategies as wst

ROOT = Path(__file__).parents[2]
LOG_2PI = math.log(2 * math.pi)
D = 3
XI = 1e-3
FLOOR_BOUND = -0.5 * (LOG_2PI + math.log(XI))  # per coordinate, docs/claims.md L2


def spike(k: float) -> float:
    """log N(x | x, e^-k I_D): the L1 spike on one point, rate D/2 per unit k."""
    return D * (0.5 * k - 0.5 * LOG_2PI)


def floored_spike(k: float) -> float:
    """The same spike through Floor(xi): log sigma^2 = log(xi + softplus(-k))."""
    return D * -0.5 * (LOG_2PI + Floor(XI).log_var_of(-k))


def gaussian_at(theta: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(0 | mu = theta[0], exp(log_var)): the one-observation objective."""
    return -0.5 * (LOG_2PI + log_var + theta[0] ** 2 * torch.exp(-log_var))


def with_floor(theta: torch.Tensor) -> torch.Tensor:
    return gaussian_at(theta, Floor(XI)(theta[1]))


def floor_removed(theta: torch.Tensor) -> torch.Tensor:  # planted: Learned() instead
    return gaussian_at(theta, theta[1])


def honest_value_clamp(theta: torch.Tensor) -> torch.Tensor:
    """ValueClamp: value max(r, c) whatever autograd does (the gradient passes through)."""
    return gaussian_at(theta, ValueClamp(math.log(XI))(theta[1]))


def clamp_only_without_grad(theta: torch.Tensor) -> torch.Tensor:
    """Planted: the clamp applies only when no gradient is tracked (an evaluation-only
    guard); the training path, with autograd on, is not clamped."""
    lv = theta[1] if torch.is_grad_enabled() else theta[1].clamp(min=math.log(XI))
    return gaussian_at(theta, lv)


def test_assert_unbounded_passes_on_the_spike_at_its_rate() -> None:
    assert_unbounded(spike, [10.0, 20.0, 40.0, 80.0], target=100.0, rate=D / 2)


def test_assert_unbounded_accepts_a_strategy_of_schedules() -> None:
    assert_unbounded(
        spike, wst.schedules(min_k=100.0, max_k=400.0), target=100.0, rate=D / 2, max_examples=10
    )


def test_assert_unbounded_fails_on_a_floor_and_prints_the_witness() -> None:
    with pytest.raises(AssertionError, match="does not pass the target") as info:
        assert_unbounded(floored_spike, [10.0, 20.0, 40.0, 80.0], target=100.0, rate=D / 2)
    assert "(80, " in str(info.value)  # the values along the schedule are shown
    with pytest.raises(AssertionError, match="differs from the expected"):
        assert_unbounded(spike, [10.0, 20.0, 40.0, 80.0], target=10.0, rate=D)


def test_assert_bounded_passes_on_the_floor_and_on_an_honest_value_clamp() -> None:
    assert_bounded(with_floor, FLOOR_BOUND, search=2)
    assert_bounded(honest_value_clamp, FLOOR_BOUND, search=2)


def test_assert_bounded_fails_when_the_floor_is_removed() -> None:
    with pytest.raises(AssertionError, match="exceeds its bound") as info:
        assert_bounded(floor_removed, FLOOR_BOUND, search=2)
    assert "from start" in str(info.value)


def test_assert_bounded_fails_on_a_clamp_that_skips_the_gradient_path() -> None:
    # evaluated without autograd the planted objective never exceeds the bound ...
    with torch.no_grad():
        vals = [
            float(clamp_only_without_grad(torch.tensor([0.0, -k], dtype=torch.float64)))
            for k in (1.0, 10.0, 100.0)
        ]
    assert max(vals) <= FLOOR_BOUND + 1e-12
    # ... but the ascent, which runs with autograd on, finds values above it
    with pytest.raises(AssertionError, match="exceeds its bound"):
        assert_bounded(clamp_only_without_grad, FLOOR_BOUND, search=2)


def test_assert_bounded_rejects_a_bad_search() -> None:
    from wellposed.errors import WellposedInputError

    with pytest.raises(WellposedInputError, match="Hypothesis strategy"):
        assert_bounded(with_floor, FLOOR_BOUND, search="wide")  # type: ignore[arg-type]


def example(name: str) -> ModuleType:
    """``examples.<name>`` (a package at the repository root, outside ``wellposed``)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"examples.{name}")


@pytest.mark.slow  # two model audits with a few seconds of attack each
def test_assert_model_bounded() -> None:
    x = np.random.default_rng(0).uniform(0.05, 0.95, size=(8, 8))
    floored, c2 = example("floored_variance"), example("c2_logvar_head")
    res = assert_model_bounded(floored.Decoder(8), floored.Encoder(8), x, budget=3.0)
    assert res.proof is not None and res.proof.kind == "floor"
    assert res.bound is not None and res.bound.max_value <= res.proof.bound
    with pytest.raises(AssertionError, match="model not proved bounded"):
        assert_model_bounded(c2.Decoder(8), c2.Encoder(8), x, budget=2.0)
