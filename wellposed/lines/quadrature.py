"""scipy cross-checks (the ``quadrature`` evaluation line) for a one-dimensional latent.

Densities: ``scipy.stats.norm.logpdf`` on the dense grid pass and the same formula
written out, ``-(1/2)(log 2pi + lv + ((x - mu)/sigma)^2)``, in the adaptive integrands (the
hot path: every node of the rule at once); ``scipy.special.log_expit`` for
Bernoulli outputs.  The decoder network is only asked for its output parameters.
Integrals are sums over panels whose breakpoints equidistribute the integrand's variation
and mass on a dense grid, bracket every local maximum and grade away from the ends of its
support, so steep sigmoid/tanh switches (the spike and staircase constructions), cliffs and
narrow bumps are resolved.  Each panel is integrated adaptively with QUADPACK's 21-point
Gauss-Kronrod rule and error estimate (``qk21``), the tolerances ``scipy.integrate.quad``
was called with (``1e-13`` relative, at most 200 sub-panels) and bisection of the
sub-panels that hold the error (``qags`` without its extrapolation, which these smooth
integrands do not need); every round evaluates all nodes of all panels of all data points
in one call of the network rather than one scalar at a time (about 40x faster, the same
values to ~1e-13).  The exact line's fixed Gauss-Legendre meshes share none of this.

* ``log p(x_i) = c_i + log int exp(log p(x_i | t) + log phi(t) - c_i) dt`` over
  ``t in [-L, L]`` (``c_i``: grid maximum, so the integrand is <= 1 near its peak).
* ``E_q log p(x_i | t) = int phi(z) log p(x_i | m_i + s_i z) dz`` over ``z in [-L, L]``.

``L = 40``: the prior mass beyond it is below ``e^-800``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
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
_EPSREL = 1e-13  # per panel: relative tolerance, or absolute 1e-15 * (size of the integral)
_EPSABS = 1e-15
_LIMIT = 200  # sub-panels per panel (scipy.integrate.quad's ``limit``)
_MAX_ROUNDS = 60  # rounds of bisection (each halves every sub-panel still too coarse)
_CHUNK = 1 << 16  # nodes per call of the network

# QUADPACK qk21 (Piessens et al. 1983): the 21-point Kronrod extension of 10-point Gauss on
# [-1, 1]; the Kronrod rule is exact for polynomials of degree <= 31
_XGK = np.array(
    [
        0.995657163025808080735527280689003,
        0.973906528517171720077964012084452,
        0.930157491355708226001207180059508,
        0.865063366688984510732096688423493,
        0.780817726586416897063717578345042,
        0.679409568299024406234327365114874,
        0.562757134668604683339000099272694,
        0.433395394129247190799265943165784,
        0.294392862701460198131126603103866,
        0.148874338981631210884826001129720,
        0.0,
    ]
)
_WGK = np.array(
    [
        0.011694638867371874278064396062192,
        0.032558162307964727478818972459390,
        0.054755896574351996031381300244580,
        0.075039674810919952767043140916190,
        0.093125454583697605535065465083366,
        0.109387158802297641899210590325805,
        0.123491976262065851077208292238365,
        0.134709217311473325928054001771707,
        0.142775938577060080797094273138717,
        0.147739104901338491374841515972068,
        0.149445554002916905664936468389821,
    ]
)
_WG = np.array(
    [
        0.066671344308688137593568809893332,
        0.149451349150580593145776339657697,
        0.219086362515982043995534934228163,
        0.269266719309996355091226921569469,
        0.295524224714752870173892994651338,
    ]
)
_NODES = np.concatenate([-_XGK[:-1], _XGK[::-1]])  # the 21 nodes, ascending
_W_K = np.concatenate([_WGK[:-1], _WGK[::-1]])
_W_G = np.zeros(21)
_W_G[1:10:2] = _WG  # Gauss nodes are the Kronrod nodes +-_XGK[1], +-_XGK[3], ...
_W_G[11:20:2] = _WG[::-1]
_EPMACH = np.finfo(np.float64).eps
_UFLOW = np.finfo(np.float64).tiny


def _std_normal_logpdf(z: np.ndarray) -> np.ndarray:
    """``log phi(z)`` written out, elementwise."""
    returned: np.ndarray = -0.5 * (z * z + LOG_2PI)
    return returned


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
        summed: np.ndarray = val.sum(-1)
        return summed
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
    returned: np.ndarray = dens.sum(-1)
    return returned


def _quantile_points(grid: np.ndarray, weight: np.ndarray, pieces: int) -> set[float]:
    """Grid points that cut the cumulative ``weight`` into ``pieces`` equal parts."""
    cum = np.cumsum(weight)
    if not cum[-1] > 0:
        return set()
    idx = np.searchsorted(cum, cum[-1] * np.arange(1, pieces) / pieces)
    return set(grid[np.clip(idx, 0, len(grid) - 1)].tolist())


def _rows_log_lik(decoder: Decoder, x_rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log p(x_rows[j] | t[j])`` for every node ``j`` (the adaptive integrands' hot path).

    The same densities as :func:`_decoder_log_lik`, written out for rows without the
    array checks (the dense-grid pass has already checked the scales): Gaussian
    ``-(1/2)(log 2pi + lv + ((x - mu) / sigma)^2)``, Bernoulli
    ``x log_expit(l) + (1 - x) log_expit(-l)``.  One call of the network for all nodes.
    """
    out = np.empty(len(t))
    for lo in range(0, len(t), _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        with torch.no_grad():
            res = decoder(torch.from_numpy(np.ascontiguousarray(t[sl], dtype=np.float64)[:, None]))
        xr = x_rows[sl]
        if decoder.family == "bernoulli":
            logits = res.detach().numpy()
            out[sl] = np.sum(
                xr * scipy.special.log_expit(logits) + (1 - xr) * scipy.special.log_expit(-logits),
                axis=-1,
            )
            continue
        mean, log_var = (np.broadcast_to(o.detach().numpy(), xr.shape) for o in res)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            z = (xr - mean) * np.exp(-0.5 * log_var)
            out[sl] = -0.5 * np.sum(LOG_2PI + log_var + z * z, axis=-1)
    return out


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


def _qk21(
    func: Callable[[np.ndarray, np.ndarray], np.ndarray],
    a: np.ndarray,
    b: np.ndarray,
    item: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """QUADPACK's ``qk21`` on every panel ``[a_p, b_p]`` at once: the Kronrod value, its
    error estimate (``|K21 - G10|`` scaled as in QUADPACK, floored at ``50 eps int |f|``)
    and ``int |f|``.  ``func(t, item)`` evaluates the integrand of ``item`` at nodes ``t``."""
    center, half = 0.5 * (a + b), 0.5 * (b - a)
    nodes = center[:, None] + half[:, None] * _NODES[None, :]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        f = func(nodes.ravel(), np.repeat(item, len(_NODES))).reshape(nodes.shape)
        resk, resg = f @ _W_K, f @ _W_G
        resabs = np.abs(f) @ _W_K
        resasc = np.abs(f - 0.5 * resk[:, None]) @ _W_K
        resk, resg, resabs, resasc = (v * np.abs(half) for v in (resk, resg, resabs, resasc))
        err = np.abs(resk - resg)
        scaled = resasc * np.minimum(1.0, (200.0 * err / np.where(resasc > 0, resasc, 1.0)) ** 1.5)
        err = np.where((resasc != 0) & (err != 0), scaled, err)
        floor = _EPMACH * 50.0 * resabs
        err = np.where(resabs > _UFLOW / (50.0 * _EPMACH), np.maximum(floor, err), err)
    return resk, err, resabs


def _integrate(
    func: Callable[[np.ndarray, np.ndarray], np.ndarray],
    points: list[list[float]],
    scales: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``int_{-L}^{L} func(., i)`` for every item ``i``, as a sum over the panels between
    ``points[i]``; each panel to relative ``1e-13`` or absolute ``1e-15 * scales[i]``
    (``scales``: a rough size of each whole integral, so panels holding almost nothing stop
    early).  Returns the integrals and the summed error estimates.

    Each panel is its own adaptive integral (QUADPACK's ``qags`` without extrapolation): its
    sub-panels whose error estimate exceeds an equal share of the tolerance are bisected
    until the summed estimate is within it, a sub-panel is at float64 roundoff (error at
    its ``50 eps int |f|`` floor) or too narrow to halve, or the panel has ``_LIMIT``
    sub-panels.  Panel by panel, never one tolerance for the whole line, so a panel holding
    a cliff cannot hide behind the others.  Every round evaluates all new sub-panels of all
    items in one call of ``func``.
    """
    n = len(points)
    edges = [np.array([-_L, *p, _L]) for p in points]
    a = np.concatenate([e[:-1] for e in edges])
    b = np.concatenate([e[1:] for e in edges])
    panel_item = np.concatenate([np.full(len(e) - 1, i) for i, e in enumerate(edges)])
    n_panels = len(a)
    tol_abs = _EPSABS * np.asarray(scales, dtype=np.float64)[panel_item]
    panel = np.arange(n_panels)
    val, err, rabs = _qk21(func, a, b, panel_item)
    for _ in range(_MAX_ROUNDS):
        total = np.bincount(panel, weights=val, minlength=n_panels)
        err_sum = np.bincount(panel, weights=err, minlength=n_panels)
        count = np.bincount(panel, minlength=n_panels)
        tol = np.maximum(tol_abs, _EPSREL * np.abs(total))
        open_panel = (err_sum > tol) & (count < _LIMIT)
        halvable = 0.5 * (b - a) > 100.0 * _EPMACH * np.maximum(np.abs(a), np.abs(b)) + 1e3 * _UFLOW
        split = (
            open_panel[panel]
            & (err > tol[panel] / count[panel])
            & (err > _EPMACH * 50.0 * rabs)
            & halvable
        )
        if not split.any():
            break
        mid = 0.5 * (a[split] + b[split])
        new_a = np.concatenate([a[split], mid])
        new_b = np.concatenate([mid, b[split]])
        new_panel = np.tile(panel[split], 2)
        nv, ne, nr = _qk21(func, new_a, new_b, panel_item[new_panel])
        keep = ~split
        a, b = np.concatenate([a[keep], new_a]), np.concatenate([b[keep], new_b])
        panel = np.concatenate([panel[keep], new_panel])
        val, err = np.concatenate([val[keep], nv]), np.concatenate([err[keep], ne])
        rabs = np.concatenate([rabs[keep], nr])
    item = panel_item[panel]
    return (
        np.bincount(item, weights=val, minlength=n),
        np.bincount(item, weights=err, minlength=n),
    )


def _grid_scale(grid: np.ndarray, integrand: np.ndarray) -> float:
    """Trapezoid estimate of ``int |g|`` on the dense grid (sets the absolute tolerance)."""
    g = np.abs(np.where(np.isfinite(integrand), integrand, 0.0))
    return float(np.sum(g) * (grid[1] - grid[0])) or 1.0


def log_likelihood_quadrature(decoder: Decoder, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-point ``log p(x_i)`` and the absolute error of each integral (in log units)."""
    _require_1d(decoder)
    xn = x.detach().cpu().numpy()
    grid = np.linspace(-_L, _L, _GRID)
    log_prior = scipy.stats.norm.logpdf(grid)
    f = _decoder_log_lik(decoder, xn, np.broadcast_to(grid[:, None], (_GRID, len(xn))))
    f = f + log_prior[:, None]
    c = np.max(f, axis=0)
    finite = np.isfinite(c)
    out, errs = c.copy(), np.zeros(len(xn))
    idx = np.flatnonzero(finite)
    if idx.size:

        def integrand(t: np.ndarray, k: np.ndarray) -> np.ndarray:
            i = idx[k]
            returned: np.ndarray = np.exp(
                _rows_log_lik(decoder, xn[i], t) + _std_normal_logpdf(t) - c[i]
            )
            return returned

        pts, scales = [], []
        for i in idx:
            g = np.exp(f[:, i] - c[i])
            pts.append(_breakpoints(grid, g))
            scales.append(_grid_scale(grid, g))
        with np.errstate(divide="ignore", invalid="ignore"):
            val, err = _integrate(integrand, pts, np.array(scales))
            out[idx], errs[idx] = c[idx] + np.log(val), err / val
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

    def integrand(z: np.ndarray, i: np.ndarray) -> np.ndarray:
        ti = m[i] + s[i] * z
        log_phi = _std_normal_logpdf(z)
        log_lik = _rows_log_lik(decoder, xn[i], ti)
        # log p(t) - log q(t) with q = N(m, s^2): log phi(t) - log phi(z) + log s
        val = np.exp(log_phi) * (log_lik + _std_normal_logpdf(ti) - log_phi + log_s[i])
        return np.where(log_phi < -745.0, 0.0, val)

    pts, scales = [], []
    for i in range(len(xn)):
        g = scipy.stats.norm.pdf(grid) * f[:, i]
        pts.append(_breakpoints(grid, g))
        scales.append(_grid_scale(grid, g))
    return _integrate(integrand, pts, np.array(scales))
