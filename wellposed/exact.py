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

import numpy as np

from .errors import WellposedInputError

__all__ = [
    "gaussian_kl",
    "linear_expected_log_lik",
    "linear_log_marginal",
    "linear_posterior",
    "ppca_fit",
]

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """Per-point ``KL(N(m, diag e^lv) || N(0, I))``; arrays ``(n, d)`` -> ``(n,)``."""
    mean = np.asarray(mean, dtype=np.float64)
    log_var = np.asarray(log_var, dtype=np.float64)
    return 0.5 * np.sum(mean**2 + np.exp(log_var) - 1.0 - log_var, axis=-1)


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
    spread = np.exp(q_log_var) @ (W**2).T  # sum_k W_jk^2 s_k^2, shape (n, D)
    with np.errstate(over="ignore"):
        scaled = np.where(resid**2 + spread > 0, (resid**2 + spread) * np.exp(-log_var), 0.0)
    return -0.5 * np.sum(LOG_2PI + log_var + scaled, axis=-1)


def linear_log_marginal(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, log_var: np.ndarray
) -> np.ndarray:
    """Per-point ``log N(x | b, W W^T + diag e^log_var)`` via a Cholesky factor."""
    D = W.shape[0]
    log_var = np.broadcast_to(np.asarray(log_var, dtype=np.float64), (D,))
    cov = W @ W.T + np.diag(np.exp(log_var))
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as exc:
        raise WellposedInputError(
            "the marginal covariance W W^T + diag(sigma^2) is singular: raise log_var"
        ) from exc
    z = np.linalg.solve(chol, (x - b).T)  # (D, n)
    half_logdet = np.sum(np.log(np.diag(chol)))
    return -0.5 * (D * LOG_2PI + np.sum(z**2, axis=0)) - half_logdet


def linear_posterior(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, log_var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact posterior ``p(t | x_i)``: means ``(n, d)`` and the shared covariance ``(d, d)``."""
    D, d = W.shape
    prec_x = np.exp(-np.broadcast_to(np.asarray(log_var, dtype=np.float64), (D,)))
    P = np.eye(d) + W.T @ (prec_x[:, None] * W)
    cov = np.linalg.inv(P)
    means = (x - b) @ (prec_x[:, None] * W) @ cov.T
    return means, cov


def ppca_fit(x: np.ndarray, latent_dim: int) -> dict[str, np.ndarray | float]:
    """Maximum-likelihood pPCA (Tipping & Bishop 1999, eqs. 7-8) with rotation ``R = I``.

    Returns ``W``, ``b``, ``log_var`` (scalar) and ``max_log_lik`` (the closed form in the
    module doc).  Requires ``latent_dim < D`` and more than ``latent_dim`` non-zero
    sample-covariance eigenvalues (otherwise the likelihood is unbounded, L5).
    """
    x = np.asarray(x, dtype=np.float64)
    n, D = x.shape
    d = int(latent_dim)
    if not 1 <= d < D:
        raise WellposedInputError(f"pPCA needs 1 <= latent_dim < D={D}, got {d}")
    b = x.mean(axis=0)
    S = (x - b).T @ (x - b) / n
    evals, evecs = np.linalg.eigh(S)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    sigma2 = float(np.mean(evals[d:]))
    if sigma2 <= 1e-300 or evals[d - 1] <= sigma2:
        raise WellposedInputError(
            "the data lie in a subspace of dimension <= latent_dim (rank(S) <= d): the pPCA "
            "likelihood is unbounded (CLAIMS L5); use a smaller latent_dim"
        )
    W = evecs[:, :d] * np.sqrt(evals[:d] - sigma2)
    max_ll = -0.5 * n * (D * LOG_2PI + np.sum(np.log(evals[:d])) + (D - d) * np.log(sigma2) + D)
    return {"W": W, "b": b, "log_var": math.log(sigma2), "max_log_lik": float(max_ll)}
