"""The exact line's integration meshes: Gauss-Legendre panels graded at switches and cliffs.

The spike and staircase 1-D reductions (:mod:`wellposed.lines.exact`) integrate over
``[-40, 40]`` with 20-point Gauss-Legendre panels on a mesh that is uniform (step 1/4) and
graded geometrically towards every switch and cliff of the integrand (panel width ~ distance
to it, down to 1/8 of the switch width).  Where the points sit is the whole difference
between a right and a wrong exact value (1e-4 nats at ``k = 10`` for a staircase graded only
at its cuts), so they live here, one function per construction, and the tests check the
meshes against the rigorous enclosures of :mod:`wellposed.lines.certified`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.special as sp

__all__ = ["SPAN", "mesh", "spike_switches", "staircase_cliffs"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
SPAN = 40.0


def mesh(switches: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and log-weights on ``[-40, 40]`` graded towards ``switches``."""
    grading = scale * 2.0 ** np.arange(-3, 80)
    grading = grading[grading < 2 * SPAN]
    sw = np.atleast_1d(np.asarray(switches, dtype=np.float64))
    sw = sw[np.abs(sw) < SPAN]
    pts = [np.arange(-SPAN, SPAN + 1e-9, 0.25), sw]
    pts += [sw[:, None] + grading[None, :], sw[:, None] - grading[None, :]]
    edges = np.unique(np.clip(np.concatenate([p.ravel() for p in pts]), -SPAN, SPAN))
    a, b = edges[:-1], edges[1:]
    half = 0.5 * (b - a)
    nodes = (0.5 * (a + b))[:, None] + half[:, None] * _GL_X[None, :]
    weights = half[:, None] * _GL_W[None, :]
    return nodes.ravel(), np.log(weights.ravel())


def spike_switches(D: int, k: float, R: float) -> np.ndarray:
    """The switch ``u = 0`` and, for ``R > 0``, ``u = logit(v / k) / (2k)`` at the peak
    ``v = -lv = log(D/R)`` and the cliff ``(R/2) e^v = 50`` (mesh points of spike_log_lik)."""
    v = np.log([D / R, 100.0 / R]) if R > 0 else np.array([])
    v = v[(v > 0) & (v < k)]
    return np.append(0.0, sp.logit(v / k) / (2.0 * k))


def staircase_cliffs(
    x: np.ndarray,
    spec: dict[str, Any],
    log_var: float | None,
    levels: tuple[float, ...] = (0.5, 50.0),
) -> np.ndarray:
    """Cliffs of ``p(x_j | u)`` next to each cut (Gaussian outputs).  Near cut ``c_l`` the
    mean leaves level ``y_l`` as ``y_l + Delta_l tau`` (``tau = sigmoid(2a(u - c_l))``) and
    reaches ``y_{l+1}`` as ``y_{l+1} - Delta_l tau`` (``tau = sigmoid(-2a(u - c_l))``); with
    ``B = x_j - level``, ``|r_j|^2 e^{-lv} / 2 = L`` at the small roots ``tau`` of
    ``|Delta|^2 tau^2 -+ 2 (B . Delta) tau + |B|^2 - 2 L e^{lv}`` (solved without forming
    ``1 - tau``): ``u = c_l +- logit(tau) / (2a)``.  Graded at ``L`` in ``levels``."""
    if log_var is None or spec["family"] == "bernoulli":
        return np.array([])
    lev = np.asarray(spec.get("levels", x), dtype=np.float64)
    delta = np.diff(lev, axis=0)  # (n_cuts, D)
    qa = np.sum(delta * delta, axis=1)[None, :, None]
    eps = 2.0 * np.array(levels) * math.exp(log_var)
    out = []
    for side, level in ((1.0, lev[:-1]), (-1.0, lev[1:])):
        B = x[:, None, :] - level[None, :, :]  # (n, n_cuts, D)
        hb = side * np.sum(B * delta[None], axis=2)[:, :, None]
        qc = np.sum(B * B, axis=2)[:, :, None] - eps
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = (hb + np.array([-1.0, 1.0]).reshape(2, 1, 1, 1) * np.sqrt(hb * hb - qa * qc)) / qa
            shift = (np.log(tau) - np.log1p(-tau)) / (2.0 * spec["steepness"])
        out.append(np.asarray(spec["cuts"])[None, :, None] + side * shift)
    u = np.concatenate([o.ravel() for o in out])
    return np.unique(u[np.isfinite(u)])
