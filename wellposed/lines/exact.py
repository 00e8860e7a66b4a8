"""Closed forms in numpy float64 (the ``exact`` evaluation line).

Independent of the torch code paths: parameters are read off the models as numpy
arrays and every formula is written out here.

Formulas (diagonal Gaussians; ``q = N(m, diag s^2)``, prior ``N(0, I)``):

* ``KL(q || p) = (1/2) sum_k (m_k^2 + s_k^2 - 1 - log s_k^2)``.
* Linear decoder ``N(x | W t + b, diag sigma^2)``:
  ``E_q log p(x|t) = -(1/2) sum_j [log 2pi + log sigma_j^2
  + ((x_j - (W m + b)_j)^2 + sum_k W_jk^2 s_k^2) / sigma_j^2]``.
* Marginal (pPCA, Tipping & Bishop 1999): ``x ~ N(b, W W^T + diag sigma^2)``.
* pPCA maximum likelihood: with sample covariance eigenvalues ``l_1 >= ... >= l_D``,
  ``sigma^2_ML = mean(l_{d+1..D})``, ``W_ML = U_d (L_d - sigma^2 I)^{1/2}``, ``b = mean``,
  ``l_max = -(n/2) [D log 2pi + sum_{j<=d} log l_j + (D-d) log sigma^2_ML + D]``.
* Exact posterior of the linear decoder: precision ``P = I + W^T diag(1/sigma^2) W``,
  mean ``P^{-1} W^T diag(1/sigma^2) (x - b)``; with it the ELBO equals the log-likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.special as sp
import torch

from wellposed.errors import WellposedInputError
from wellposed.lines import meshes
from wellposed.numerics import LOG_2PI

if TYPE_CHECKING:
    from wellposed.constructions import Construction
    from wellposed.models.networks import GaussianMLPDecoder, LinearGaussianDecoder

__all__ = [
    "bernoulli_bound",
    "construction_values",
    "floor_bound",
    "gaussian_kl",
    "gmm_log_lik",
    "linear_expected_log_lik",
    "linear_log_marginal",
    "linear_posterior",
    "ppca_fit",
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


def gaussian_kl(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """Per-point ``KL(N(m, diag e^lv) || N(0, I))``; arrays ``(n, d)`` -> ``(n,)``."""
    mean, log_var = np.asarray(mean, dtype=np.float64), np.asarray(log_var, dtype=np.float64)
    return cast(np.ndarray, 0.5 * np.sum(mean**2 + np.exp(log_var) - 1.0 - log_var, axis=-1))


def _logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return cast(np.ndarray, np.squeeze(top, axis) + np.log(np.sum(np.exp(a - top), axis=axis)))


def linear_expected_log_lik(
    x: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    log_var: np.ndarray,
    q_mean: np.ndarray,
    q_log_var: np.ndarray,
) -> np.ndarray:
    """Per-point ``E_q log N(x | W t + b, diag e^log_var)`` (formula in the module doc)."""
    log_var = np.broadcast_to(np.asarray(log_var, dtype=np.float64), (W.shape[0],))
    resid = x - (q_mean @ W.T + b)
    with np.errstate(divide="ignore"):
        # log(sum_k W_jk^2 s_k^2) and log r^2, combined and scaled by 1/sigma^2 in log space
        log_spread = _logsumexp(2.0 * np.log(np.abs(W))[None] + q_log_var[:, None, :], axis=-1)
        log_r2 = 2.0 * np.log(np.abs(resid))
    scaled = _scaled_exp(np.logaddexp(log_r2, log_spread) - log_var)
    return cast(np.ndarray, -0.5 * np.sum(LOG_2PI + log_var + scaled, axis=-1))


def _scaled_exp(log_value: np.ndarray) -> np.ndarray:
    """``exp`` that is exactly 0 at ``-inf`` and ``inf`` (not a warning) past float64."""
    with np.errstate(over="ignore"):
        return cast(np.ndarray, np.exp(log_value))


def _whitened_svd(W: np.ndarray, log_var: np.ndarray) -> tuple[np.ndarray, ...]:
    """``A = diag(sigma^-1) W = U diag(s) V^T`` (thin SVD) and ``sigma^-1``."""
    D = W.shape[0]
    inv_sd = np.exp(-0.5 * np.broadcast_to(np.asarray(log_var, dtype=np.float64), (D,)))
    if not np.all(np.isfinite(inv_sd)):
        raise WellposedInputError(
            "log sigma^2 below about -1400 with a non-zero W: the whitened matrix leaves the "
            "float64 range; use a larger log_var"
        )
    U, s, Vt = np.linalg.svd(inv_sd[:, None] * W, full_matrices=False)
    return U, s, Vt, inv_sd


def _diag_log_marginal(x: np.ndarray, b: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """``W = 0``: ``sum_j log N(x_j | b_j, sigma_j^2)`` with the scaled square in log space
    (``exp(2 log|r| - lv)``: exactly 0 for a zero residual at any ``lv``)."""
    r = np.abs(x - b)
    with np.errstate(divide="ignore", over="ignore"):
        scaled = np.where(r > 0, np.exp(2.0 * np.log(np.where(r > 0, r, 1.0)) - log_var), 0.0)
    return cast(np.ndarray, -0.5 * np.sum(LOG_2PI + log_var + scaled, axis=1))


def linear_log_marginal(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, log_var: np.ndarray
) -> np.ndarray:
    """Per-point ``log N(x | b, C)``, ``C = W W^T + diag(sigma^2)``, stable as ``sigma -> 0``.

    Whitening ``rho = diag(sigma^-1)(x - b)`` and ``A = diag(sigma^-1) W = U S V^T`` give
    ``log det C = sum_j log sigma_j^2 + sum_k log(1 + s_k^2)`` and
    ``(x-b)^T C^-1 (x-b) = ||rho - U U^T rho||^2 + sum_k (u_k^T rho)^2 / (1 + s_k^2)``:
    the projection is taken on vectors before squaring, so no large squares cancel.
    ``W = 0`` is done coordinate-wise in log space (any ``log sigma^2``).  Otherwise the
    result is ``-inf`` (not NaN) where the whitened residual leaves the float64 range."""
    D = W.shape[0]
    log_var = np.broadcast_to(np.asarray(log_var, dtype=np.float64), (D,))
    if not np.any(W):
        return _diag_log_marginal(x, b, log_var)
    with np.errstate(over="ignore", invalid="ignore"):
        U, s, _, inv_sd = _whitened_svd(W, log_var)
        rho = (x - b) * inv_sd  # (n, D)
        coef = rho @ U  # (n, d)
        perp = rho - coef @ U.T
        quad = np.sum(perp**2, axis=1) + np.sum(coef**2 / (1.0 + s**2), axis=1)
    quad = np.where(np.isnan(quad), np.inf, quad)
    log_det = np.sum(log_var) + np.sum(np.logaddexp(0.0, 2.0 * np.log(s[s > 0])))
    return cast(np.ndarray, -0.5 * (D * LOG_2PI + log_det + quad))


def linear_posterior(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, log_var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact posterior ``p(t | x_i)``: means ``(n, d)`` and the shared covariance ``(d, d)``.

    With the whitened SVD of :func:`linear_log_marginal`: covariance
    ``(I + A^T A)^-1 = V diag(1/(1+s^2)) V^T``, mean ``V diag(s/(1+s^2)) U^T rho``."""
    U, s, Vt, inv_sd = _whitened_svd(W, log_var)
    cov = (Vt.T / (1.0 + s**2)) @ Vt
    means = (((x - b) * inv_sd) @ U * (s / (1.0 + s**2))) @ Vt
    return means, cov


