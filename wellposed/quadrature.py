"""scipy cross-checks (the ``quadrature`` evaluation line) for a one-dimensional latent.

Densities come from scipy (``scipy.stats.norm.logpdf`` for Gaussian outputs,
``scipy.special.log_expit`` for Bernoulli outputs); the decoder network is only asked
for its output parameters (the standard-normal prior and proposal factors inside the
scalar integrands are written out, ``log phi(z) = -(z^2 + log 2pi)/2``).  Integrals use
``scipy.integrate.quad`` with breakpoints placed where the integrand changes fastest on a
dense grid, so steep sigmoid/tanh switches (the spike and staircase constructions) and
narrow peaks are resolved.

* ``log p(x_i) = c_i + log int exp(log p(x_i | t) + log phi(t) - c_i) dt`` over
  ``t in [-L, L]`` (``c_i``: grid maximum, so the integrand is <= 1 near its peak).
* ``E_q log p(x_i | t) = int phi(z) log p(x_i | m_i + s_i z) dz`` over ``z in [-L, L]``.

``L = 40``: the prior mass beyond it is below ``e^-800``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.integrate
import scipy.special
import scipy.stats
import torch

from .errors import WellposedInputError

__all__ = ["elbo_quadrature", "log_likelihood_quadrature"]

_L = 40.0
_GRID = 8001
_MAX_BREAKS = 24
_LOG_2PI = math.log(2.0 * math.pi)


def _std_normal_logpdf(z: float) -> float:
    """``log phi(z)`` for a scalar (scipy.stats' per-call overhead dominates the integrand)."""
    return -0.5 * (z * z + _LOG_2PI)


def _require_1d(decoder: torch.nn.Module) -> None:
    if int(decoder.latent_dim) != 1:
        raise WellposedInputError(
            f"quadrature integrates over a 1-D latent; this decoder has latent_dim="
            f"{decoder.latent_dim}: use method='mc' (or 'exact' where a closed form exists)"
        )


def _decoder_log_lik(decoder: torch.nn.Module, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log p(x_i | t_g)`` for every grid value: ``t`` of shape ``(G, n)`` -> ``(G, n)``."""
    with torch.no_grad():
        out = decoder(torch.from_numpy(np.array(t, dtype=np.float64)[..., None]))
    if decoder.family == "bernoulli":
        logits = out.detach().numpy()
        val = x * scipy.special.log_expit(logits) + (1 - x) * scipy.special.log_expit(-logits)
        return val.sum(-1)
    mean, log_var = (o.detach().numpy() for o in out)
    with np.errstate(under="ignore", over="ignore"):
        scale = np.exp(0.5 * log_var)
    if not np.all((scale > 0) & np.isfinite(scale)):
        raise WellposedInputError(
            "quadrature: a decoder scale under- or overflows float64 (|log sigma^2| > 1400); "
            "use method='exact' or 'mc', which work in log space at any scale"
        )
    with np.errstate(under="ignore", over="ignore", divide="ignore"):
        dens = scipy.stats.norm.logpdf(x, loc=mean, scale=scale)
    return dens.sum(-1)


def _breakpoints(grid: np.ndarray, integrand: np.ndarray) -> list[float]:
    """Where the integrand (on the grid) jumps most, plus its argmax and the argmax's neighbours.

    Jumps are measured on the integrand itself (not on its logarithm, whose largest jumps
    sit in the far tails), so a narrow peak between two grid points is bracketed.
    """
    finite = np.where(np.isfinite(integrand), integrand, 0.0)
    jumps = np.abs(np.diff(finite))
    top = np.argsort(jumps, kind="stable")[::-1][:_MAX_BREAKS]
    peak = int(np.argmax(np.abs(finite)))
    near = grid[max(peak - 1, 0) : peak + 2]
    pts = set(grid[top].tolist()) | set(grid[top + 1].tolist()) | set(near.tolist())
    return sorted(p for p in pts if -_L < p < _L)


def _quad(func, points: list[float]) -> tuple[float, float]:
    val, err = scipy.integrate.quad(
        func,
        -_L,
        _L,
        points=points or None,
        limit=4 * _MAX_BREAKS + 200,
        epsabs=0.0,
        epsrel=1e-13,
    )
    return float(val), float(err)


def log_likelihood_quadrature(
    decoder: torch.nn.Module, x: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Per-point ``log p(x_i)`` and the absolute error of each integral (in log units)."""
    _require_1d(decoder)
    xn = x.detach().cpu().numpy()
    grid = np.linspace(-_L, _L, _GRID)
    log_prior = scipy.stats.norm.logpdf(grid)
    f = _decoder_log_lik(decoder, xn, np.broadcast_to(grid[:, None], (_GRID, len(xn))))
    f = f + log_prior[:, None]
    out, errs = np.empty(len(xn)), np.empty(len(xn))
    for i in range(len(xn)):
        c = float(np.max(f[:, i]))
        if not math.isfinite(c):
            out[i], errs[i] = c, 0.0
            continue

        def integrand(t: float, i: int = i, c: float = c) -> float:
            val = _decoder_log_lik(decoder, xn[i : i + 1], np.array([[t]]))[0, 0]
            return math.exp(val + _std_normal_logpdf(t) - c)

        val, err = _quad(integrand, _breakpoints(grid, np.exp(f[:, i] - c)))
        out[i], errs[i] = c + math.log(val), err / val
    return out, errs


def elbo_quadrature(
    decoder: torch.nn.Module, encoder: torch.nn.Module, x: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Per-point ELBO ``E_q log p(x_i|t) - KL`` (KL by ``scipy.stats.entropy``-free quadrature).

    The KL is integrated too, ``int q log(q/p)``, so no closed form is shared with ``exact``.
    """
    _require_1d(decoder)
    xn = x.detach().cpu().numpy()
    with torch.no_grad():
        m, lv = (a.detach().numpy()[:, 0] for a in encoder(x))
    s, log_s = np.exp(0.5 * lv), 0.5 * lv
    grid = np.linspace(-_L, _L, _GRID)
    t = m[None, :] + s[None, :] * grid[:, None]
    f = _decoder_log_lik(decoder, xn, t)
    out, errs = np.empty(len(xn)), np.empty(len(xn))
    for i in range(len(xn)):

        def integrand(z: float, i: int = i) -> float:
            ti = m[i] + s[i] * z
            log_phi = _std_normal_logpdf(z)
            if log_phi < -745.0:
                return 0.0
            log_lik = _decoder_log_lik(decoder, xn[i : i + 1], np.array([[ti]]))[0, 0]
            # log p(t) - log q(t) with q = N(m, s^2): log phi(t) - log phi(z) + log s
            return math.exp(log_phi) * (log_lik + _std_normal_logpdf(ti) - log_phi + log_s[i])

        val, err = _quad(integrand, _breakpoints(grid, scipy.stats.norm.pdf(grid) * f[:, i]))
        out[i], errs[i] = val, err
    return out, errs
