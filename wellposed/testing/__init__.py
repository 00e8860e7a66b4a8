"""Helpers for users' test suites: the public Hypothesis strategies and assertions.

* :mod:`wellposed.testing.strategies`: data sets, parameterizations, schedules, targets;
* :mod:`wellposed.testing.asserts`: :func:`assert_unbounded`, :func:`assert_bounded`,
  :func:`assert_model_bounded` (loaded on first use, PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wellposed._lazy import lazy_attributes

__all__ = ["assert_bounded", "assert_model_bounded", "assert_unbounded", "starting_points"]

_LAZY = {name: "wellposed.testing.asserts" for name in __all__}

if TYPE_CHECKING:
    from wellposed.testing.asserts import (
        assert_bounded,
        assert_model_bounded,
        assert_unbounded,
        starting_points,
    )


__getattr__, __dir__ = lazy_attributes("wellposed.testing", _LAZY)
