"""Shared fixtures: a seeded pPCA data set and the "within k standard errors" check."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest


@pytest.fixture
def ppca_data() -> np.ndarray:
    """Seeded correlated data, ``n = 50``, ``D = 5`` (the pPCA reference set)."""
    rng = np.random.default_rng(20240501)
    loadings = rng.normal(size=(5, 2)) * np.array([2.0, 1.0])
    return rng.normal(size=(50, 2)) @ loadings.T + 0.5 * rng.normal(size=(50, 5)) + 1.5


@pytest.fixture
def assert_within_se() -> Callable[..., float]:
    """``check(estimate, se, target, k=4, what="")``: assert ``|z| <= k`` and return ``z``."""

    def check(estimate: float, se: float, target: float, k: float = 4.0, what: str = "") -> float:
        assert se > 0.0, f"{what}: standard error {se!r} is not usable"
        assert math.isfinite(se), f"{what}: standard error {se!r} is not usable"
        z = (estimate - target) / se
        assert abs(z) <= k, (
            f"{what}: MC {estimate:.10g} vs reference {target:.10g}, SE {se:.4g}, "
            f"z = {z:.2f} (|z| must be <= {k})"
        )
        return z

    return check
