"""Shared numerical constants of the evidence path (one definition each)."""

from __future__ import annotations

import math

__all__ = ["HALF_LOG_2PI", "LOG_2PI"]

#: log(2 pi): the Gaussian normaliser, -0.5 * (LOG_2PI + log sigma^2 + r^2 / sigma^2).
LOG_2PI = math.log(2.0 * math.pi)
#: 0.5 * log(2 pi): the per-coordinate Gaussian normaliser.
HALF_LOG_2PI = 0.5 * LOG_2PI