def ppca_fit(x: np.ndarray, latent_dim: int) -> dict[str, np.ndarray | float]:
    """Maximum-likelihood pPCA (Tipping & Bishop 1999, eqs. 7-8) with rotation ``R = I``.

    Returns ``W``, ``b``, ``log_var`` (scalar) and ``max_log_lik`` (the closed form in the
    module doc).  Requires ``latent_dim < D`` and more than ``latent_dim`` non-zero
    sample-covariance eigenvalues (otherwise the likelihood is unbounded, L5); "zero" means
    below ``1e-12`` of the largest, so rounding noise does not pass for rank.

    The centred data are divided by their largest absolute entry ``c`` first (``S`` neither
    overflows at data scale ``1e154`` nor underflows at ``1e-300``); the fit is scaled back:
    ``W c``, ``log_var + 2 log c``, ``max_log_lik - n D log c`` (``x = c z``)."""
    x = np.asarray(x, dtype=np.float64)
    n, D = x.shape
    d = int(latent_dim)
    if not 1 <= d < D:
        raise WellposedInputError(f"pPCA needs 1 <= latent_dim < D={D}, got {d}")
    b = x.mean(axis=0)
    c = float(np.max(np.abs(x - b))) or 1.0  # constant data: S = 0, refused below
    S = ((x - b) / c).T @ ((x - b) / c) / n
    evals, evecs = np.linalg.eigh(S)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    sigma2 = float(np.mean(evals[d:]))
    if sigma2 <= 1e-12 * max(evals[0], 1e-300):
        raise WellposedInputError(
            "the data lie in a subspace of dimension <= latent_dim (rank(S) <= d): the pPCA "
            "likelihood is unbounded (CLAIMS L5); use a smaller latent_dim"
        )
    W = evecs[:, :d] * np.sqrt(np.maximum(evals[:d] - sigma2, 0.0)) * c  # 0: isotropic data
    max_ll = (
        -0.5
        * n
        * (
            D * LOG_2PI
            + np.sum(np.log(evals[:d]))
            + (D - d) * np.log(sigma2)
            + D
            + 2 * D * math.log(c)
        )
    )
    return {
        "W": W,
        "b": b,
        "log_var": math.log(sigma2) + 2 * math.log(c),
        "max_log_lik": float(max_ll),
    }


