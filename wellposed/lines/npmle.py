"""The floored supremum (L2): the NPMLE of a Gaussian location mixture, with a gap certificate.

With every decoder covariance ``>= xi I`` the marginal ``p(x) = E_t N(x | mu(t), Sigma(t))``
is a mixture of Gaussians ``N(m, xi I + S)``, ``S >= 0``, and ``N(m, xi I + S)`` is itself
the location mixture ``int N(x | m', xi I) N(m' | m, S) dm'``.  So the marginal is a location
mixture ``p_G(x) = int N(x | m, xi I) dG(m)`` and, conversely, a staircase decoder approaches
every discrete ``G``: the supremum of ``l`` over expressive floored decoders is

    ``l* = sup_G sum_i log p_G(x_i)``,

the nonparametric maximum likelihood (NPMLE) of a location mixture of ``N(., xi I)``.  It is
attained by a discrete ``G`` with at most ``n`` atoms (Lindsay 1983).  It equals
``-n log n - (nD/2) log(2 pi xi)`` (atoms on the data, mass ``1/n`` each) only in the limit of
points far apart relative to ``sqrt(xi)``; close points share an atom and do better.

``l(G)`` is concave in ``G``, and its derivative towards a point mass ``delta_m`` is
``D_G(m) = sum_i N(x_i | m, xi I) / p_G(x_i) - n``.  Concavity gives
``l(G*) <= l(G) + int D_G dG* <= l(G) + max_m D_G(m)``: ``max(0, max_m D_G)`` certifies the
duality gap of a candidate ``G``.  :func:`floored_mixture_sup` runs EM on atom locations and
weights (started from atoms on the data), maximises ``D_G`` by multistart mean-shift and Newton
steps from every data point, atom and pairwise midpoint (the maximiser lies in the convex
hull of the data), adds the maximiser as a new atom while the gap exceeds ``tol`` and
repeats.  Everything is computed in units of ``sqrt(xi)`` in log space (float64).
:func:`certified_gap` encloses ``max_m D_G`` rigorously (python-flint ball arithmetic,
branch and bound), independently of the multistart search.
"""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np
import scipy.special
from flint import arb, ctx

from wellposed.errors import WellposedInputError
from wellposed.numerics import LOG_2PI

__all__ = ["certified_gap", "floored_mixture_sup", "mixture_certificate"]


