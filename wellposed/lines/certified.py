"""Rigorous enclosures of the exact line's values (ball arithmetic: python-flint / Arb).

Every function here mirrors one of :mod:`wellposed.lines.exact` and returns, per value, an
:class:`~wellposed.lines.enclosures.Enclosure` ``[lo, hi]`` guaranteed to contain the true
value of the same formula at the same float64 inputs (each input read exactly as the float
it is).  Closed forms are evaluated in ``arb`` balls (``arb_mat`` for the linear-Gaussian
marginal); the spike and staircase 1-D reductions are integrated rigorously over ``[-L, L]``
(:func:`wellposed.lines.enclosures.integral`) plus a ball bounding the rest of the real line,
``int_{|u| > L} phi = erfc(L / sqrt 2)`` times the integrand's supremum (stated at each
function).  Breakpoints handed to the integrator (cuts, cliffs) only speed it up: any
subdivision gives a valid enclosure.  :func:`agrees` / :func:`check` compare float64 values
with their enclosures.  NOT certified: the formulas themselves (derived by hand, docs/design.md)
and float64 network outputs fed in (encoder means and log-variances are taken as given).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.special as sp
from flint import acb, acb_mat, arb, arb_mat

from wellposed.errors import WellposedInputError
from wellposed.lines import exact, meshes
from wellposed.lines.enclosures import (
    ROUNDING,
    SPAN,
    TARGET,
    Enclosure,
    agrees,
    breaks,
    check,
    difference,
    integral,
    log_2pi,
    prior_tail,
    refine,
    sigmoid,
    span_for,
    union0,
)
from wellposed.lines.enclosures import exactly as _a
from wellposed.numerics import LOG_2PI

if TYPE_CHECKING:
    from wellposed.constructions import Construction
    from wellposed.models.networks import GaussianMLPDecoder, LinearGaussianDecoder

__all__ = [
    "ROUNDING",
    "TARGET",
    "Enclosure",
    "agrees",
    "bernoulli_bound",
    "check",
    "construction_values",
    "floor_bound",
    "floored_mixture_value",
    "gaussian_kl",
    "gmm_log_lik",
    "linear_expected_log_lik",
    "linear_log_marginal",
    "ppca_max_log_lik",
    "spike_expected_log_lik",
    "spike_log_lik",
    "spike_log_lik_bounds",
    "staircase_values",
    "thread_answer_sigma_star",
    "thread_elbo",
    "thread_max_elbo",
    "thread_optimal_s",
    "weight_decay_bound",
]

# ---------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------


def gaussian_kl(mean: np.ndarray, log_var: np.ndarray) -> list[Enclosure]:
    """Per point ``(1/2) sum_k (m_k^2 + e^{lv_k} - 1 - lv_k)`` (exact.gaussian_kl)."""
    m = np.atleast_2d(np.asarray(mean, dtype=np.float64))
    lv = np.atleast_2d(np.asarray(log_var, dtype=np.float64))

    def compute() -> list[arb]:
        return [sum((_a(a) ** 2 + _a(b).exp() - 1 - _a(b) for a, b in zip(mr, lr, strict=True)),
                    arb(0)) / 2 for mr, lr in zip(m, lv, strict=True)]

    return refine(compute)


def floor_bound(n: int, D: int, xi: float) -> Enclosure:
    """``-(n D / 2) log(2 pi xi)`` (exact.floor_bound)."""
    return refine(lambda: [-arb(n * D) / 2 * (2 * arb.pi() * _a(xi)).log()])[0]


def bernoulli_bound(x: np.ndarray) -> Enclosure:
    """``sum_u n_u log(n_u / n)`` over the distinct rows (exact.bernoulli_bound)."""
    _, counts = np.unique(np.asarray(x), axis=0, return_counts=True)
    total = int(counts.sum())
    return refine(lambda: [sum((arb(int(c)) * (arb(int(c)) / total).log() for c in counts),
                                arb(0))])[0]


def weight_decay_bound(n: int, D: int, H: int, lam: float) -> Enclosure:
    """``D n^2 (H + 1) / (8 lam) - (n D / 2) log 2pi`` (exact.weight_decay_bound)."""
    return refine(lambda: [arb(D * n * n * (H + 1)) / (8 * _a(lam))
                            - arb(n * D) / 2 * log_2pi()])[0]


def thread_elbo(lam: float, s: float, kind: str = "identity", m: float = 0.0) -> Enclosure:
    """``(1/2) log(lam / 2pi) - lam (m^2 + s^2) / 2 - (m^2 + s^2 - 1 - log s^2) / 2``
    (identity; the constant decoder drops the ``lam`` spread term; exact.thread_elbo)."""

    def compute() -> list[arb]:
        la, sa, ma = _a(lam), _a(s), _a(m)
        spread = ma * ma + sa * sa
        kl = (spread - 1 - (sa * sa).log()) / 2
        fit = la * spread / 2 if kind == "identity" else arb(0)
        return [(la / (2 * arb.pi())).log() / 2 - fit - kl]

    return refine(compute)[0]


def thread_max_elbo(lam: float, kind: str = "identity") -> Enclosure:
    """``(1/2) log(lam / (lam + 1)) - (1/2) log 2pi`` (identity) or ``(1/2) log(lam / 2pi)``
    (constant) (exact.thread_max_elbo)."""
    if kind == "identity":
        return refine(lambda: [(_a(lam) / (_a(lam) + 1)).log() / 2 - log_2pi() / 2])[0]
    return refine(lambda: [(_a(lam) / (2 * arb.pi())).log() / 2])[0]


def gmm_log_lik(x: np.ndarray, weights: np.ndarray, means: np.ndarray, log_vars: np.ndarray
                ) -> list[Enclosure]:
    """Per point ``log sum_c w_c N(x | mu_c, e^{lv_c} I)`` (exact.gmm_log_lik)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    D = x.shape[1]

    def point(row: np.ndarray) -> arb:
        total = arb(0)
        for w, mu, lv in zip(weights, means, log_vars, strict=True):
            sq = sum(((_a(a) - _a(b)) ** 2 for a, b in zip(row, mu, strict=True)), arb(0))
            total += (_a(w).log() - (D * log_2pi() + D * _a(lv) + sq * (-_a(lv)).exp()) / 2
                      ).exp()
        return total.log()

    return refine(lambda: [point(r) for r in x])