# ---------------------------------------------------------------------------
# Bounds and closed forms for the claims (docs/claims.md); derivations in each docstring.
# ---------------------------------------------------------------------------


def floor_bound(n: int, D: int, xi: float) -> float:
    """S4 / L2: ``N(x | mu, Sigma) <= (2 pi xi)^(-D/2)`` when every eigenvalue ``>= xi``, so
    ``l`` and the ELBO are ``<= -(n D / 2) log(2 pi xi)``."""
    return -0.5 * n * D * math.log(2.0 * math.pi * xi)


def bernoulli_bound(x: np.ndarray) -> float:
    """S5 / L3: ``sum_u p(u) <= 1`` over distinct observed ``u`` gives
    ``l <= sum_u n_u log(n_u / n)`` (the empirical distribution's log-likelihood)."""
    _, counts = np.unique(np.asarray(x), axis=0, return_counts=True)
    return float(np.sum(counts * np.log(counts / counts.sum())))


def weight_decay_bound(n: int, D: int, H: int, lam: float) -> float:
    """L8: App. C.2 decoder, ``|h| <= 1`` gives ``log sigma_j^2 >= -(||W5_j||_1 + |b5_j|)
    >= -sqrt(H+1) rho_j`` (``rho_j = ||(W5_j, b5_j)||_2``).  Per coordinate the data term is
    at most ``n sqrt(H+1) rho_j / 2 - (n/2) log 2pi`` and the penalty ``(lam/2) rho_j^2``;
    maximising over ``rho_j`` gives ``n^2 (H+1) / (8 lam)``, so the penalized ELBO is
    ``<= D n^2 (H+1) / (8 lam) - (n D / 2) log 2pi``."""
    return D * n * n * (H + 1) / (8.0 * lam) - 0.5 * n * D * LOG_2PI


