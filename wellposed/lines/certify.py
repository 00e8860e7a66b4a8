"""The certify hook: an exact.py call's values paired with their certified enclosures.

:data:`MIRRORS` maps each :mod:`wellposed.lines.exact` function whose values feed a verdict
to its mirror in :mod:`wellposed.lines.certified` (same arguments); :func:`certify` calls
the mirror, :func:`pairs` lines up the float64 values with their enclosures and
:func:`disagreements` lists the values outside them (up to rounding,
:func:`wellposed.lines.enclosures.agrees`).  A gate can record an exact call's arguments and
result and hand them here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np

from wellposed.errors import WellposedInputError
from wellposed.lines import certified
from wellposed.lines.enclosures import Enclosure, agrees

__all__ = ["MIRRORS", "certify", "disagreements", "pairs"]

#: the certified mirror of each exact.py function whose values feed a verdict (same arguments)
MIRRORS: dict[str, Callable[..., object]] = {
    "bernoulli_bound": certified.bernoulli_bound,
    "construction_values": certified.construction_values,
    "floor_bound": certified.floor_bound,
    "gaussian_kl": certified.gaussian_kl,
    "gmm_log_lik": certified.gmm_log_lik,
    "linear_expected_log_lik": certified.linear_expected_log_lik,
    "linear_log_marginal": certified.linear_log_marginal,
    "spike_expected_log_lik": certified.spike_expected_log_lik,
    "spike_log_lik": certified.spike_log_lik,
    "spike_log_lik_bounds": certified.spike_log_lik_bounds,
    "staircase_values": certified.staircase_values,
    "thread_answer_sigma_star": certified.thread_answer_sigma_star,
    "thread_elbo": certified.thread_elbo,
    "thread_max_elbo": certified.thread_max_elbo,
    "thread_optimal_s": certified.thread_optimal_s,
    "weight_decay_bound": certified.weight_decay_bound,
}


def certify(name: str, *args: object, **kwargs: object) -> object:
    """Enclosures of ``exact.<name>(*args, **kwargs)``, shaped like its value (a list per
    array, a dict or tuple of them, one :class:`Enclosure` per scalar)."""
    if name not in MIRRORS:
        raise WellposedInputError(f"no certified mirror of exact.{name}; known: "
                                  f"{', '.join(sorted(MIRRORS))}")
    return MIRRORS[name](*args, **kwargs)


def pairs(value: object, enclosures: object) -> list[tuple[float, Enclosure]]:
    """``(float64 value, its enclosure)`` for every number in an exact.py result and the
    matching :func:`certify` result (dicts by key, tuples and arrays in order)."""
    if isinstance(enclosures, Enclosure):
        return [(float(cast(float, value)), enclosures)]
    if isinstance(enclosures, dict):
        named = cast(dict, value)
        return [p for key in enclosures for p in pairs(named[key], enclosures[key])]
    if isinstance(enclosures, tuple):
        return [p for v, e in zip(cast(tuple, value), enclosures, strict=True)
                for p in pairs(v, e)]
    encs = cast(list, enclosures)
    vals = np.atleast_1d(np.asarray(value, dtype=np.float64))
    return list(zip((float(v) for v in vals), encs, strict=True))


def disagreements(name: str, value: object, *args: object, **kwargs: object
                  ) -> list[tuple[float, Enclosure]]:
    """The float64 values in ``value = exact.<name>(*args, **kwargs)`` that lie outside
    their enclosures (empty: every value is certified up to its rounding)."""
    return [(v, e) for v, e in pairs(value, certify(name, *args, **kwargs))
            if not agrees(v, e)]