def linear_expected_log_lik(x: np.ndarray, W: np.ndarray, b: np.ndarray, log_var: np.ndarray,
                            q_mean: np.ndarray, q_log_var: np.ndarray) -> list[Enclosure]:
    """Per point ``-(1/2) sum_j [log 2pi + lv_j + ((x_j - (W m + b)_j)^2 + sum_k W_jk^2
    e^{qlv_k}) e^{-lv_j}]`` (exact.linear_expected_log_lik)."""
    x, W = np.atleast_2d(x), np.atleast_2d(W)
    lv = np.broadcast_to(np.asarray(log_var, dtype=np.float64), (W.shape[0],))

    def point(xi: np.ndarray, m: np.ndarray, qlv: np.ndarray) -> arb:
        total = arb(0)
        for j in range(W.shape[0]):
            mean = _a(b[j]) + sum((_a(W[j, k]) * _a(m[k]) for k in range(W.shape[1])), arb(0))
            spread = sum((_a(W[j, k]) ** 2 * _a(qlv[k]).exp() for k in range(W.shape[1])),
                         arb(0))
            total += log_2pi() + _a(lv[j]) + ((_a(xi[j]) - mean) ** 2 + spread) * (
                -_a(lv[j])).exp()
        return -total / 2

    return refine(lambda: [point(*row) for row in zip(x, np.atleast_2d(q_mean),
                                                       np.atleast_2d(q_log_var), strict=True)])