def gmm_log_lik(
    x: np.ndarray, weights: np.ndarray, means: np.ndarray, log_vars: np.ndarray
) -> np.ndarray:
    """Per-point ``log sum_c w_c N(x | mu_c, e^{lv_c} I)`` (isotropic components), log-sum-exp."""
    x = np.asarray(x, dtype=np.float64)
    D = x.shape[1]
    with np.errstate(divide="ignore"):
        log_sq = _logsumexp(2.0 * np.log(np.abs(x[:, None, :] - means[None, :, :])))  # (n, C)
    scaled = _scaled_exp(log_sq - log_vars)
    comp = np.log(weights) - 0.5 * (D * LOG_2PI + D * log_vars + scaled)
    top = comp.max(axis=1, keepdims=True)
    return cast(np.ndarray, (top + np.log(np.sum(np.exp(comp - top), axis=1, keepdims=True)))[:, 0])


def thread_elbo(lam: float, s: float, kind: str = "identity", m: float = 0.0) -> float:
    """S8 / S9 at ``x = 0``, ``q = N(m, s^2)``, ``p(x|t) = N(x | t, 1/lam)`` (identity) or
    ``N(x | 0, 1/lam)`` (constant):
    ``E_q log N(0 | t, 1/lam) = (1/2) log(lam/2pi) - lam (m^2 + s^2)/2`` (identity; the
    constant decoder has no ``t`` term), ``KL = (m^2 + s^2 - 1 - log s^2)/2``."""
    spread = (m * m + s * s) if kind == "identity" else 0.0
    kl = 0.5 * (m * m + s * s - 1.0 - math.log(s * s))
    return 0.5 * math.log(lam / (2.0 * math.pi)) - 0.5 * lam * spread - kl


def thread_optimal_s(lam: float, kind: str = "identity") -> float:
    """Maximizer of :func:`thread_elbo` over ``s`` (``m = 0``): ``d/ds = -(lam+1) s + 1/s``
    gives ``s* = (lam + 1)^(-1/2)`` (identity) and ``s* = 1`` (constant)."""
    return (lam + 1.0) ** -0.5 if kind == "identity" else 1.0


def thread_max_elbo(lam: float, kind: str = "identity") -> float:
    """``max_s`` ELBO: ``(1/2) log(lam/(lam+1)) - (1/2) log 2pi = log N(0 | 0, 1 + 1/lam)``
    (identity; bounded by ``-(1/2) log 2pi``) or ``(1/2) log(lam/2pi)`` (constant; -> inf)."""
    if kind == "identity":
        return 0.5 * math.log(lam / (lam + 1.0)) - 0.5 * LOG_2PI
    return 0.5 * math.log(lam / (2.0 * math.pi))


def thread_answer_sigma_star(lam: float) -> float:
    """The answer's formula (seed thread, answer 2): ``sigma* = (2 lam')^(-1/2)``,
    ``lam' = lam - 1/2`` (defined for ``lam > 1/2``; it comes from a sign error)."""
    return (2.0 * (lam - 0.5)) ** -0.5 if lam > 0.5 else math.nan


# ---------------------------------------------------------------------------
# Spike and staircase: exact 1-D reductions, integrated by composite Gauss-Legendre.
#
# Both decoders depend on the latent only through one coordinate u = t_1 (u ~ N(0, 1) under
# the prior, u ~ N(m, s^2) under q), so every d-dimensional integral reduces exactly to a
# 1-D integral over u.  The network formulas are re-written here with sigmoids
# ((1 + tanh z)/2 = sigmoid(2z)) so residuals carry no cancellation, and the 1-D integrals
# use the graded Gauss-Legendre meshes of wellposed.lines.meshes, in log space.  No code is
# shared with the scipy line (adaptive QUADPACK on the float64 network) or the torch line;
# tests check the meshes against the rigorous enclosures of wellposed.lines.certified.
# ---------------------------------------------------------------------------


def _log_phi(u: np.ndarray) -> np.ndarray:
    return cast(np.ndarray, -0.5 * (LOG_2PI + u * u))


