"""Intrinsic dimension of a data set: the Levina-Bickel nearest-neighbour MLE, with its spread.

For a point x with distances T_1 <= ... <= T_k to its k nearest neighbours, the local
maximum-likelihood estimate of the dimension m of the manifold the data lie on (a Poisson
process of constant density on an m-dimensional ball, Levina & Bickel, NIPS 2004) is

    1 / m_k(x) = (1/(k-1)) sum_{j<k} log(T_k / T_j).

Under that model the k-1 terms are independent Exp(m) variables, so 1/m_k(x) is unbiased for
1/m with variance 1/(m^2 (k-1)).  The inverses are averaged over the points before
inverting (MacKay & Ghahramani's correction of the pooled estimator), and the estimate is
averaged over k = K_LO..K_HI as Levina & Bickel recommend.  The uncertainty reported is
(a) the statistical standard error m / sqrt(n (k-1)) with the neighbourhoods treated as
independent (they overlap, so it is optimistic) and (b) the range of the estimate over k
(curvature, boundary and noise effects); the interval used for decisions is
[min_k - 2 se, max_k + 2 se].  Rows are de-duplicated first (a zero distance has no log).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from wellposed.evidence.records import jsonable_dict

__all__ = ["K_HI", "K_LO", "MAX_POINTS", "IntrinsicDimension", "intrinsic_dimension"]

#: neighbourhood sizes averaged over (Levina & Bickel 2004 use k = 10..20)
K_LO, K_HI = 10, 20
#: rows used at most (a seeded subsample beyond this; the seed is recorded)
MAX_POINTS = 2000


@dataclass(frozen=True)
class IntrinsicDimension:
    """The estimate, its standard error, its range over k and the interval used."""

    estimate: float | None  # None when there are too few distinct rows
    se: float | None
    k_range: tuple[int, int]
    per_k_min: float | None
    per_k_max: float | None
    points: int  # distinct rows used
    seed: int
    reason: str = ""  # why there is no estimate

    @property
    def lower(self) -> float | None:
        """Lower end of the decision interval: min over k minus two standard errors."""
        if self.estimate is None or self.per_k_min is None or self.se is None:
            return None
        return self.per_k_min - 2.0 * self.se

    @property
    def upper(self) -> float | None:
        """Upper end of the decision interval: max over k plus two standard errors."""
        if self.estimate is None or self.per_k_max is None or self.se is None:
            return None
        return self.per_k_max + 2.0 * self.se

    def text(self) -> str:
        """One line, rounded to 2 decimals (what the estimate supports; portable)."""
        if self.estimate is None:
            return f"intrinsic dimension: not estimated ({self.reason})"
        return (
            f"intrinsic dimension (Levina-Bickel MLE, k = {self.k_range[0]}..{self.k_range[1]}"
            f", {self.points} points, seed {self.seed}) = {self.estimate:.2f} +- "
            f"{self.se:.2f} (statistical), {self.per_k_min:.2f}..{self.per_k_max:.2f} over k; "
            f"interval [{self.lower:.2f}, {self.upper:.2f}]"
        )

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 2)

        return jsonable_dict(
            {
                "method": "Levina-Bickel nearest-neighbour MLE (MacKay-Ghahramani pooling)",
                "estimate": r(self.estimate),
                "se": r(self.se),
                "k_range": list(self.k_range),
                "per_k_min": r(self.per_k_min),
                "per_k_max": r(self.per_k_max),
                "interval": [r(self.lower), r(self.upper)],
                "points": self.points,
                "seed": self.seed,
                "reason": self.reason,
            }
        )


def _knn_distances(X: np.ndarray, k: int, chunk: int = 256, spare: int = 8) -> np.ndarray:
    """Sorted distances to the k nearest other rows, (n, k), in float64.

    Candidates (k + ``spare`` per row) come from the Gram form |a|^2 + |b|^2 - 2 a.b; their
    distances are then recomputed directly as sums of squared differences, so the small
    distances the estimator takes logs of carry no cancellation error."""
    n = X.shape[0]
    m = min(k + spare, n - 1)
    sq = np.einsum("ij,ij->i", X, X)
    out = np.empty((n, k))
    for s in range(0, n, chunk):
        rows = np.arange(s, min(s + chunk, n))
        d2 = sq[rows, None] + sq[None, :] - 2.0 * (X[rows] @ X.T)
        d2[np.arange(len(rows)), rows] = np.inf  # self
        cand = np.argpartition(d2, m - 1, axis=1)[:, :m]
        diff = X[rows, None, :] - X[cand]
        exact = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        out[rows] = np.sort(exact, axis=1)[:, :k]
    return out


def intrinsic_dimension(
    X: np.ndarray,
    *,
    seed: int = 0,
    k_lo: int = K_LO,
    k_hi: int = K_HI,
    max_points: int = MAX_POINTS,
) -> IntrinsicDimension:
    """Levina-Bickel estimate of the dimension of the manifold the rows of X lie on."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    U = np.unique(X, axis=0)
    if U.shape[0] > max_points:
        rng = np.random.default_rng(seed)
        U = U[np.sort(rng.choice(U.shape[0], size=max_points, replace=False))]
    n = U.shape[0]
    if n < k_hi + 1:
        return IntrinsicDimension(
            None,
            None,
            (k_lo, k_hi),
            None,
            None,
            n,
            seed,
            f"{n} distinct rows; at least {k_hi + 1} are needed",
        )
    # centre and scale by one number: the estimator is invariant, and it keeps the sums exact
    U = U - U.mean(axis=0)
    scale = float(np.max(np.abs(U)))
    U = U / scale if scale > 0 else U
    T = _knn_distances(U, k_hi)
    logT = np.log(T)
    per_k = []
    for k in range(k_lo, k_hi + 1):
        inv = np.mean(logT[:, k - 1 : k] - logT[:, : k - 1], axis=1)  # 1/m_k(x_i)
        per_k.append(1.0 / float(np.mean(inv)))
    est = float(np.mean(per_k))
    kmid = 0.5 * (k_lo + k_hi)
    se = est / math.sqrt(n * (kmid - 1.0))
    return IntrinsicDimension(est, se, (k_lo, k_hi), float(min(per_k)), float(max(per_k)), n, seed)
