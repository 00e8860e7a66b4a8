"""Detection power: the property checks of ``properties/`` find counterexamples in broken
objectives (docs/design.md: positive and negative controls for every detector).

Each test runs a property's ``check_*`` function, under a local derandomized Hypothesis
``settings``, against a deliberately broken objective and expects the failure:

* floor removed: a policy that reports ``log_var_floor = log xi`` but returns the raw head
  (the S4/L2 bound check must find ELBO / log-likelihood above ``-(nD/2) log(2 pi xi)``);
* value-only clamp (``variance.ValueClamp``, like ``GaussianNLLLoss(eps)``): its *value*
  obeys the bound, so the bound check cannot fail; what breaks is the gradient, and the
  gradient-is-derivative-of-value check must catch it;
* leaky Bernoulli: ``log p(x | t) = sum x * logit`` without the ``-softplus`` normalizer
  (the S5/L3 check must find an ELBO term > 0 or a log-likelihood above the bound).

The same checks pass on the correct objectives (``properties/``, and the positive controls
below), so they are not vacuous.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings, target
from hypothesis import strategies as st

from wellposed.models.densities import bernoulli_log_prob
from wellposed.models.networks import BernoulliMLPDecoder
from wellposed.models.variance import Floor, ValueClamp

PROPERTIES = Path(__file__).resolve().parent.parent / "properties"

HUNT = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate, Phase.target],  # no shrinking: keep it fast
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def _load(name: str) -> ModuleType:
    """Import ``properties/<name>.py`` by path (``properties/`` is not a package)."""
    key = f"_wellposed_properties_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, PROPERTIES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


def observe(
    value: float, bound: float, *, sense: str = "<=", label: str = "margin", **_: object
) -> float:
    """Stand-in for the properties' ``scores.observe``: targets the badness only."""
    margin = bound - value if sense == "<=" else value - bound
    score = -margin if math.isfinite(margin) else (1e6 if margin < 0 else -1e6)
    target(max(-1e6, min(1e6, score)), label=label)
    return margin


class FloorRemoved(Floor):
    """Broken: claims the floor ``xi`` (``log_var_floor``) but returns the raw head."""

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return raw


class LeakyBernoulliDecoder(BernoulliMLPDecoder):
    """Broken: ``log p(x|t) = sum_j x_j l_j``, the logits added without normalization."""

    def log_prob(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (x * self(t)).sum(-1)


def _expect_failure(test) -> None:
    with pytest.raises((AssertionError, ExceptionGroup)) as info:
        test()
    excs = info.value.exceptions if isinstance(info.value, ExceptionGroup) else [info.value]
    assert all(isinstance(e, AssertionError) for e in excs), excs


def test_floor_removed_is_detected() -> None:
    bounded = _load("test_bounded")

    @HUNT
    @given(case=bounded.gaussian_cases(policy=st.just(FloorRemoved(1.0))))
    def hunt(case) -> None:
        bounded.check_gaussian_bound(case, observe)

    _expect_failure(hunt)


def test_real_floor_passes_the_same_hunt() -> None:
    """Positive control: the same search on the real ``Floor(1.0)`` finds nothing."""
    bounded = _load("test_bounded")

    @settings(HUNT, max_examples=40)
    @given(case=bounded.gaussian_cases(policy=st.just(Floor(1.0))))
    def hunt(case) -> None:
        bounded.check_gaussian_bound(case, observe)

    hunt()


def test_value_only_clamp_is_detected() -> None:
    bounded = _load("test_bounded")
    cases = bounded.gaussian_cases(
        policy=st.just(ValueClamp(0.0)),
        latent_dim=st.just(1),
        max_steps=5,
        max_log10_scale=1.0,
    )

    @HUNT
    @given(case=cases)
    def hunt(case) -> None:
        bounded.check_gradient_is_gradient_of_value(case, observe)

    _expect_failure(hunt)


def test_value_only_clamp_passes_the_value_bound() -> None:
    """Why the gradient check is needed: the value of a ValueClamp objective obeys the
    bound, so the bound check alone cannot tell it from a real floor."""
    bounded = _load("test_bounded")

    @settings(HUNT, max_examples=40)
    @given(case=bounded.gaussian_cases(policy=st.just(ValueClamp(0.0))))
    def hunt(case) -> None:
        bounded.check_gaussian_bound(case, observe)

    hunt()


def test_leaky_bernoulli_is_detected() -> None:
    bounded = _load("test_bounded")

    @HUNT
    @given(case=bounded.bernoulli_cases(decoder=LeakyBernoulliDecoder))
    def hunt(case) -> None:
        bounded.check_bernoulli_bound(case, observe)

    _expect_failure(hunt)


def test_leak_is_really_unnormalized() -> None:
    """The broken decoder differs from the real one exactly by the softplus normalizer."""
    dec = LeakyBernoulliDecoder(1, 2, 3, seed=4)
    x = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
    t = torch.zeros(1, 1, dtype=torch.float64)
    logits = dec(t)
    expected = bernoulli_log_prob(x, logits).sum(-1) + torch.nn.functional.softplus(logits).sum(-1)
    torch.testing.assert_close(dec.log_prob(x, t), expected)
