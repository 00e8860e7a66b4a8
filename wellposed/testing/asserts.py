"""Assertions for users' test suites: is an objective unbounded, bounded, is a model bounded?

Like ``numpy.testing.assert_allclose``: each function returns ``None`` when the property
holds and raises ``AssertionError`` with the evidence (the witness, the fitted rate, the
largest value found) when it does not.  Built on the harness's own checks
(:func:`wellposed.evidence.fit_rate`, :func:`~wellposed.evidence.check_witness`,
:func:`~wellposed.evidence.check_bound`; docs/design.md, "Trust rules"), Hypothesis
strategies (:mod:`wellposed.testing.strategies`) and the model audit
(:func:`wellposed.audit.model.audit_model`).

* :func:`assert_unbounded`: along a schedule ``k_1 < ... < k_L`` the objective passes a
  target ``M`` and grows (at the expected rate, when given);
* :func:`assert_bounded`: no starting point drawn by ``search`` (a Hypothesis strategy), and
  no point on the gradient-ascent path from it, exceeds the bound;
* :func:`assert_model_bounded`: ``audit_model`` proves a bound for a decoder / encoder pair
  on the data (docs/your-model.md).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky

from wellposed.audit.model import ModelAudit, audit_model
from wellposed.errors import WellposedInputError
from wellposed.evidence.checks import check_bound, check_witness, fit_rate
from wellposed.evidence.decide import BOUNDED

__all__ = ["assert_bounded", "assert_model_bounded", "assert_unbounded", "starting_points"]

_DTYPE = torch.float64
#: Hypothesis phases: the first failing example is the witness (shrinking would re-run the
#: ascent many times for a simpler start, which the message does not need)
_NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _unbounded_failure(
    ks: Sequence[float],
    vals: Sequence[float],
    target: float,
    rate: float | None,
    rtol: float,
    x_name: str,
) -> str | None:
    """The reason ``vals`` along ``ks`` do not show an unbounded objective, or ``None``."""
    witness = check_witness({x_name: float(ks[-1])}, float(vals[-1]), float(target))
    fit = fit_rate(ks, vals, expected=rate if rate is not None else 1.0, x_name=x_name, rtol=rtol)
    problems = []
    if not witness.passed:
        problems.append(
            f"the last value {_fmt(witness.value)} at {x_name} = {_fmt(ks[-1])} "
            f"does not pass the target M = {_fmt(target)}"
        )
    if not np.all(np.isfinite(vals)):
        problems.append("a value is not finite")
    elif rate is not None and not fit.ok:
        problems.append(
            f"fitted rate {_fmt(fit.slope)} per unit {x_name} differs from the "
            f"expected {_fmt(rate)} by more than rtol = {rtol:g}"
        )
    elif rate is None and not fit.slope > 0:
        problems.append(f"the values do not grow: fitted rate {_fmt(fit.slope)} per unit {x_name}")
    if not problems:
        return None
    table = ", ".join(f"({_fmt(k)}, {_fmt(v)})" for k, v in zip(ks, vals, strict=True))
    return (
        "objective not shown unbounded: "
        + "; ".join(problems)
        + f"\n  ({x_name}, value) along the schedule: {table}"
    )


def assert_unbounded(
    objective: Callable[[float], float],
    schedule: Any,
    *,
    target: float,
    rate: float | None = None,
    rtol: float = 0.05,
    x_name: str = "k",
    max_examples: int = 20,
) -> None:
    """Assert that ``objective(k)`` passes ``target`` at the end of ``schedule`` and grows.

    ``objective``: ``k -> value`` along a candidate divergent sequence (e.g. the L1 spike
    with ``log sigma^2 = -k``).  ``schedule``: increasing ``k`` values, or a Hypothesis
    strategy of them (:func:`~wellposed.testing.strategies.schedules`; every drawn schedule
    must pass).  ``rate``: the derived growth per unit ``k``; the least-squares slope must
    match it within ``rtol`` (without it the slope must be positive).  The failure message
    shows the witness and the values.

    >>> import math
    >>> spike = lambda k: 3 * (k / 2 - 0.5 * math.log(2 * math.pi))  # log N(x | x, e^-k), D=3
    >>> assert_unbounded(spike, [10, 20, 40, 80], target=100.0, rate=1.5)
    """
    if isinstance(schedule, st.SearchStrategy):
        failures: list[str] = []

        @settings(
            max_examples=max_examples,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=_NO_SHRINK,
        )
        @given(schedule)
        def run(ks: list[float]) -> None:
            vals = [float(objective(float(k))) for k in ks]
            reason = _unbounded_failure(list(ks), vals, target, rate, rtol, x_name)
            if reason is not None:
                failures.append(reason)
                raise AssertionError(reason)

        try:
            run()
        except (AssertionError, Flaky):
            raise AssertionError(failures[-1] if failures else "assert_unbounded failed") from None
        return
    ks = [float(k) for k in schedule]
    if len(ks) < 3 or any(b <= a for a, b in zip(ks, ks[1:], strict=False)):
        raise WellposedInputError(
            f"schedule must hold at least 3 strictly increasing values, got {ks}"
        )
    vals = [float(objective(k)) for k in ks]
    reason = _unbounded_failure(ks, vals, target, rate, rtol, x_name)
    if reason is not None:
        raise AssertionError(reason)


def starting_points(dim: int, scale: float = 3.0) -> st.SearchStrategy[np.ndarray]:
    """Starting parameter vectors for :func:`assert_bounded`: ``dim`` entries drawn from
    ``N(0, s^2)`` with a drawn seed and a drawn ``s`` in ``[0.1, scale]`` (float64)."""
    if not isinstance(dim, int) or dim < 1:  # type: ignore[redundant-expr]
        raise WellposedInputError(f"dim must be a positive integer, got {dim!r}")
    return st.tuples(st.integers(0, 2**32 - 1), st.floats(0.1, scale)).map(
        lambda a: np.random.default_rng(a[0]).normal(scale=a[1], size=dim)
    )


def _ascent_values(
    objective: Callable[[torch.Tensor], torch.Tensor],
    start: np.ndarray,
    steps: int,
    lr: float,
    stop_above: float,
) -> list[float]:
    """Values of ``objective`` at ``start`` and along Adam ascent from it (grad mode on, as
    a training loop sees them; stopped once a value passes ``stop_above``), then at the end
    point under ``no_grad``."""
    theta = torch.tensor(np.asarray(start, dtype=np.float64), dtype=_DTYPE, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=lr)
    vals = []
    for _ in range(steps):
        opt.zero_grad()
        value = objective(theta)
        v = float(value.detach())
        vals.append(v)
        if not math.isfinite(v) or v > stop_above:
            break
        (grad,) = torch.autograd.grad(value, theta)
        theta.grad = -grad
        opt.step()
    with torch.no_grad():
        vals.append(float(objective(theta.detach())))
    return vals


def assert_bounded(
    objective: Callable[[torch.Tensor], torch.Tensor],
    bound: float,
    *,
    search: st.SearchStrategy[np.ndarray] | int,
    steps: int = 100,
    lr: float = 0.1,
    tol: float = 1e-9,
    max_examples: int = 5,
) -> None:
    """Assert that ``objective(theta) <= bound`` at every point a search reaches.

    ``objective``: a float64 tensor ``theta`` -> scalar tensor (higher is better).
    ``search``: a Hypothesis strategy of starting points (numpy arrays), or an ``int`` (the
    dimension: :func:`starting_points`).  From each start, ``steps`` of Adam ascent run with
    autograd on, and every value on the path is checked
    (:func:`~wellposed.evidence.check_bound`, slack ``tol * max(1, |bound|)``): a clamp that
    holds only for values computed without autograd does not pass.  The failure message
    shows the witness: the start, and the largest value found.

    >>> import torch
    >>> floored = lambda th: -0.5 * torch.log(1e-3 + torch.nn.functional.softplus(th)).sum()
    >>> assert_bounded(floored, -0.5 * math.log(1e-3), search=1)
    """
    strategy = starting_points(search) if isinstance(search, int) else search
    if not isinstance(strategy, st.SearchStrategy):
        raise WellposedInputError(
            "search must be a Hypothesis strategy of starting points or the dimension (an int)"
        )
    found: list[str] = []

    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=_NO_SHRINK,
    )
    @given(strategy)
    def run(start: np.ndarray) -> None:
        vals = _ascent_values(
            objective, start, steps, lr, float(bound) + tol * max(1.0, abs(float(bound)))
        )
        check = check_bound(float(bound), {"ascent": vals}, tol=tol)
        if not check.ok:
            at = int(np.nanargmax(vals)) if not np.isnan(vals).all() else 0
            found.append(
                f"value {_fmt(check.max_value)} > bound {_fmt(bound)} at ascent step "
                f"{at} from start {np.array2string(np.asarray(start), precision=4)}"
            )
            raise AssertionError(found[-1])

    try:
        run()
    except (AssertionError, Flaky):
        raise AssertionError(
            "objective exceeds its bound: " + (found[-1] if found else "?")
        ) from None


def assert_model_bounded(
    decoder: torch.nn.Module,
    encoder: torch.nn.Module,
    data: Any,
    *,
    budget: float = 10.0,
    rows: int = 1,
    seed: int = 0,
    objective: Any = None,
) -> ModelAudit:
    """Assert that :func:`~wellposed.audit.model.audit_model` proves the pair bounded on
    ``data`` (a recognised floor, clamp or family; the attack must not exceed the bound).
    Returns the audit; on failure the message is the audit's report (with the witness
    when the verdict is unbounded)."""

    def factory() -> tuple[Any, ...]:
        pair = (copy.deepcopy(decoder), copy.deepcopy(encoder))
        return pair if objective is None else (*pair, objective)

    res = audit_model(factory, data, budget=budget, rows=rows, seed=seed, audits=False)
    if res.verdict != BOUNDED:
        raise AssertionError(f"model not proved bounded:\n{res.render_text()}")
    return res