def linear_log_marginal(x: np.ndarray, W: np.ndarray, b: np.ndarray, log_var: np.ndarray
                        ) -> list[Enclosure]:
    """Per point ``log N(x | b, C)``, ``C = W W^T + diag(e^{lv})``:
    ``-(1/2)(D log 2pi + log det C + (x - b)^T C^-1 (x - b))`` with ``det`` and ``solve`` of
    ``arb_mat`` (rigorous Gaussian elimination; exact.linear_log_marginal)."""
    x, W = np.atleast_2d(x), np.atleast_2d(W)
    D, d = W.shape
    lv = np.broadcast_to(np.asarray(log_var, dtype=np.float64), (D,))

    def compute() -> list[arb]:
        Wa = arb_mat([[_a(v) for v in row] for row in W])
        C = Wa * Wa.transpose() + arb_mat([[_a(lv[i]).exp() if i == j else arb(0)
                                            for j in range(D)] for i in range(D)])
        log_det = C.det().log()
        out = []
        for row in x:
            r = arb_mat([[_a(v) - _a(c)] for v, c in zip(row, b, strict=True)])
            quad = (r.transpose() * C.solve(r))[0, 0]
            out.append(-(D * log_2pi() + log_det + quad) / 2)
        return out

    return refine(compute)


# ---------------------------------------------------------------------------
# 1-D reductions (spike, staircase): rigorous integrals
# ---------------------------------------------------------------------------


def _spike_g(D: int, k: arb, R: arb, u: acb) -> acb:
    """``g(u) = -(D/2)(log 2pi + lv) - (R/2) e^{-lv}``, ``lv = -k sigmoid(2 k u)``."""
    neg_lv = k * sigmoid(2 * k * u)
    return -D * (log_2pi() - neg_lv) / 2 - R * neg_lv.exp() / 2


def _spikebreaks(D: int, k: float, R: float) -> np.ndarray:
    """The switch ``u = 0`` and, for ``R > 0``, where ``(R/2) e^{-lv}`` is ``1/2``, ``50`` and
    ``400`` (the cliff, as in exact.py, and where the integrand is below ``e^-400``)."""
    v = np.log(np.array([1.0, 100.0, 800.0]) / R) if R > 0 else np.array([])
    v = v[(v > 0) & (v < k)]
    inner = np.log(v / (k - v)) / (2.0 * k) if len(v) else v
    return np.concatenate([[0.0, -1.0 / k, 1.0 / k], inner])


def spike_log_lik(D: int, k: float, sq_dist: np.ndarray) -> list[Enclosure]:
    """Per point ``log int exp(g(u)) phi(u) du`` (exact.spike_log_lik): ``[-40, 40]``
    integrated, the rest bounded by ``e^{g_max} erfc(40 / sqrt 2)``, ``g_max = sup_u g =
    max_{0 <= v <= k} [(D/2) v - (R/2) e^v] - (D/2) log 2pi`` (exact.spike_log_lik_bounds)."""
    R = np.atleast_1d(np.asarray(sq_dist, dtype=np.float64))
    scale = exact.spike_log_lik(D, k, R)  # any finite shift is valid: keeps the integral O(1)
    _, g_max = exact.spike_log_lik_bounds(D, k, R)
    g_max = np.where(R == 0, 0.5 * D * (k - LOG_2PI), g_max)  # sup_u g (R = 0: v = k)

    def point(Rj: float, c0: float, gm: float) -> arb:
        ka, Ra, c = _a(k), _a(Rj), _a(c0)

        def f(u: acb, _: bool) -> acb:
            return (_spike_g(D, ka, Ra, u) - u * u / 2 - c).exp()

        body = integral(f, breaks(_spikebreaks(D, k, Rj), SPAN)) / (2 * arb.pi()).sqrt()
        # g_max is a float64 of a closed form; 1 nat of slack covers its rounding
        tail = (_a(gm) + 1 - c).exp() * prior_tail(SPAN)
        return (body + union0(tail)).log() + c

    return refine(lambda: [point(*v) for v in zip(R, scale, g_max, strict=True)])


