"""The certify hook: an exact.py call's values paired with their certified enclosures.

:data:`MIRRORS` maps each :mod:`wellposed.lines.exact` function whose values feed a verdict
to its mirror in :mod:`wellposed.lines.certified` (same arguments); :func:`certify` calls
the mirror, :func:`pairs` lines up the float64 values with their enclosures and
:func:`disagreements` lists the values outside them (up to rounding,
:func:`wellposed.lines.enclosures.agrees`).  A gate can record an exact call's arguments and
result and hand them here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

import numpy as np

from wellposed.errors import WellposedInputError
from wellposed.lines import certified, exact, family_certified
from wellposed.lines.enclosures import Enclosure, agrees

__all__ = [
    "ALLOWANCES",
    "FAMILY_MIRRORS",
    "MIRRORS",
    "Call",
    "Certified",
    "certify",
    "certify_calls",
    "disagreements",
    "pairs",
    "record",
    "recording",
    "residual_rounding",
]

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


#: the closed forms of the family claims F1-F6 (audit/densities.py, audit/analytic.py values),
#: enclosed by :mod:`wellposed.lines.family_certified`; a claim hands each float64 value it
#: uses to :func:`record` under one of these names with the enclosure's arguments
FAMILY_MIRRORS: dict[str, Callable[..., object]] = {
    "family.bernoulli_sup": family_certified.bernoulli_sup,
    "family.cb_interior_sup": family_certified.cb_interior_sup,
    "family.discretized_sup": family_certified.discretized_sup,
    "family.gaussian_nll_sup": family_certified.gaussian_nll_sup,
    "family.softclip_sup": family_certified.softclip_sup,
    "family.spike": family_certified.spike,
    "family.studentt_floor_sup": family_certified.studentt_floor_sup,
}

_ACTIVE: list[list[Call]] = []  # the open recordings, innermost last


def certify(name: str, *args: object, **kwargs: object) -> object:
    """Enclosures of ``exact.<name>(*args, **kwargs)`` (or of the family closed form
    ``name`` in :data:`FAMILY_MIRRORS`), shaped like its value (a list per array, a dict or
    tuple of them, one :class:`Enclosure` per scalar)."""
    mirror = MIRRORS.get(name) or FAMILY_MIRRORS.get(name)
    if mirror is None:
        known = ", ".join(sorted((*MIRRORS, *FAMILY_MIRRORS)))
        raise WellposedInputError(f"no certified mirror of {name}; known: {known}")
    return mirror(*args, **kwargs)


def record(name: str, value: float, *args: object) -> float:
    """Hand the float64 ``value`` of the closed form ``name`` (:data:`FAMILY_MIRRORS`) at
    ``args`` to the open :func:`recording`, if any, to be certified after it; returns
    ``value`` (a claim records each closed-form value its verdict compares)."""
    if name not in FAMILY_MIRRORS:
        raise WellposedInputError(
            f"no family closed form {name!r}; known: {sorted(FAMILY_MIRRORS)}"
        )
    if _ACTIVE:
        _ACTIVE[-1].append(Call(name, tuple(args), {}, float(value)))
    return value


def pairs(value: object, enclosures: object) -> list[tuple[float, Enclosure]]:
    """``(float64 value, its enclosure)`` for every number in an exact.py result and the
    matching :func:`certify` result (dicts by key, tuples and arrays in order)."""
    if isinstance(enclosures, Enclosure):
        return [(float(cast(float, value)), enclosures)]
    if isinstance(enclosures, dict):
        named = cast(dict[str, object], value)
        return [p for key in enclosures for p in pairs(named[key], enclosures[key])]
    if isinstance(enclosures, tuple):
        return [
            p
            for v, e in zip(cast(tuple[object, ...], value), enclosures, strict=True)
            for p in pairs(v, e)
        ]
    encs = cast(list[Enclosure], enclosures)
    vals = np.atleast_1d(np.asarray(value, dtype=np.float64))
    return list(zip((float(v) for v in vals), encs, strict=True))


def residual_rounding(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, log_var: np.ndarray, q_mean: np.ndarray, *_: object
) -> np.ndarray:
    """Per point, a bound on the float64 rounding of linear_expected_log_lik's scaled residual
    ``sum_j r_j^2 e^{-lv_j} / 2``: ``fl(x - (W m + b))`` is off by at most
    ``delta_j = (d + 2) eps (|x_j| + sum_k |W_jk m_k| + |b_j|)`` (Higham 2002, ch. 3), which
    moves the term by ``e^{-lv_j} (|r_j| delta_j + delta_j^2 / 2)``; at ``lv = -53`` and
    ``r = 0`` that is ~1e-9 (the data's own rounding, not a mesh or formula error)."""
    x, W, m = np.atleast_2d(x), np.atleast_2d(W), np.atleast_2d(q_mean)
    lv = np.broadcast_to(np.asarray(log_var, dtype=np.float64), (W.shape[0],))
    delta = (
        (W.shape[1] + 2)
        * np.finfo(np.float64).eps
        * (np.abs(x) + np.abs(m) @ np.abs(W).T + np.abs(b))
    )
    r = np.abs(x - (m @ W.T + b))
    moved = r * delta + 0.5 * delta**2
    with np.errstate(over="ignore", invalid="ignore"):
        out: np.ndarray = np.sum(np.where(moved > 0, np.exp(-lv) * moved, 0.0), axis=1)
    return out


#: exact.py functions whose float64 formula cancels beyond :data:`ROUNDING` (bound per value)
ALLOWANCES: dict[str, Callable[..., np.ndarray]] = {
    "linear_expected_log_lik": residual_rounding,
}


def disagreements(
    name: str,
    value: object,
    args: tuple[object, ...],
    kwargs: dict[str, object] | None = None,
    enclosures: object = None,
) -> list[tuple[float, Enclosure]]:
    """The float64 values in ``value = exact.<name>(*args, **kwargs)`` that lie outside
    their enclosures (``certify(name, *args, **kwargs)`` unless given) up to rounding
    (:data:`ALLOWANCES` where a formula cancels); empty: every value is certified."""
    kwargs = kwargs or {}
    encs = certify(name, *args, **kwargs) if enclosures is None else enclosures
    got = pairs(value, encs)
    extra = ALLOWANCES[name](*args, **kwargs) if name in ALLOWANCES else np.zeros(len(got))
    return [(v, e) for (v, e), a in zip(got, extra, strict=True) if not agrees(v, e, atol=a)]


@dataclass(frozen=True)
class Call:
    """One recorded exact.py call: the function's name, its arguments and float64 result."""

    name: str
    args: tuple[object, ...]
    kwargs: dict[str, object]
    value: object


@contextmanager
def recording() -> Iterator[list[Call]]:
    """Record the outermost call of every :data:`MIRRORS` function of exact.py made inside
    the block (a nested call, e.g. construction_values -> staircase_values, is part of its
    caller's), and every family closed form handed to :func:`record`.  The wrappers are
    removed on exit: certify only after it, since the certified mirrors call exact.py
    themselves.  Not thread-safe (one claim per process at a time)."""
    calls: list[Call] = []
    depth = [0]

    def wrap(name: str, fn: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(fn)
        def recorded(*args: object, **kwargs: object) -> object:
            depth[0] += 1
            try:
                out = fn(*args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                calls.append(Call(name, args, dict(kwargs), out))
            return out

        return recorded

    originals = {name: getattr(exact, name) for name in MIRRORS}
    for name, fn in originals.items():
        setattr(exact, name, wrap(name, fn))
    _ACTIVE.append(calls)
    try:
        yield calls
    finally:
        _ACTIVE.remove(calls)
        for name, fn in originals.items():
            setattr(exact, name, fn)


@dataclass(frozen=True)
class Certified:
    """The recorded calls certified: every ``(name, float64 value, enclosure)``, those outside
    their enclosures, and the calls no mirror could enclose (``name: reason``)."""

    values: tuple[tuple[str, float, Enclosure], ...]
    outside: tuple[tuple[str, float, Enclosure], ...]
    not_certified: tuple[str, ...]

    def enclosure_of(self, value: float) -> Enclosure | None:
        """The enclosure of a recorded float64 value equal to ``value`` (bit for bit), or
        None when the value was not recorded (it came from another line)."""
        for _, v, enc in self.values:
            if v == value:
                return enc
        return None


def certify_calls(calls: list[Call]) -> Certified:
    """Certify every recorded call (:func:`certify`) and check its values
    (:func:`disagreements`); a mirror that raises (an argument outside its domain) leaves
    that call not certified, with the reason."""
    values: list[tuple[str, float, Enclosure]] = []
    outside: list[tuple[str, float, Enclosure]] = []
    failed: list[str] = []
    for call in calls:
        try:
            encs = certify(call.name, *call.args, **call.kwargs)
            got = pairs(call.value, encs)
            bad = disagreements(call.name, call.value, call.args, call.kwargs, encs)
        except (ArithmeticError, ValueError, WellposedInputError) as exc:
            failed.append(f"{call.name}: {type(exc).__name__}: {exc}")
            continue
        values += [(call.name, v, e) for v, e in got]
        outside += [(call.name, v, e) for v, e in bad]
    return Certified(tuple(values), tuple(outside), tuple(failed))