def _spike_parts(D: int, k: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(-(D/2)(log 2pi + lv(u)), -lv(u))`` with ``lv(u) = -k sigmoid(2 k u)``."""
    neg_lv = k * sp.expit(2.0 * k * u)
    return -0.5 * D * (LOG_2PI - neg_lv), neg_lv


def spike_log_lik(D: int, k: float, sq_dist: np.ndarray) -> np.ndarray:
    """Per-point ``log p(x_j) = log int exp(g_j(u)) phi(u) du`` for the L1 spike, where
    ``g_j(u) = -(D/2)(log 2pi + lv(u)) - (R_j/2) e^{-lv(u)}``, ``lv(u) = -k sigmoid(2 k u)``
    and ``R_j = ||x_j - x_i||^2`` (0 for the spiked point).  For ``R > 0`` the mesh is also
    graded at the peak ``-lv = log(D/R)`` and the cliff ``(R/2) e^{-lv} = 50`` of ``g_j``:
    beyond the cliff the integrand falls double-exponentially within ``~1/k``."""
    out = []
    for R in np.atleast_1d(np.asarray(sq_dist, dtype=np.float64)):
        u, log_w = meshes.mesh(meshes.spike_switches(D, k, R), 1.0 / k)
        base, neg_lv = _spike_parts(D, k, u)
        with np.errstate(over="ignore"):
            penalty = 0.5 * R * np.exp(neg_lv) if R > 0 else 0.0
        out.append(_logsumexp(base - penalty + _log_phi(u) + log_w))
    return np.array(out, dtype=np.float64)


def spike_expected_log_lik(
    D: int, k: float, sq_dist: np.ndarray, q_mean: np.ndarray, q_std: np.ndarray
) -> np.ndarray:
    """Per-point ``E_{u ~ N(m_j, s_j^2)} g_j(u)`` (see :func:`spike_log_lik`)."""
    out = []
    rows = (np.atleast_1d(a) for a in (sq_dist, q_mean, q_std))
    for R, m, s in zip(*rows, strict=True):
        z, log_w = meshes.mesh(np.array([-m / s]), 1.0 / (k * s))
        base, neg_lv = _spike_parts(D, k, m + s * z)
        mean_part = np.sum(np.exp(log_w + _log_phi(z)) * base)
        with np.errstate(over="ignore"):
            tail = 0.5 * R * np.sum(np.exp(log_w + _log_phi(z) + neg_lv)) if R > 0 else 0.0
        out.append(mean_part - tail)
    return np.array(out)


def spike_log_lik_bounds(D: int, k: float, sq_dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigorous closed-form bounds on :func:`spike_log_lik` (any ``k > 0``, no quadrature).

    Lower, spiked point (``R = 0``): on ``u >= c`` the variance is ``<= e^{-k sigmoid(2kc)}``,
    so ``log p >= (D/2)(k sigmoid(2kc) - log 2pi) + log Phi(-c)``; other points: on
    ``u <= -c``, ``lv in [-k sigmoid(-2kc), 0]``, so
    ``log p >= log Phi(-c) - (D/2) log 2pi - (R/2) e^{k sigmoid(-2kc)}``; both maximised over
    a grid of ``c > 0``.  Upper, ``R = 0``: ``lv >= -k`` on ``u > 0`` and ``>= -k/2`` on
    ``u < 0``: ``log p <= -(D/2) log 2pi + log((e^{Dk/2} + e^{Dk/4}) / 2)``; ``R > 0``:
    ``g <= max_{0 <= v <= k} [(D/2) v - (R/2) e^v] - (D/2) log 2pi`` (``v = -lv``).
    """
    c = np.geomspace(1e-9, 10.0, 2000)[None, :]
    R = np.atleast_1d(np.asarray(sq_dist, dtype=np.float64))
    log_tail = sp.log_ndtr(-c)
    spiked = (0.5 * D * (k * sp.expit(2 * k * c) - LOG_2PI) + log_tail).max()
    with np.errstate(over="ignore", invalid="ignore"):
        other = log_tail - 0.5 * D * LOG_2PI - 0.5 * R[:, None] * np.exp(k * sp.expit(-2 * k * c))
    lower = np.where(R == 0, spiked, other.max(axis=1))
    up_spiked = -0.5 * D * LOG_2PI + np.logaddexp(D * k / 2, D * k / 4) - math.log(2.0)
    safe_R = np.where(R > 0, R, 1.0)
    v = np.clip(np.log(D / safe_R), 0.0, k)  # maximiser of (D/2) v - (R/2) e^v on [0, k]
    up_other = 0.5 * D * v - 0.5 * safe_R * np.exp(v) - 0.5 * D * LOG_2PI
    return lower, np.where(R == 0, up_spiked, up_other)


def _staircase_residuals(
    x: np.ndarray, cuts: np.ndarray, a: float, u: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """``r_j(u) = x_j - mu(u)`` for ``j`` in ``rows``, shape ``(len(rows), len(u), D)``:
    ``r_j = sum_{l<j} Delta_l sigmoid(-2a(u - c_l)) - sum_{l>=j} Delta_l sigmoid(2a(u - c_l))``
    with ``Delta_l = x_{l+1} - x_l`` (``mu(u) = x_1 + sum_l Delta_l sigmoid(2a(u - c_l))``)."""
    n = x.shape[0]
    delta = np.diff(x, axis=0)  # (n-1, D)
    arg = 2.0 * a * (u[:, None] - cuts[None, :])  # (G, n-1)
    up, down = sp.expit(arg), sp.expit(-arg)
    below = np.arange(n - 1)[None, :] < np.asarray(rows)[:, None]  # l < j
    coeff = np.where(below[:, None, :], down[None], -up[None])  # (n, G, n-1)
    return cast(np.ndarray, coeff @ delta)  # (n, G, D)


def _staircase_point_log_lik(
    x: np.ndarray,
    spec: dict[str, Any],
    log_var: float | None,
    u: np.ndarray,
    k: float,
    rows: np.ndarray,
) -> np.ndarray:
    """``log p(x_j | u)`` for ``j`` in ``rows`` and every node, shape ``(len(rows), G)``;
    with ``spec["levels"]`` (weighted staircase) ``r_j = (x_j - L_a) + (L_a - mu(u))``,
    ``a = spec["assign"][j]``."""
    if "levels" in spec:
        lev, at = spec["levels"], spec["assign"][rows]
        r = _staircase_residuals(lev, spec["cuts"], spec["steepness"], u, at)
        r = r + (x[rows] - lev[at])[:, None, :]
    else:
        r = _staircase_residuals(x, spec["cuts"], spec["steepness"], u, rows)
    if spec["family"] == "bernoulli":
        sign = 2.0 * x[rows][:, None, :] - 1.0
        return cast(np.ndarray, -np.sum(np.logaddexp(0.0, -k * (1.0 - 2.0 * sign * r)), axis=-1))
    assert log_var is not None  # Gaussian outputs have a log-variance
    D = x.shape[1]
    sq = np.sum(r * r, axis=-1)
    with np.errstate(divide="ignore", over="ignore"):
        scaled = np.where(sq > 0, np.exp(np.log(np.where(sq > 0, sq, 1.0)) - log_var), 0.0)
    return cast(np.ndarray, -0.5 * (D * (LOG_2PI + log_var) + scaled))


def staircase_values(
    x: np.ndarray, spec: dict[str, Any], log_var: float | None, k: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-point log-likelihood and ELBO of the staircase (``constructions.staircase``).

    ``log p(x_j) = log int p(x_j | u) phi(u) du``;
    ``ELBO_j = int N(u | m_j, s_j^2) log p(x_j | u) du - KL(N(m_j, s_j^2) || N(0, 1))``;
    ``log_var`` is the (constant) decoder log-variance, ``None`` for Bernoulli outputs.
    """
    a, cuts = float(spec["steepness"]), np.asarray(spec["cuts"])
    scale = 1.0 / a
    cliffs = meshes.staircase_cliffs(x, spec, log_var)
    u, log_w = meshes.mesh(np.concatenate([cuts, cliffs]), scale)
    every = np.arange(len(x))
    log_lik = _logsumexp(
        _staircase_point_log_lik(x, spec, log_var, u, k, every) + _log_phi(u) + log_w
    )
    m, s = np.asarray(spec["q_mean"]), np.asarray(spec["q_std"])
    expected = np.empty(len(x))
    for j in range(len(x)):
        z, lw = meshes.mesh((cuts - m[j]) / s[j], scale / s[j])
        vals = _staircase_point_log_lik(x, spec, log_var, m[j] + s[j] * z, k, np.array([j]))[0]
        expected[j] = np.sum(np.exp(lw + _log_phi(z)) * vals)
    return log_lik, expected - gaussian_kl(m[:, None], 2.0 * np.log(s)[:, None])


def _with_encoder(c: Construction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The construction's data and its encoder's means / log-variances, in float64 numpy."""
    x = np.asarray(c.data, dtype=np.float64)
    if c.encoder is None:
        raise ValueError(f"construction {c.name!r} has no encoder to reduce exactly")
    with torch.no_grad():
        enc = c.encoder(torch.as_tensor(x, dtype=torch.float64))
    return x, *(a.detach().cpu().numpy() for a in enc)


_Reduce = Callable[["Construction"], dict[str, np.ndarray]]
_REDUCTIONS: dict[str, _Reduce] = {}


def _reduction(kind: str) -> Callable[[_Reduce], _Reduce]:
    """Register the exact reduction of one construction kind (``Construction.kind``)."""

    def register(fn: _Reduce) -> _Reduce:
        _REDUCTIONS[kind] = fn
        return fn

    return register


@_reduction("spike")
def _spike_values(c: Construction) -> dict[str, np.ndarray]:
    """The spike's exact 1-D reduction and its closed-form bounds ``log_lik_lower/upper``."""
    x, enc_m, enc_lv = _with_encoder(c)
    D = x.shape[1]
    R = np.sum((x - x[cast(int, c.spec["index"])]) ** 2, axis=1)
    log_lik = spike_log_lik(D, c.k, R)
    q_mean, q_std = (cast(np.ndarray, c.spec[key]) for key in ("q_mean", "q_std"))
    expected = spike_expected_log_lik(D, c.k, R, q_mean, q_std)
    lower, upper = spike_log_lik_bounds(D, c.k, R)
    elbo = expected - gaussian_kl(enc_m, enc_lv)
    return {"log_lik": log_lik, "elbo": elbo, "log_lik_lower": lower, "log_lik_upper": upper}


@_reduction("staircase")
def _staircase_construction_values(c: Construction) -> dict[str, np.ndarray]:
    """The staircase's exact 1-D reduction; the variance head outputs ``-k`` everywhere, so
    ``log sigma^2`` is the policy's own map at ``-k`` (Bernoulli outputs have none)."""
    x = np.asarray(c.data, dtype=np.float64)
    dec = cast("GaussianMLPDecoder", c.decoder)
    lv = None if c.spec["family"] == "bernoulli" else dec.variance.log_var_of(-c.k)
    log_lik, elbo = staircase_values(x, c.spec, lv, c.k)
    return {"log_lik": log_lik, "elbo": elbo}


@_reduction("linear")
def _linear_construction_values(c: Construction) -> dict[str, np.ndarray]:
    """Linear-Gaussian decoders (constant coordinate, rank-deficient pPCA, collapse to a
    point): the closed-form marginal and expected log-likelihood."""
    x, enc_m, enc_lv = _with_encoder(c)
    dec = cast("LinearGaussianDecoder", c.decoder)
    W, b, lv = (
        a.detach().cpu().numpy().astype(np.float64) for a in (dec.W, dec.b, dec.log_var_vector)
    )
    elbo = linear_expected_log_lik(x, W, b, lv, enc_m, enc_lv) - gaussian_kl(enc_m, enc_lv)
    return {"log_lik": linear_log_marginal(x, W, b, lv), "elbo": elbo}


def construction_values(construction: Construction) -> dict[str, np.ndarray]:
    """Exact per-point ``log_lik`` and ``elbo`` of a :mod:`wellposed.constructions` member,
    by the reduction registered for its ``kind``."""
    try:
        reduce = _REDUCTIONS[construction.kind]
    except KeyError:
        raise WellposedInputError(
            f"no exact reduction for construction kind {construction.kind!r}; "
            f"known kinds: {', '.join(sorted(_REDUCTIONS))}"
        ) from None
    return reduce(construction)