def spike_expected_log_lik(D: int, k: float, sq_dist: np.ndarray, q_mean: np.ndarray,
                           q_std: np.ndarray) -> list[Enclosure]:
    """Per point ``int phi(z) g(m + s z) dz`` (exact.spike_expected_log_lik) over
    ``[-L, L]``; ``|g| <= (D/2)(log 2pi + k) + (R/2) e^k`` bounds the rest."""
    rows = [np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (sq_dist, q_mean, q_std)]

    def point(Rj: float, m: float, s: float) -> arb:
        ka, Ra, ma, sa = _a(k), _a(Rj), _a(m), _a(s)
        log_sup = float(np.logaddexp(math.log(0.5 * D * (3.0 + k)),
                                     math.log(0.5 * Rj) + k if Rj > 0 else -np.inf))
        L = span_for(log_sup)

        def f(z: acb, _: bool) -> acb:
            return (-z * z / 2).exp() * _spike_g(D, ka, Ra, ma + sa * z)

        switch = (_spikebreaks(D, k, Rj) - m) / s
        body = integral(f, breaks(switch, L)) / (2 * arb.pi()).sqrt()
        sup = D * (log_2pi() + ka) / 2 + Ra * ka.exp() / 2
        tail = sup * prior_tail(L)
        return body + arb(0, 1) * tail

    return refine(lambda: [point(*v) for v in zip(*rows, strict=True)])


def spike_log_lik_bounds(D: int, k: float, sq_dist: np.ndarray
                         ) -> tuple[list[Enclosure], list[Enclosure]]:
    """The closed-form bounds of exact.spike_log_lik_bounds, each enclosed at the ``c`` of
    its grid where the float64 maximum sits (the lower bound holds at every ``c``)."""
    R = np.atleast_1d(np.asarray(sq_dist, dtype=np.float64))
    c_grid = np.geomspace(1e-9, 10.0, 2000)
    with np.errstate(over="ignore", invalid="ignore"):
        phi_log = sp.log_ndtr(-c_grid)
        spiked = 0.5 * D * (k / (1.0 + np.exp(-2 * k * c_grid)) - LOG_2PI) + phi_log
        other = (phi_log[None] - 0.5 * D * LOG_2PI
                 - 0.5 * R[:, None] * np.exp(k / (1.0 + np.exp(2 * k * c_grid)))[None])
    at = np.where(R == 0, int(np.argmax(spiked)), np.argmax(other, axis=1))

    def lower(Rj: float, c: float) -> arb:
        ka, ca = _a(k), _a(c)
        log_tail = ((ca / arb(2).sqrt()).erfc() / 2).log()
        if Rj == 0:
            return D * (ka * sigmoid(2 * ka * ca).real - log_2pi()) / 2 + log_tail
        return log_tail - D * log_2pi() / 2 - _a(Rj) * (ka * sigmoid(-2 * ka * ca).real
                                                            ).exp() / 2

    def upper(Rj: float) -> arb:
        ka = _a(k)
        if Rj == 0:
            return -D * log_2pi() / 2 + ((D * ka / 2).exp() + (D * ka / 4).exp()).log() - \
                arb(2).log()
        va = (arb(D) / _a(Rj)).log()  # the maximiser, clipped to [0, k]
        va = arb(0) if va < 0 else (ka if va > ka else va)
        return D * va / 2 - _a(Rj) * va.exp() / 2 - D * log_2pi() / 2

    lo = refine(lambda: [lower(r, c_grid[i]) for r, i in zip(R, at, strict=True)])
    hi = refine(lambda: [upper(r) for r in R])
    return lo, hi


def _softplus(y: acb | arb, analytic: bool) -> acb:
    """``log(1 + e^y)``, holomorphic off the branch cut (checked when ``analytic``)."""
    return (1 + acb(y).exp()).log(analytic=analytic)


