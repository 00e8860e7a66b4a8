"""scipy cross-checks (the ``quadrature`` evaluation line) for a one-dimensional latent.

Densities: ``scipy.stats.norm.logpdf`` on the dense grid pass and the same formula
written out, ``-(1/2)(log 2pi + lv + ((x - mu)/sigma)^2)``, in the scalar integrands (the
hot path, where scipy.stats' per-call overhead dominates); ``scipy.special.log_expit`` for
Bernoulli outputs.  The decoder network is only asked for its output parameters.
Integrals are sums of ``scipy.integrate.quad`` over panels whose breakpoints equidistribute
the integrand's variation and mass on a dense grid, bracket every local maximum and grade
away from the ends of its support, so steep sigmoid/tanh switches (the spike and staircase
constructions), cliffs and narrow bumps are resolved.

* ``log p(x_i) = c_i + log int exp(log p(x_i | t) + log phi(t) - c_i) dt`` over
  ``t in [-L, L]`` (``c_i``: grid maximum, so the integrand is <= 1 near its peak).
* ``E_q log p(x_i | t) = int phi(z) log p(x_i | m_i + s_i z) dz`` over ``z in [-L, L]``.

``L = 40``: the prior mass beyond it is below ``e^-800``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.integrate
import scipy.special
import scipy.stats
import torch

from wellposed.errors import WellposedInputError
from wellposed.models.networks import Decoder
from wellposed.numerics import LOG_2PI

__all__ = ["elbo_quadrature", "log_likelihood_quadrature"]

_L = 40.0
_GRID = 40001
_PIECES = 30
_MAX_BUMPS = 50


def _std_normal_logpdf(z: float) -> float:
    """``log phi(z)`` for a scalar (scipy.stats' per-call overhead dominates the integrand)."""
    return -0.5 * (z * z + LOG_2PI)


def _require_1d(decoder: Decoder) -> None:
    if int(decoder.latent_dim) != 1:
        raise WellposedInputError(
            f"quadrature integrates over a 1-D latent; this decoder has latent_dim="
            f"{decoder.latent_dim}: use method='mc' (or 'exact' where a closed form exists)"
        )


def _decoder_log_lik(decoder: Decoder, x: np.ndarray, t: np.ndarray) -> np.ndarray:
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


def _quantile_points(grid: np.ndarray, weight: np.ndarray, pieces: int) -> set[float]:
    """Grid points that cut the cumulative ``weight`` into ``pieces`` equal parts."""
    cum = np.cumsum(weight)
    if not cum[-1] > 0:
        return set()
    idx = np.searchsorted(cum, cum[-1] * np.arange(1, pieces) / pieces)
    return set(grid[np.clip(idx, 0, len(grid) - 1)].tolist())


def _scalar_log_lik(decoder: Decoder, x_row: np.ndarray, t: float) -> float:
    """``log p(x | t)`` at one latent value (the adaptive integrands' hot path).

    The same densities as :func:`_decoder_log_lik`, written out for one row without the
    array checks (the dense-grid pass has already checked the scales): Gaussian
    ``-(1/2)(log 2pi + lv + ((x - mu) / sigma)^2)``, Bernoulli
    ``x log_expit(l) + (1 - x) log_expit(-l)``.
    """
    with torch.no_grad():
        out = decoder(torch.tensor([[t]], dtype=torch.float64))
    if decoder.family == "bernoulli":
        logits = out[0].detach().numpy()
        return float(
            np.sum(x_row * scipy.special.log_expit(logits)
                   + (1 - x_row) * scipy.special.log_expit(-logits))
        )
    mean, log_var = out[0][0].detach().numpy(), out[1][0].detach().numpy()
    with np.errstate(over="ignore", under="ignore"):
        z = (x_row - mean) * np.exp(-0.5 * log_var)
    return float(-0.5 * np.sum(LOG_2PI + log_var + z * z))


def _breakpoints(grid: np.ndarray, integrand: np.ndarray) -> list[float]:
    """Breakpoints that equidistribute the integrand's total variation and its mass.

    On the dense grid, the cumulative ``|Delta g|`` (variation) and ``|g|`` (mass) are cut
    into ``_PIECES`` equal parts each: a steep switch or a cliff (the spike's and the
    staircase's tanh steps) gets many breakpoints, flat tails get none, so QUADPACK starts
    from panels on which the integrand is smooth.  The argmax and its neighbours are added.
    """
    g = np.where(np.isfinite(integrand), integrand, 0.0)
    pts = _quantile_points(grid[1:], np.abs(np.diff(g)), _PIECES)
    pts |= _quantile_points(grid, np.abs(g), _PIECES)
    peak = int(np.argmax(np.abs(g)))
    a = np.abs(g)
    bumps = np.flatnonzero((a[1:-1] > a[:-2]) & (a[1:-1] >= a[2:]) & (a[1:-1] > 1e-30 * a[peak]))
    bumps = bumps[np.argsort(a[1:-1][bumps])[::-1][:_MAX_BUMPS]] + 1
    for idx in (peak, *bumps.tolist()):  # bracket every local maximum (narrow bumps too)
        pts |= set(grid[max(idx - 2, 0) : idx + 3].tolist())
    support = grid[np.abs(g) > 1e-30 * np.abs(g[peak])]
    if support.size:  # cut the support into panels <= 1/2 wide, grade away from its ends
        step = grid[1] - grid[0]
        graded = step * 2.0 ** np.arange(0, 16)
        pts |= set(np.arange(support[0], support[-1], 0.5).tolist()) | {float(support[-1])}
        pts |= set((support[0] - graded).tolist()) | set((support[-1] + graded).tolist())
    return sorted(p for p in pts if -_L < p < _L)


def _quad(func, points: list[float], scale: float) -> tuple[float, float]:
    """``int_{-L}^{L} func`` as a sum of ``scipy.integrate.quad`` over the panels between
    ``points``, each to relative ``1e-13`` or absolute ``1e-15 * scale`` (``scale``: a
    rough size of the whole integral, so panels holding almost nothing stop early).

    Panel by panel rather than one call with ``points=``: QUADPACK's global extrapolation
    over many breakpoints can accept a wrong sum when one panel holds a cliff.
    """
    edges = [-_L, *points, _L]
    total, error = 0.0, 0.0
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        with warnings.catch_warnings():
            # a panel that cannot reach 1e-13 because of float64 roundoff still returns
            # QUADPACK's own error estimate, which is summed into the reported error
            warnings.simplefilter("ignore", scipy.integrate.IntegrationWarning)
            val, err = scipy.integrate.quad(
                func, a, b, epsabs=1e-15 * scale, epsrel=1e-13, limit=200
            )
        total += val
        error += err
    return float(total), float(error)


def _grid_scale(grid: np.ndarray, integrand: np.ndarray) -> float:
    """Trapezoid estimate of ``int |g|`` on the dense grid (sets the absolute tolerance)."""
    g = np.abs(np.where(np.isfinite(integrand), integrand, 0.0))
    return float(np.sum(g) * (grid[1] - grid[0])) or 1.0


def log_likelihood_quadrature(
    decoder: Decoder, x: torch.Tensor
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
            val = _scalar_log_lik(decoder, xn[i], t)
            return math.exp(val + _std_normal_logpdf(t) - c)

        g = np.exp(f[:, i] - c)
        val, err = _quad(integrand, _breakpoints(grid, g), _grid_scale(grid, g))
        out[i], errs[i] = c + math.log(val), err / val
    return out, errs


def elbo_quadrature(
    decoder: Decoder, encoder: torch.nn.Module, x: torch.Tensor
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
            log_lik = _scalar_log_lik(decoder, xn[i], ti)
            # log p(t) - log q(t) with q = N(m, s^2): log phi(t) - log phi(z) + log s
            return math.exp(log_phi) * (log_lik + _std_normal_logpdf(ti) - log_phi + log_s[i])

        g = scipy.stats.norm.pdf(grid) * f[:, i]
        val, err = _quad(integrand, _breakpoints(grid, g), _grid_scale(grid, g))
        out[i], errs[i] = val, err
    return out, errs