def _sq(z: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """``||z_i - a_c||^2``, shape ``(n, m)``."""
    returned: np.ndarray = np.sum((z[:, None, :] - atoms[None, :, :]) ** 2, axis=-1)
    return returned


def _log_p(z: np.ndarray, atoms: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-point ``log sum_c w_c exp(-||z_i - a_c||^2 / 2)`` (unit variance, no constant)."""
    with np.errstate(divide="ignore"):
        returned: np.ndarray = scipy.special.logsumexp(
            np.log(weights)[None, :] - 0.5 * _sq(z, atoms), axis=1
        )
        return returned


def _max_derivative(
    z: np.ndarray, log_p: np.ndarray, starts: np.ndarray
) -> tuple[float, np.ndarray]:
    """``max_m D(m)``, ``D(m) = sum_i c_i(m) - n``, ``c_i = exp(-||z_i - m||^2 / 2 - log p_i)``,
    from every start at once: mean-shift steps ``m <- sum_i c_i z_i / sum_i c_i`` (each one
    raises ``D``: a positively weighted Gaussian kernel sum), then Newton steps, each kept
    only where it raises ``D``; returns the largest value and its argmax."""
    n, dim = z.shape

    def value(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = z[None, :, :] - m[:, None, :]  # (S, n, D)
        c = np.exp(-0.5 * np.sum(r * r, axis=-1) - log_p[None, :])
        return c.sum(axis=1) - n, r, c

    m = np.array(starts, dtype=np.float64)
    for _ in range(300):
        _, r, c = value(m)
        m = m + np.einsum("si,sid->sd", c, r) / np.maximum(c.sum(axis=1), 1e-300)[:, None]
    d, r, c = value(m)
    for _ in range(8):
        grad = np.einsum("si,sid->sd", c, r)
        hess = np.einsum("si,sid,sie->sde", c, r, r) - c.sum(axis=1)[:, None, None] * np.eye(dim)
        ok = np.all(np.linalg.eigvalsh(hess) < 0, axis=1)
        step = np.zeros_like(m)
        step[ok] = -np.linalg.solve(hess[ok], grad[ok][..., None])[..., 0]
        d_new, r_new, c_new = value(m + step)
        up = d_new >= d
        m[up], d[up], r[up], c[up] = (m + step)[up], d_new[up], r_new[up], c_new[up]
    best = int(np.argmax(d))
    return float(d[best]), m[best]


def _starts(z: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """Data points, atoms and the midpoints of all pairs of data points."""
    i, j = np.triu_indices(z.shape[0], 1)
    return np.concatenate([z, atoms, 0.5 * (z[i] + z[j])])


def mixture_certificate(
    x: np.ndarray, xi: float, atoms: np.ndarray, weights: np.ndarray
) -> tuple[float, float, np.ndarray]:
    """``(l(G), gap, argmax)`` for ``G = sum_c w_c delta_{a_c}``: the floored mixture
    log-likelihood ``sum_i log sum_c w_c N(x_i | a_c, xi I)``, the certified bound
    ``gap = max(0, max_m D_G(m)) >= l* - l(G)`` (module doc) and the maximiser of ``D_G``."""
    x = np.asarray(x, dtype=np.float64)
    s = math.sqrt(xi)
    z, a = x / s, np.asarray(atoms, dtype=np.float64) / s
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    log_p = _log_p(z, a, w)
    value = float(log_p.sum()) - 0.5 * x.size * (LOG_2PI + math.log(xi))
    top, arg = _max_derivative(z, log_p, _starts(z, a))
    return value, max(0.0, top), arg * s


def _em(
    z: np.ndarray, atoms: np.ndarray, w: np.ndarray, iters: int
) -> tuple[np.ndarray, np.ndarray]:
    """EM on locations and weights; merges atoms closer than ``1e-4`` and drops weights
    below ``1e-13`` (the certificate re-adds an atom wherever one was wrongly removed)."""
    for _ in range(iters):
        lr = np.log(w)[None, :] - 0.5 * _sq(z, atoms)
        R = np.exp(lr - scipy.special.logsumexp(lr, axis=1)[:, None])
        mass = R.sum(axis=0)
        new = (R.T @ z) / mass[:, None]
        w = mass / z.shape[0]
        moved = float(np.max(np.abs(new - atoms)))
        atoms = new
        keep = w > 1e-13
        atoms, w = atoms[keep], w[keep] / w[keep].sum()
        close = np.sqrt(_sq(atoms, atoms)) < 1e-4
        first = np.argmax(close, axis=1)  # each atom's lowest-index near twin (itself if none)
        if np.any(first != np.arange(len(w))):
            groups = np.unique(first)
            wg = np.array([w[first == g].sum() for g in groups])
            atoms = np.stack([(w[first == g, None] * atoms[first == g]).sum(0) for g in groups])
            atoms, w = atoms / wg[:, None], wg
        elif moved < 1e-14:
            break
    return atoms, w


def floored_mixture_sup(
    x: np.ndarray, xi: float, *, tol: float = 1e-9, rounds: int = 30
) -> tuple[float, np.ndarray, np.ndarray, float]:
    """``(l*, atoms, weights, gap)``: the NPMLE of a location mixture of ``N(., xi I)`` for
    the rows of ``x`` (module doc), with the certified gap ``l* - l(G) <= gap`` (``<= tol``
    unless ``rounds`` run out; the caller checks it)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or not np.all(np.isfinite(x)):
        raise WellposedInputError("floored_mixture_sup needs finite data of shape (n, D)")
    if not (math.isfinite(xi) and xi > 0):
        raise WellposedInputError(f"xi must be a finite number > 0, got {xi!r}")
    s = math.sqrt(xi)
    z = x / s
    atoms, w = z.copy(), np.full(len(z), 1.0 / len(z))
    value, gap = -math.inf, math.inf
    for _ in range(rounds):
        atoms, w = _em(z, atoms, w, 20000)
        value, gap, arg = mixture_certificate(z, 1.0, atoms, w)
        if gap <= tol:
            break
        atoms = np.concatenate([atoms, arg[None, :]])
        w = np.concatenate([w, [0.5 / len(z)]])
        w = w / w.sum()
    value -= 0.5 * x.size * math.log(xi)  # back from units of sqrt(xi)
    return value, atoms * s, w, gap


def _box_bound(
    z: list[list[arb]], log_p: list[arb], lo: np.ndarray, hi: np.ndarray
) -> tuple[arb, arb]:
    """``(D(c), U)`` on the box ``[lo, hi]`` (centre ``c``, half-widths ``h``), in balls:
    ``U = D(c) + sum_k |dD/dm_k(c)| h_k + (1/2) Lambda |h|^2 >= max_box D`` (Taylor with a
    Lagrange remainder), ``Lambda = sum_i sup c_i sup ||z_i - m||^2 - sum_i inf c_i`` bounds
    the Hessian ``sum_i c_i ((z_i - m)(z_i - m)^T - I)`` from above on the box."""
    dim = len(lo)
    c = [(arb(float(a)) + arb(float(b))) / 2 for a, b in zip(lo, hi, strict=True)]
    h = [((arb(float(b)) - arb(float(a))) / 2).upper() for a, b in zip(lo, hi, strict=True)]
    box = [cm + arb(0, hk) for cm, hk in zip(c, h, strict=True)]
    value, grad, lam = arb(0), [arb(0)] * dim, arb(0)
    for zi, lp in zip(z, log_p, strict=True):
        r = [a - b for a, b in zip(zi, c, strict=True)]
        ci = (-sum((v * v for v in r), arb(0)) / 2 - lp).exp()
        value += ci
        grad = [g + ci * v for g, v in zip(grad, r, strict=True)]
        rb = [a - b for a, b in zip(zi, box, strict=True)]
        sq = sum(((v.abs_upper()) ** 2 for v in rb), arb(0))
        sq_lo = sum((v.abs_lower() ** 2 for v in rb), arb(0))
        lam += (-sq_lo / 2 - lp).exp().upper() * sq - (-sq / 2 - lp).exp().lower()
    value -= len(z)
    lin = sum((g.abs_upper() * hk for g, hk in zip(grad, h, strict=True)), arb(0))
    return value, value + lin + arb(0).max(lam) * sum((hk * hk for hk in h), arb(0)) / 2


def certified_gap(
    x: np.ndarray,
    xi: float,
    atoms: np.ndarray,
    weights: np.ndarray,
    *,
    tol: float = 1e-10,
    max_boxes: int = 20000,
) -> tuple[float, float]:
    """``(lo, hi)`` with ``lo <= max_m D_G(m) <= hi`` (module doc; units of ``sqrt(xi)``),
    rigorously: branch and bound over the data's bounding box (the maximiser lies in the
    convex hull) with the ball-arithmetic Taylor bound of :func:`_box_bound`, halving the
    widest side of the box with the largest bound until ``hi - lo <= tol`` or ``max_boxes``
    boxes were bounded (``hi`` is then looser, still valid).  ``max(0, hi)`` certifies the
    duality gap ``l* - l(G)`` of :func:`mixture_certificate` without its multistart search."""
    s = math.sqrt(xi)
    zf = np.asarray(x, dtype=np.float64) / s
    af, w = np.asarray(atoms, dtype=np.float64) / s, np.asarray(weights, dtype=np.float64)
    with ctx.workprec(96):
        z = [[arb(float(v)) for v in row] for row in zf]
        total = sum((arb(float(v)) for v in w), arb(0))
        log_p = [
            sum(
                (
                    (arb(float(wc)) / total)
                    * (
                        -sum(((zi[k] - arb(float(ac[k]))) ** 2 for k in range(len(zi))), arb(0)) / 2
                    ).exp()
                    for wc, ac in zip(w, af, strict=True)
                ),
                arb(0),
            ).log()
            for zi in z
        ]
        heap: list[tuple[float, int, np.ndarray, np.ndarray]] = []
        order = itertools.count()
        best = -math.inf
        lo, hi = zf.min(axis=0), zf.max(axis=0)
        value, bound = _box_bound(z, log_p, lo, hi)
        best = max(best, float(value.lower()))
        heapq.heappush(heap, (-float(bound.upper()), next(order), lo, hi))
        for _ in range(1, max_boxes):
            top = -heap[0][0]
            if top - best <= tol:
                break
            _, _, blo, bhi = heapq.heappop(heap)
            k = int(np.argmax(bhi - blo))
            mid = 0.5 * (blo[k] + bhi[k])
            for half_lo, half_hi in (
                (blo, np.where(np.arange(len(blo)) == k, mid, bhi)),
                (np.where(np.arange(len(blo)) == k, mid, blo), bhi),
            ):
                value, bound = _box_bound(z, log_p, half_lo, half_hi)
                best = max(best, float(value.lower()))
                heapq.heappush(heap, (-float(bound.upper()), next(order), half_lo, half_hi))
    return best, math.nextafter(-heap[0][0], math.inf)