class _Stair:
    """Point ``j``'s staircase log-density ``log p(x_j | u)`` in balls (exact.py's formula):
    ``r_j(u) = o_j + sum_{l<a} Delta_l sigmoid(-2A(u - c_l)) - sum_{l>=a} Delta_l
    sigmoid(2A(u - c_l))`` (levels ``y``, ``Delta_l = y_{l+1} - y_l``, ``a``: the point's
    level, ``o_j = x_j - y_a``); Gaussian ``-(1/2)(D(log 2pi + lv) + |r|^2 e^{-lv})``,
    Bernoulli ``-sum_d log(1 + exp(-k(1 - 2 (2 x_d - 1) r_d)))``."""

    def __init__(self, x: np.ndarray, spec: dict[str, Any], log_var: float | None, k: float,
                 j: int):
        lev = np.asarray(spec.get("levels", x), dtype=np.float64)
        at = int(spec["assign"][j]) if "levels" in spec else j
        self.bern = spec["family"] == "bernoulli"
        self.at, self.k, self.x = at, _a(k), [_a(v) for v in x[j]]
        self.offset = [_a(v) for v in x[j] - lev[at]]
        self.delta = [[_a(v) for v in row] for row in np.diff(lev, axis=0)]
        self.cuts = [_a(c) for c in spec["cuts"]]
        self.A = _a(spec["steepness"])
        self.lv = None if log_var is None else _a(log_var)
        self.lv_float = 0.0 if log_var is None else float(log_var)
        self.D: int = int(x.shape[1])
        size = float(np.sum(np.abs(np.diff(lev, axis=0)))) + float(np.sum(np.abs(x[j] - lev[at])))
        self.r_max = size  # |r_d| <= r_max for every d and u

    def __call__(self, u: acb, analytic: bool) -> acb:
        r: list[acb] = [acb(o) for o in self.offset]
        for l, (c, step) in enumerate(zip(self.cuts, self.delta, strict=True)):
            sw = sigmoid(-2 * self.A * (u - c)) if l < self.at else -sigmoid(2 * self.A * (u - c))
            r = [ri + sw * dl for ri, dl in zip(r, step, strict=True)]
        if self.bern:
            return -sum((_softplus(-self.k * (1 - 2 * (2 * xd - 1) * rd), analytic)
                         for xd, rd in zip(self.x, r, strict=True)), acb(0))
        assert self.lv is not None
        sq = sum((rd * rd for rd in r), acb(0))
        out: acb = -(self.D * (log_2pi() + self.lv) + sq * (-self.lv).exp()) / 2
        return out

    def sup(self) -> float:
        """An upper bound of ``log p(x_j | u)`` over all ``u`` (float64, 1 nat of slack)."""
        if self.bern:
            return 1.0
        return -0.5 * self.D * (LOG_2PI + self.lv_float) + 1.0

    def log_abs_sup(self) -> float:
        """``log`` of a bound on ``|log p(x_j | u)|`` over all ``u`` (float64)."""
        k, rm = float(self.k), self.r_max
        if self.bern:
            return math.log(self.D * (abs(k) * (1.0 + 2.0 * rm) + 1.0))
        lv = self.lv_float
        return float(np.logaddexp(math.log(0.5 * self.D * (abs(LOG_2PI + lv) + 1.0)),
                                  math.log(0.5 * self.D * rm * rm + 1e-300) - lv)) + 1.0


