"""Witness audits for the families the generic search cannot take, decided in log space.

Three kinds of ``torch.distributions`` family defeat the search of
:mod:`wellposed.audit.search`: vector and matrix parameters (``MultivariateNormal`` with a
full, diagonal or low-rank scale, ``LowRankMultivariateNormal``, ``Dirichlet``,
``RelaxedOneHotCategorical``, the categorical families), supports that depend on a
parameter (``Uniform``, ``Pareto``), and implementations that saturate in float64
(``Weibull``, ``Kumaraswamy``, ``RelaxedBernoulli``).  For each one this module writes the
family's general log density in log space (numpy float64), evaluates it along a witness
sequence theta(k) that keeps the observation inside the support (docs/claims.md#f1, the
"families the search cannot take" table), and decides with
:func:`wellposed.audit.analytic.sequence_verdict` (linear growth and its rate) or, for the
discrete families, from a bound derived by hand and the value at its maximiser computed by
torch.  Next to the mathematics, torch's own ``log_prob`` is evaluated along the same
sequence (:func:`probe_structured`): where it caps, breaks or raises is reported as the
implementation finding it is, never as the verdict.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributions as tdist
from scipy import special

from wellposed.audit.analytic import ScalarVerdict, fmt_number, sequence_verdict
from wellposed.audit.densities import K_FIT
from wellposed.audit.probes import ProbeRow, _classify_probe
from wellposed.evidence.decide import BOUNDED, INCONCLUSIVE
from wellposed.numerics import HALF_LOG_2PI

__all__ = ["STRUCTURED", "StructuredFamily", "log_concrete", "probe_structured",
           "structured_verdicts"]

#: the probe's sequence indices (torch's float64 log_prob along the witness)
K_PROBE = (1.0, 4.0, 16.0, 32.0, 64.0, 256.0, 700.0)
_T = torch.float64


def _t(v: np.ndarray | float) -> torch.Tensor:
    return torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=_T)


# ----------------------------------------------------------------------------------------
# log densities in log space (the mathematics; torch is only probed)
# ----------------------------------------------------------------------------------------


def log_concrete(x: np.ndarray, log_alpha: np.ndarray, log_temp: float) -> float:
    """Concrete / relaxed one-hot density on the simplex (Maddison et al. 2017, Def. 1):
    log Gamma(K) + (K-1) log t + sum_k (log a_k - (t+1) log x_k) - K logsumexp(log a - t log x)."""
    K = x.shape[-1]
    t = math.exp(log_temp)
    lx = np.log(x)
    r = log_alpha - t * lx  # exactly 0 along the witness; (t+1) lx would round t+1 to t
    return float(special.gammaln(K) + (K - 1) * log_temp + np.sum(r) - np.sum(lx)
                 - K * special.logsumexp(r))


def _log_mvn_tril(x: np.ndarray, loc: np.ndarray, tril: np.ndarray, log_diag: np.ndarray
                  ) -> float:
    """log N(x | loc, L L^T) with L = tril (unit-free off-diagonal) and log|diag L| given."""
    z = np.linalg.solve(tril, x - loc) if np.any(x != loc) else np.zeros_like(x)
    return float(-0.5 * z @ z - np.sum(log_diag) - x.shape[-1] * HALF_LOG_2PI)


def _log_kumaraswamy(x: float, log_a: float, log_b: float) -> float:
    """log(a b x^(a-1) (1 - x^a)^(b-1)), with (b-1) log(1 - x^a) formed as -(b-1) x^a (1 +
    x^a/2 + ...) from log b + a log x when x^a is tiny (b x^a stays finite)."""
    a = math.exp(log_a)
    alx = a * math.log(x)
    if alx < -18.0:
        bt = math.exp(log_b + alx) - math.exp(alx)  # (b - 1) x^a
        tail = -bt * (1.0 + 0.5 * math.exp(alx))
    else:
        tail = (math.exp(log_b) - 1.0) * math.log1p(-math.exp(alx))
    return log_a + log_b + (a - 1.0) * math.log(x) + tail


# ----------------------------------------------------------------------------------------
# per-family witnesses: (k -> log p in log space), torch construction, words
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StructuredFamily:
    """One family decided here: parameters, event kind, witness and torch construction."""

    name: str
    parameters: str
    event: str  # "scalar" (coordinate-wise) | "vector" (one row = one observation)
    support: Callable[[np.ndarray], bool]
    support_text: str
    exact: Callable[[np.ndarray, float], float]  # (observation, k) -> log p, log space
    make: Callable[[np.ndarray, float], tdist.Distribution] | None  # torch at (x, k)
    witness: str
    rate_unit: str
    source: str
    bound: Callable[[np.ndarray], tuple[float, bool, str]] | None = None  # discrete families
    ks: tuple[float, ...] = K_FIT
    k_exact_max: float = math.inf  # the log-space formula is exact up to this k (probe)
    note: str = ""
    #: log p at finite parameters for an observation on the support's edge (+inf there
    #: shows the density is unbounded), None elsewhere
    edge: Callable[[np.ndarray], tuple[float, str] | None] | None = None


def _uniform_exact(x: np.ndarray, k: float) -> float:
    lo, hi = -0.5, 0.5  # the interval x + e^-k [lo, hi] holds x; log p = -log(width)
    return -math.log(hi - lo) + k


def _pareto_exact(x: np.ndarray, k: float) -> float:
    x0 = float(x)
    log_s = math.log(x0)  # scale = x: x sits on the support's edge [scale, inf), inside it
    alpha = math.exp(k)  # log p = log alpha + alpha (log s - log x) - log x
    return k + alpha * (log_s - math.log(x0)) - math.log(x0)


def _weibull_exact(x: np.ndarray, k: float) -> float:
    x0 = float(x)
    c, r = math.exp(k), math.log(x0) - math.log(x0)  # scale = x: log(x / scale) = 0
    return k - math.log(x0) + (c - 1.0) * r - math.exp(c * r)


def _kumaraswamy_params(x: float, k: float) -> tuple[float, float]:
    """a = e^k and b with the mode ((a-1)/(ab-1))^(1/a) at x: log b = log((a-1) x^-a + 1)
    - log a, in log space."""
    a = math.exp(k)
    log_b = float(np.logaddexp(math.log(a - 1.0) - a * math.log(x), 0.0)) - k
    return k, log_b


def _relaxed_row(x: np.ndarray) -> np.ndarray:
    return np.array([float(x), 1.0 - float(x)]) if np.ndim(x) == 0 else np.asarray(x)


def _relaxed_exact(x: np.ndarray, k: float) -> float:
    row = _relaxed_row(x)  # temperature t = e^k, log alpha = t log x: the mode at x
    return log_concrete(row, math.exp(k) * np.log(row), k)


def _mvn_exact(kind: str) -> Callable[[np.ndarray, float], float]:
    def fn(x: np.ndarray, k: float) -> float:
        D = x.shape[-1]
        base = _base_tril(D) if kind == "full" else np.eye(D)
        return _log_mvn_tril(x, x, base, np.log(np.abs(np.diag(base))) - k)
    return fn


def _base_tril(D: int) -> np.ndarray:
    """A fixed full lower-triangular factor: 1 on the diagonal, 1/2 below it."""
    return np.eye(D) + 0.5 * np.tril(np.ones((D, D)), -1)


def _lowrank_exact(x: np.ndarray, k: float) -> float:
    """cov = e^-2k (w w^T + I), w = ones/sqrt(D): log det = -2kD + log(1 + |w|^2)."""
    D = x.shape[-1]
    return float(D * k - 0.5 * math.log(2.0) - D * HALF_LOG_2PI)


def _dirichlet_exact(x: np.ndarray, k: float) -> float:
    a = math.exp(k) * x
    with np.errstate(divide="ignore"):
        return float(np.sum((a - 1.0) * np.log(x)) + special.gammaln(np.sum(a))
                     - np.sum(special.gammaln(a)))


def _dirichlet_edge(x: np.ndarray) -> tuple[float, str] | None:
    if not np.any(x == 0):
        return None
    a = np.where(x == 0, 0.5, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = float(np.sum((a - 1.0) * np.log(x)) + special.gammaln(np.sum(a))
                  - np.sum(special.gammaln(a)))
    return v, "concentration 1/2 at the zero coordinates, 1 elsewhere"


def _kumaraswamy_edge(x: np.ndarray) -> tuple[float, str] | None:
    """x = 0: a = 1/2, b = 1 gives (a-1) log 0 = +inf; x = 1: a = 1, b = 1/2 gives
    (b-1) log(1 - 1) = +inf."""
    if float(x) not in (0.0, 1.0):
        return None
    a, b = (0.5, 1.0) if float(x) == 0.0 else (1.0, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = float(math.log(a * b) + (a - 1.0) * np.log(float(x))
                  + (b - 1.0) * np.log1p(-np.float64(x) ** a))
    return v, f"x = {fmt_number(float(x))}, a = {fmt_number(a)}, b = {fmt_number(b)}"


def _relaxed_edge(x: np.ndarray) -> tuple[float, str] | None:
    """The binary Concrete density times x^2t (1-x)^2t top and bottom:
    log t + log a + (t-1)(log x + log(1-x)) - 2 log(a (1-x)^t + x^t); t = 1/2, a = 1 at
    x in {0, 1} is +inf."""
    if float(x) not in (0.0, 1.0):
        return None
    t, xv = 0.5, np.float64(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = float(math.log(t) + (t - 1.0) * (np.log(xv) + np.log1p(-xv))
                  - 2.0 * np.logaddexp(t * np.log1p(-xv), t * np.log(xv)))
    return v, f"x = {fmt_number(float(x))}, temperature 1/2, logits 0"


def _simplex(x: np.ndarray) -> bool:
    return bool(np.all(x >= 0) and abs(float(np.sum(x)) - 1.0) <= 1e-9 * x.shape[-1])


def _open_simplex(x: np.ndarray) -> bool:
    return _simplex(x) and bool(np.all(x > 0))


def _onehot(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)) and np.sum(x) == 1)


def _categorical_exact(x: np.ndarray, k: float) -> float:
    K = x.shape[-1] if x.ndim else int(x) + 2  # the probe's logits have int(x) + 2 entries
    return -math.log1p((K - 1) * math.exp(-k))  # logits = k at x, 0 elsewhere


def _categorical_bound(x: np.ndarray) -> tuple[float, bool, str]:
    return 0.0, False, ("a probability mass is at most 1 (derived by hand); approached as "
                        "the logit of x -> +inf, not attained")


def _multinomial_bound(x: np.ndarray) -> tuple[float, bool, str]:
    N = float(np.sum(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        multinomial = tdist.Multinomial(int(N), probs=_t(x / N))
        v = float(multinomial.log_prob(_t(x)))  # type: ignore[no-untyped-call]
    return v, True, (f"Gibbs' inequality (derived by hand): sup over probs is at probs = x/N "
                     f"(N = {fmt_number(N)}), log N!/prod x_i! + sum x_i log(x_i/N), "
                     "evaluated by torch's Multinomial.log_prob")


def _counts(x: np.ndarray) -> bool:
    return bool(np.all(x >= 0) and np.all(x == np.round(x)) and np.sum(x) > 0)


def _scalar_int(x: np.ndarray) -> bool:
    return bool(x >= 0 and x == round(float(x)))


STRUCTURED: dict[str, StructuredFamily] = {f.name: f for f in [
    StructuredFamily(
        "Uniform", "low < high (the support [low, high) depends on both)", "scalar",
        lambda x: True, "any real x", _uniform_exact,
        lambda x, k: tdist.Uniform(_t(float(x) - 0.5 * math.exp(-k)),
                                   _t(float(x) + 0.5 * math.exp(-k)), validate_args=False),
        "low = x - e^-k/2, high = x + e^-k/2 (x stays inside the support)", "log(1/width)",
        "derived (docs/claims.md#f1, parameter-dependent supports)"),
    StructuredFamily(
        "Pareto", "alpha > 0, scale > 0 (the support [scale, inf) depends on scale)", "scalar",
        lambda x: bool(x > 0), "x > 0", _pareto_exact,
        lambda x, k: tdist.Pareto(_t(x), _t(math.exp(k)), validate_args=False),
        "scale = x (x on the support's edge, inside it), alpha = e^k",
        "log(concentration alpha)", "derived (docs/claims.md#f1, parameter-dependent supports)"),
    StructuredFamily(
        "Weibull", "scale > 0, concentration > 0", "scalar", lambda x: bool(x > 0), "x > 0",
        _weibull_exact,
        lambda x, k: tdist.Weibull(_t(x), _t(math.exp(k)), validate_args=False),
        "scale = x, concentration c = e^k: log p = log c - log x - 1",
        "log(concentration)", "derived (docs/claims.md#f1, saturating implementations)",
        note="the generic search over (log scale, log concentration) levels off (log p about "
        "11.6 at x = 0.5): off the ridge scale = x a relative offset d costs about "
        "(1 + d)^c - 1 nats, so the ascent stalls at moderate c; that is the search's (and "
        "float64's) resolution, not a bound: along the exact witness the log density grows "
        "by one nat per unit log c"),
    StructuredFamily(
        "Kumaraswamy", "concentration1 a > 0, concentration0 b > 0", "scalar",
        lambda x: bool(0 <= x <= 1), "x in [0, 1]",
        lambda x, k: _log_kumaraswamy(float(x), *_kumaraswamy_params(float(x), k)),
        lambda x, k: tdist.Kumaraswamy(_t(math.exp(k)), _t(math.exp(min(
            _kumaraswamy_params(float(x), k)[1], 709.0))), validate_args=False),
        "a = e^k, b chosen so that the mode ((a-1)/(ab-1))^(1/a) is x",
        "log(concentration a)", "derived (docs/claims.md#f1, saturating implementations)",
        ks=(8.0, 10.0, 12.0, 14.0, 16.0, 18.0), k_exact_max=18.0, edge=_kumaraswamy_edge),
    StructuredFamily(
        "RelaxedBernoulli", "temperature t > 0, logits real", "scalar",
        lambda x: bool(0 <= x <= 1), "x in [0, 1]", _relaxed_exact,
        lambda x, k: tdist.RelaxedBernoulli(_t(math.exp(k)), logits=_t(
            math.exp(k) * (math.log(float(x)) - math.log1p(-float(x)))), validate_args=False),
        "temperature t = e^k, logits = t logit(x): log p = k - log 4 - log(x(1-x))",
        "log(temperature)", "Maddison et al. 2017 (binary Concrete); docs/claims.md#f1",
        edge=_relaxed_edge),
    StructuredFamily(
        "MultivariateNormal", "loc real D-vector; scale_tril / covariance_matrix / "
        "precision_matrix D x D", "vector", lambda x: True, "any real row",
        _mvn_exact("full"),
        lambda x, k: tdist.MultivariateNormal(_t(x), scale_tril=_t(math.exp(-k)
                                              * _base_tril(x.shape[-1])), validate_args=False),
        "loc = x, scale_tril = e^-k L0 (full L0: 1 on, 1/2 below the diagonal; the diagonal "
        "L0 = I gives the same rate)", "log(1/scale)", "derived (docs/claims.md#f1)"),
    StructuredFamily(
        "LowRankMultivariateNormal", "loc real D-vector, cov_factor D x r, cov_diag > 0 "
        "D-vector", "vector", lambda x: True, "any real row", _lowrank_exact,
        lambda x, k: tdist.LowRankMultivariateNormal(
            _t(x), _t(math.exp(-k) * np.ones((x.shape[-1], 1)) / math.sqrt(x.shape[-1])),
            _t(math.exp(-2.0 * k) * np.ones(x.shape[-1])), validate_args=False),
        "loc = x, cov_factor = e^-k w (w = ones/sqrt(D), rank 1), cov_diag = e^-2k "
        "(with cov_factor held fixed the rate is D - rank)", "log(1/scale)",
        "derived (docs/claims.md#f1; matrix determinant lemma)"),
    StructuredFamily(
        "Dirichlet", "concentration > 0 K-vector", "vector", _simplex,
        "rows on the probability simplex", _dirichlet_exact,
        lambda x, k: tdist.Dirichlet(_t(math.exp(k) * x), validate_args=False),
        "concentration = e^k x (mean x): log p ~ ((K-1)/2) k; +inf at a zero coordinate "
        "whose concentration is < 1", "log(total concentration)",
        "derived (docs/claims.md#f2; Stirling, DLMF 5.11.1)", k_exact_max=21.0,
        edge=_dirichlet_edge),
    StructuredFamily(
        "RelaxedOneHotCategorical", "temperature t > 0, logits real K-vector", "vector",
        _open_simplex, "rows in the open simplex", _relaxed_exact,
        lambda x, k: tdist.RelaxedOneHotCategorical(_t(math.exp(k)), logits=_t(
            math.exp(k) * np.log(x)), validate_args=False),
        "temperature t = e^k, logits = t log x: log p = (K-1) k + log (K-1)! - K log K "
        "- sum log x", "log(temperature)", "Maddison et al. 2017 (Concrete); "
        "docs/claims.md#f1"),
    StructuredFamily(
        "Categorical", "probs on the simplex (logits real K-vector)", "scalar", _scalar_int,
        "integers x >= 0", _categorical_exact,
        lambda x, k: tdist.Categorical(logits=_t(k * np.eye(int(x) + 2)[int(x)]),
                                       validate_args=False),
        "logits = k at x, 0 elsewhere", "", "docs/claims.md#f4 (a mass is <= 1)",
        bound=_categorical_bound, ks=(1.0, 2.0, 4.0, 8.0, 16.0, 32.0)),
    StructuredFamily(
        "OneHotCategorical", "probs on the simplex (logits real K-vector)", "vector", _onehot,
        "one-hot rows", _categorical_exact,
        lambda x, k: tdist.OneHotCategorical(logits=_t(k * x), validate_args=False),
        "logits = k at the hot coordinate, 0 elsewhere", "",
        "docs/claims.md#f4 (a mass is <= 1)", bound=_categorical_bound,
        ks=(1.0, 2.0, 4.0, 8.0, 16.0, 32.0)),
    StructuredFamily(
        "Multinomial", "total_count N, probs on the simplex", "vector", _counts,
        "rows of non-negative integer counts", lambda x, k: 0.0, None,
        "probs = x / N (the maximiser)", "", "docs/claims.md#f4 (Gibbs' inequality)",
        bound=_multinomial_bound),
]}
STRUCTURED["OneHotCategoricalStraightThrough"] = STRUCTURED["OneHotCategorical"]


def structured_verdicts(name: str, obs: np.ndarray) -> list[ScalarVerdict]:
    """One verdict per observation (scalar values, or rows for vector families); an
    observation outside the support gets ``bound = -inf``."""
    fam = STRUCTURED[name]
    out = []
    for x in obs:
        x = np.asarray(x, dtype=np.float64)
        if not fam.support(x):
            out.append(ScalarVerdict(BOUNDED, bound=-math.inf, attained=True,
                                     reason=f"outside the support ({fam.support_text})"))
            continue
        if fam.bound is not None:
            b, attained, why = fam.bound(x)
            out.append(ScalarVerdict(BOUNDED, bound=b, attained=attained, reason=why))
            continue
        at_edge = fam.edge(x) if fam.edge is not None else None
        if at_edge is not None:  # the density itself, at finite parameters
            out.append(sequence_verdict(np.array([0.0]), np.array([at_edge[0]]), "",
                                        at_edge[1]))
            continue
        ks = np.array(fam.ks)
        vals = np.array([fam.exact(x, float(k)) for k in ks])
        out.append(sequence_verdict(ks, vals, fam.rate_unit, fam.witness))
    return out


def probe_structured(name: str, obs: np.ndarray) -> tuple[tuple[ProbeRow, ...], str]:
    """torch's float64 ``log_prob`` along the witness at a representative observation."""
    fam = STRUCTURED[name]
    inside = [np.asarray(x, np.float64) for x in obs if fam.support(np.asarray(x, np.float64))
              and (fam.edge is None or fam.edge(np.asarray(x, np.float64)) is None)]
    if fam.make is None or not inside:
        return (), "torch evaluated at the maximiser only (see the reason)"
    x = inside[len(inside) // 2]
    ks, exact, tv, raised = [], [], [], []
    for k in K_PROBE:
        if k > fam.k_exact_max:
            continue
        try:
            e = fam.exact(x, k)
        except (OverflowError, ValueError):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                d = fam.make(x, k)
                v = float(d.log_prob(_t(x)))
                err = ""
            except (ValueError, RuntimeError, OverflowError) as exc:
                v, err = math.nan, type(exc).__name__
        ks.append(k)
        exact.append(e)
        tv.append(v)
        raised.append(err)
    rows, text = _classify_probe(ks, exact, tv, raised)
    where = fmt_number(float(x)) if x.ndim == 0 else "[" + ", ".join(
        fmt_number(float(v), 4) for v in x[:4]) + (", ...]" if x.shape[-1] > 4 else "]")
    return rows, f"torch.distributions.{name} at x = {where}, {fam.witness}: {text}"


def inconclusive(reason: str) -> ScalarVerdict:
    """An inconclusive verdict with its (checkable) reason."""
    return ScalarVerdict(INCONCLUSIVE, reason=reason)