def staircase_values(x: np.ndarray, spec: dict[str, Any], log_var: float | None, k: float
                     ) -> tuple[list[Enclosure], list[Enclosure]]:
    """Per point ``log int p(x_j | u) phi(u) du`` and ``int N(u | m_j, s_j^2) log p(x_j | u) du
    - KL(N(m_j, s_j^2) || N(0, 1))`` (exact.staircase_values).  Log-likelihood: ``[-40, 40]``
    integrated, the rest ``<= sup p(x_j | u) erfc(40 / sqrt 2)``; ELBO: ``[-L, L]`` in
    ``z = (u - m) / s``, the rest ``<= sup |log p| erfc(L / sqrt 2)`` (``L``: span_for)."""
    x = np.asarray(x, dtype=np.float64)
    scale, _ = exact.staircase_values(x, spec, log_var, k)  # shifts only (any finite value)
    cliffs = meshes.staircase_cliffs(x, spec, log_var, (0.5, 50.0, 400.0))
    cuts = np.concatenate([np.asarray(spec["cuts"]), cliffs])
    m, s = (np.asarray(spec[key], dtype=np.float64) for key in ("q_mean", "q_std"))
    kl = gaussian_kl(m[:, None], 2.0 * np.log(s)[:, None])

    def log_lik(j: int) -> arb:
        stair, c = _Stair(x, spec, log_var, k, j), _a(scale[j])

        def f(u: acb, analytic: bool) -> acb:
            return (stair(u, analytic) - u * u / 2 - c).exp()

        body = integral(f, breaks(cuts, SPAN)) / (2 * arb.pi()).sqrt()
        return (body + union0((_a(stair.sup()) - c).exp() * prior_tail(SPAN))).log() + c

    def expected(j: int) -> arb:
        stair, ma, sa = _Stair(x, spec, log_var, k, j), _a(m[j]), _a(s[j])
        L = span_for(stair.log_abs_sup())

        def f(z: acb, analytic: bool) -> acb:
            return (-z * z / 2).exp() * stair(ma + sa * z, analytic)

        body = integral(f, breaks((cuts - m[j]) / s[j], L)) / (2 * arb.pi()).sqrt()
        return body + arb(0, 1) * _a(stair.log_abs_sup()).exp() * prior_tail(L)

    ll = refine(lambda: [log_lik(j) for j in range(len(x))])
    ex = refine(lambda: [expected(j) for j in range(len(x))])
    elbo = [difference(e, q) for e, q in zip(ex, kl, strict=True)]
    return ll, elbo


def construction_values(construction: Construction) -> dict[str, list[Enclosure]]:
    """Enclosures of exact.construction_values: ``log_lik`` and ``elbo`` per point (and the
    spike's ``log_lik_lower`` / ``log_lik_upper``).  Encoder outputs are float64 network
    evaluations, taken as given."""
    c, kind = construction, construction.kind
    if kind == "staircase":
        x = np.asarray(c.data, dtype=np.float64)
        dec = cast("GaussianMLPDecoder", c.decoder)
        lv = None if c.spec["family"] == "bernoulli" else dec.variance.log_var_of(-c.k)
        ll, elbo = staircase_values(x, c.spec, lv, c.k)
        return {"log_lik": ll, "elbo": elbo}
    if kind not in ("spike", "linear"):
        raise WellposedInputError(f"no certified reduction for construction kind {kind!r}; "
                                  "known kinds: linear, spike, staircase")
    x, enc_m, enc_lv = exact._with_encoder(c)
    kl = gaussian_kl(enc_m, enc_lv)
    if kind == "spike":
        D = x.shape[1]
        R = np.sum((x - x[cast(int, c.spec["index"])]) ** 2, axis=1)
        q_mean, q_std = (cast(np.ndarray, c.spec[key]) for key in ("q_mean", "q_std"))
        expected = spike_expected_log_lik(D, c.k, R, q_mean, q_std)
        lower, upper = spike_log_lik_bounds(D, c.k, R)
        return {"log_lik": spike_log_lik(D, c.k, R),
                "elbo": [difference(e, q) for e, q in zip(expected, kl, strict=True)],
                "log_lik_lower": lower, "log_lik_upper": upper}
    lin = cast("LinearGaussianDecoder", c.decoder)
    W, b, log_var = (a.detach().cpu().numpy().astype(np.float64)
                     for a in (lin.W, lin.b, lin.log_var_vector))
    expected = linear_expected_log_lik(x, W, b, log_var, enc_m, enc_lv)
    return {"log_lik": linear_log_marginal(x, W, b, log_var),
            "elbo": [difference(e, q) for e, q in zip(expected, kl, strict=True)]}


def thread_optimal_s(lam: float, kind: str = "identity") -> Enclosure:
    """``s* = (lam + 1)^(-1/2)`` (identity) or ``1`` (constant) (exact.thread_optimal_s)."""
    return refine(lambda: [(_a(lam) + 1).rsqrt() if kind == "identity" else arb(1)])[0]


def thread_answer_sigma_star(lam: float) -> Enclosure:
    """``(2 (lam - 1/2))^(-1/2)`` for ``lam > 1/2`` (exact.thread_answer_sigma_star)."""
    if not lam > 0.5:
        return Enclosure(math.nan, math.nan)
    return refine(lambda: [(2 * (_a(lam) - arb(0.5))).rsqrt()])[0]


def floored_mixture_value(x: np.ndarray, xi: float, atoms: np.ndarray, weights: np.ndarray
                          ) -> Enclosure:
    """``l(G) = sum_i log sum_c w_c N(x_i | a_c, xi I)`` (``w`` normalised), the value half
    of npmle.mixture_certificate (its gap, a multistart maximum of ``D_G``, is not enclosed)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    a, w = np.atleast_2d(np.asarray(atoms, dtype=np.float64)), np.asarray(weights, float)
    D = x.shape[1]

    def compute() -> list[arb]:
        xa, total_w = _a(xi), sum((_a(v) for v in w), arb(0))
        total = arb(0)
        for row in x:
            p = arb(0)
            for wc, ac in zip(w, a, strict=True):
                sq = sum(((_a(u) - _a(v)) ** 2 for u, v in zip(row, ac, strict=True)), arb(0))
                p += _a(wc) / total_w * (-sq / (2 * xa)).exp()
            total += p.log() - D * (2 * arb.pi() * xa).log() / 2
        return [total]

    return refine(compute)[0]


def ppca_max_log_lik(x: np.ndarray, latent_dim: int) -> Enclosure:
    """``max_log_lik`` of exact.ppca_fit: ``-(n/2)[D log 2pi + sum_{j<=d} log l_j + (D - d)
    log sigma^2 + D]``, ``sigma^2 = (tr S - sum_{j<=d} l_j) / (D - d)``, with the eigenvalues
    ``l`` of ``S = (x - mean)^T (x - mean) / n`` enclosed by ``acb_mat.eig`` (Arb's certified
    eigenvalue isolation); ``[-inf, inf]`` where the ``d``-th and ``(d+1)``-th are not
    separated (the top ``d`` are then not identified)."""
    x = np.asarray(x, dtype=np.float64)
    n, D = x.shape
    d = int(latent_dim)
    if not 1 <= d < D:
        raise WellposedInputError(f"pPCA needs 1 <= latent_dim < D={D}, got {d}")

    def compute() -> list[arb]:
        cols = [[_a(v) for v in x[:, j]] for j in range(D)]
        mean = [sum(c, arb(0)) / n for c in cols]
        cen = [[v - mu for v in c] for c, mu in zip(cols, mean, strict=True)]
        S = arb_mat([[sum((a * b for a, b in zip(ci, cj, strict=True)), arb(0)) / n
                      for cj in cen] for ci in cen])
        try:
            ev = sorted((e.real for e in acb_mat(S).eig(multiple=True)),
                        key=lambda e: -float(e.mid()))
        except ValueError:
            return [arb("nan")]
        if not ev[d - 1] > ev[d]:
            return [arb("nan")]
        top = sum(ev[:d], arb(0))
        sigma2 = (S.trace() - top) / (D - d)
        logs = sum((e.log() for e in ev[:d]), arb(0))
        return [-arb(n) / 2 * (D * log_2pi() + logs + (D - d) * sigma2.log() + D)]

    return refine(compute)[0]
