"""The generator: adversarial parameterization sequences ``(theta_k, phi_k)``.

Every construction is a real decoder from :mod:`wellposed.models.networks` with exactly set
weights (plus, where the claim needs one, a :class:`~wellposed.models.networks.TabularEncoder`),
indexed by a steepness / precision parameter ``k``.  Closed forms for the values along
each sequence live in :mod:`wellposed.lines.exact`
(:func:`wellposed.lines.exact.construction_values`);
this module only builds parameters.

* :func:`spike` -- L1 / S1 / S6 / S10 (Mattei & Frellsen 2018, Sec. 2, made explicit in the
  App. C.2 architecture): one tanh unit ``h1 = tanh(k t_1)``, ``W4 = 0, b4 = x_i``,
  ``W5 = -(k/2) 1 e1^T, b5 = -(k/2) 1``, so ``log sigma^2(t) = -(k/2)(1 + tanh(k t_1))
  = -k sigmoid(2 k t_1)``: variance ``e^-k`` on the half-space ``t_1 > 0``, 1 on the other.
* :func:`staircase` -- L2 / L3 / L4: a 1-D latent cut into ``n`` intervals of prior mass
  ``1/n`` (boundaries ``Phi^-1(j/n)``) by ``n - 1`` tanh steps of steepness ``a``; the mean
  is ``x_j`` on interval ``j`` (Bernoulli: logits ``k (2 x_j - 1)``); ``centres`` /
  ``masses`` give other levels and prior masses (L2: the floored NPMLE's atoms and weights).
* :func:`constant_coordinate` -- L6: constant mean, variance ``e^-k`` on a constant coordinate.
* :func:`rank_deficient_ppca` -- L5: pPCA on data in an ``r <= d`` dimensional affine
  subspace with noise variance ``e^-k``.
* :func:`ppca_at` -- L5: the pPCA model at given (e.g. maximum-likelihood) parameters, with
  the exact posterior as encoder.
* :func:`collapse_to_point` -- S7: ``n = 1``, mean ``x_1``, variance ``e^-k``, ``q`` = prior.
* :func:`floored_collapse` / :func:`floored_spike` -- S4: the collapse (``n = 1``) and the
  spike in the App. C.2 decoder under ``Floor(xi)`` (the floor bound is approached, not passed).
* :func:`weight_decay_saturation` -- L8: the variance head at the maximiser of the
  weight-decay bound.
* :func:`thread_decoder` / :func:`thread_encoder` -- S8 / S9: ``x = 0``, ``D = d = 1``,
  ``p(x|t) = N(x | t, 1/lam)`` (identity) or ``N(x | 0, 1/lam)`` (constant), ``q = N(m, s^2)``.
* :func:`collapsing_gmm` -- S3 / L7: a two-component Gaussian mixture with one component
  collapsing on ``x_0``.

The collapse-type members (:func:`collapse_to_point`, :func:`constant_coordinate`,
:func:`thread_decoder` ``"constant"``, :func:`floored_collapse`,
:func:`weight_decay_saturation`) ignore ``t``, so a Monte Carlo estimate of them has zero
variance and only checks the torch code path.  Their ``slope`` keyword (default 0) gives the
non-degenerate member of the same family, whose decoder depends on ``t``, for a statistical
Monte Carlo check against the exact or quadrature line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.stats
import torch
from torch import nn

from wellposed.errors import WellposedInputError
from wellposed.models.networks import (
    BernoulliMLPDecoder,
    Decoder,
    GaussianMLPDecoder,
    GaussianMLPEncoder,
    LinearGaussianDecoder,
    TabularEncoder,
)
from wellposed.models.validate import as_data
from wellposed.models.variance import Floor, Learned, SharedScalar, VariancePolicy

__all__ = [
    "ENCODERS",
    "SPIKE_MLP_HIDDEN",
    "SPIKE_Q_MEAN",
    "SPIKE_Q_STD",
    "Construction",
    "collapse_to_point",
    "collapsing_gmm",
    "constant_coordinate",
    "floored_collapse",
    "floored_spike",
    "ppca_at",
    "rank_deficient_ppca",
    "spike",
    "staircase",
    "thread_decoder",
    "thread_encoder",
    "weight_decay_saturation",
]

ENCODERS = ("coadapted", "coadapted-mlp", "fixed", "prior")
SPIKE_MLP_HIDDEN = 8  # hidden units of the App. C.2 encoder realising the co-adapted one
SPIKE_Q_MEAN = 1.0  # q(t | x_i) = N(+e1, 0.3^2 I) for the spiked point
SPIKE_Q_STD = 0.3


@dataclass(frozen=True)
class Construction:
    """One member ``theta_k`` of an adversarial sequence, ready to evaluate.

    ``witness`` holds the numbers a report shows (``k``, ``log sigma^2`` at the spiked
    point, encoder widths, ...); ``data`` is the float64 ``(n, D)`` array it was built for;
    ``spec`` holds what :func:`wellposed.lines.exact.construction_values` needs.
    """

    name: str
    k: float
    data: np.ndarray = field(repr=False)
    decoder: Decoder = field(repr=False)
    encoder: nn.Module | None = field(repr=False)
    witness: dict[str, float]
    #: what each construction's exact reduction needs (arrays and numbers, by name)
    spec: dict[str, Any] = field(default_factory=dict, repr=False)
    #: which exact reduction evaluates it (a key of ``wellposed.lines.exact``'s registry)
    kind: str = "linear"

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's ``(mean, log variance)`` at ``x`` as float64 arrays (no gradients);
        a construction without an encoder raises ``ValueError``."""
        if self.encoder is None:
            raise ValueError(f"construction {self.name!r} has no encoder")
        with torch.no_grad():
            m, lv = self.encoder(torch.as_tensor(x))
        return m.detach().numpy(), lv.detach().numpy()


def _check_k(k: float, name: str = "k") -> float:
    k = float(k)
    if not math.isfinite(k) or k <= 0:
        raise WellposedInputError(f"{name} must be a finite number > 0, got {k!r}")
    return k


def _single(x1: object, who: str) -> np.ndarray:
    """One observation ``x_1`` as a float64 ``(1, D)`` array."""
    x = np.atleast_2d(_data(np.atleast_2d(np.asarray(x1, dtype=np.float64))))
    if x.shape[0] != 1:
        raise WellposedInputError(f"{who} takes a single observation x_1")
    return x


def _data(data: object, *, binary: bool = False) -> np.ndarray:
    arr = data if isinstance(data, torch.Tensor) else np.asarray(data, dtype=np.float64)
    dim = int(arr.shape[1]) if arr.ndim == 2 else 1
    return as_data(arr, dim, binary=binary).numpy()


def _encoder(means: np.ndarray, stds: np.ndarray) -> TabularEncoder:
    return TabularEncoder(means, 2.0 * np.log(stds))


def spike(
    data: object, k: float, *, index: int = 0, latent_dim: int = 1, encoder: str = "coadapted"
) -> Construction:
    """The L1 spike on ``x_index`` (module doc), with the chosen encoder family.

    ``encoder``: ``"coadapted"`` puts ``q(t|x_index) = N(+e1, 0.3^2 I)`` and the other points
    at ``N(-e1, I/(4k))`` (their ELBO terms stay bounded; L1); ``"fixed"`` keeps the others at
    ``N(-e1, 0.3^2 I)`` (negative control: their terms -> -inf because ``E_q[1/sigma^2]``
    grows like ``e^k`` times the tail mass); ``"prior"`` uses ``q = p(t)`` for everyone.
    """
    x = _data(data)
    k = _check_k(k)
    n, D = x.shape
    if not 0 <= index < n:
        raise WellposedInputError(f"index must be in [0, {n}), got {index}")
    if encoder not in ENCODERS:
        raise WellposedInputError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
    d = int(latent_dim)
    dec = GaussianMLPDecoder(d, 1, D, Learned())
    W3 = np.zeros((1, d))
    W3[0, 0] = k
    dec.set_weights(
        W3=W3, b3=np.zeros(1), W4=np.zeros((D, 1)), b4=x[index],
        W5=np.full((D, 1), -k / 2), b5=np.full(D, -k / 2),
    )
    means = np.zeros((n, d))
    stds = np.ones((n, d))
    if encoder != "prior":
        other_std = SPIKE_Q_STD if encoder == "fixed" else 1.0 / math.sqrt(4.0 * k)
        means[:, 0] = -SPIKE_Q_MEAN
        stds[:] = other_std
        means[index, 0] = SPIKE_Q_MEAN
        stds[index] = SPIKE_Q_STD
    witness = {"k": k, "log_var_on_spike": -k, "index": float(index), "q_std_others": stds[0, 0]}
    if n > 1:
        witness["q_std_others"] = float(stds[(index + 1) % n, 0])
    spec = {"q_mean": means[:, 0].copy(), "q_std": stds[:, 0].copy(), "latent_dim": d,
            "index": index}
    enc: nn.Module = _encoder(means, stds)
    if encoder == "coadapted-mlp":
        enc = GaussianMLPEncoder(D, max(SPIKE_MLP_HIDDEN, n), d, seed=0)
        spec["encoder_error"] = enc.realise(x, means, 2.0 * np.log(stds))
    return Construction(f"spike/{encoder}", k, x, dec, enc, witness, spec, kind="spike")


def _boundaries(n: int) -> np.ndarray:
    """``Phi^-1(j/n)``, ``j = 1..n-1``: cut points of ``n`` intervals of prior mass ``1/n``."""
    return np.asarray(scipy.stats.norm.ppf(np.arange(1, n) / n), dtype=np.float64)


def _centres(n: int) -> np.ndarray:
    """Prior medians of the ``n`` equal-mass intervals, ``Phi^-1((j - 1/2)/n)``."""
    return np.asarray(scipy.stats.norm.ppf((np.arange(n) + 0.5) / n), dtype=np.float64)


def _half_widths(n: int) -> np.ndarray:
    """Distance from each centre to its nearest boundary (``inf`` for ``n = 1``)."""
    edges = np.concatenate([[-np.inf], _boundaries(n), [np.inf]])
    c = _centres(n)
    out: np.ndarray = np.minimum(c - edges[:-1], edges[1:] - c)
    return out


def staircase(
    data: object,
    k: float,
    *,
    variance: VariancePolicy | None = None,
    family: str = "gaussian",
    centres: object | None = None,
    masses: object | None = None,
) -> Construction:
    """The memorizing staircase: ``mu(t) = x_j`` on the ``j``-th equal-prior-mass interval.

    Steps ``h_l = tanh(a (t - c_l))`` with ``a = (k + 20) / delta`` (``delta``: the smallest
    centre-to-boundary distance), ``mu(t) = x_1 + sum_l (x_{l+1} - x_l)(1 + h_l)/2``.
    Gaussian: ``variance`` defaults to ``SharedScalar(-k)`` (L4); a ``Floor(xi)`` policy gets
    raw head ``-k`` so ``sigma^2 = xi + softplus(-k) -> xi`` (L2).  Bernoulli: logits
    ``k (2 mu(t) - 1)`` (L3; data must be binary).  The encoder puts ``q(t|x_j)`` at the
    centre of interval ``j`` with standard deviation ``delta_j / (2 sqrt(k + 1))``, so the
    mass it leaks into other intervals falls like ``e^{-2k}``.

    ``centres`` (``(m, D)``, Gaussian only) with ``masses`` (``m`` positive numbers, default
    equal) put the levels at ``centres`` on intervals of those prior masses instead (L2: the
    atoms and weights of the floored NPMLE); ``q(t|x_j)`` then sits on the interval of the
    level nearest ``x_j``.
    """
    if family not in ("gaussian", "bernoulli"):
        raise WellposedInputError(f"family must be 'gaussian' or 'bernoulli', got {family!r}")
    x = _data(data, binary=family == "bernoulli")
    k = _check_k(k)
    if centres is not None and family == "bernoulli":
        raise WellposedInputError("centres / masses are for the Gaussian staircase only")
    if centres is not None:
        return _weighted_staircase(x, k, variance, _data(centres), masses)
    n, D = x.shape
    H = max(n - 1, 1)
    cuts = _boundaries(n)
    delta = float(np.min(_half_widths(n))) if n > 1 else 1.0
    a = (k + 20.0) / delta
    W3 = np.full((H, 1), a if n > 1 else 0.0)
    b3 = np.concatenate([-a * cuts, np.zeros(H - len(cuts))])
    steps = np.zeros((D, H))
    if n > 1:
        steps[:, : n - 1] = (np.diff(x, axis=0) / 2.0).T
    offset = x[0] + steps.sum(axis=1)
    if family == "bernoulli":
        dec: BernoulliMLPDecoder | GaussianMLPDecoder = BernoulliMLPDecoder(1, H, D)
        dec.set_weights(W3=W3, b3=b3, W4=2 * k * steps, b4=k * (2 * offset - 1))
        policy_name = "bernoulli"
    else:
        policy = variance if variance is not None else SharedScalar(-k)
        dec = GaussianMLPDecoder(1, H, D, policy)
        dec.set_weights(W3=W3, b3=b3, W4=steps, b4=offset, W5=np.zeros((D, H)),
                        b5=np.full(D, -k))
        policy_name = policy.name
    half = _half_widths(n) if n > 1 else np.array([1.0])
    stds = np.minimum(half, 1.0) / (2.0 * math.sqrt(k + 1.0))
    centres = _centres(n)
    witness = {"k": k, "steepness": a, "min_q_std": float(stds.min()), "intervals": float(n)}
    spec = {"cuts": cuts, "steepness": a, "q_mean": centres, "q_std": stds,
            "policy": policy_name, "family": family}
    enc = _encoder(centres[:, None], stds[:, None])
    return Construction(f"staircase/{family}/{policy_name}", k, x, dec, enc, witness, spec,
                        kind="staircase")


def _weighted_staircase(x: np.ndarray, k: float, variance: VariancePolicy | None,
                        levels: np.ndarray, masses: object | None) -> Construction:
    """:func:`staircase` with levels ``levels`` on intervals of prior masses ``masses``."""
    m, D = levels.shape
    w = np.full(m, 1.0 / m) if masses is None else np.asarray(masses, dtype=np.float64)
    if levels.shape[1] != x.shape[1] or w.shape != (m,) or not np.all(w > 0):
        raise WellposedInputError("centres must be (m, D) like the data, masses m numbers > 0")
    cum = np.cumsum(w / w.sum())
    cuts = scipy.stats.norm.ppf(cum[:-1])
    edges = np.concatenate([[-np.inf], cuts, [np.inf]])
    mids = scipy.stats.norm.ppf(cum - 0.5 * w / w.sum())
    half = np.minimum(mids - edges[:-1], edges[1:] - mids) if m > 1 else np.array([1.0])
    a = (k + 20.0) / float(np.min(half))
    H = max(m - 1, 1)
    steps = np.zeros((D, H))
    steps[:, : m - 1] = (np.diff(levels, axis=0) / 2.0).T
    policy = variance if variance is not None else SharedScalar(-k)
    dec = GaussianMLPDecoder(1, H, D, policy)
    dec.set_weights(W3=np.full((H, 1), a if m > 1 else 0.0),
                    b3=np.concatenate([-a * cuts, np.zeros(H - len(cuts))]), W4=steps,
                    b4=levels[0] + steps.sum(axis=1), W5=np.zeros((D, H)), b5=np.full(D, -k))
    assign = np.argmin(np.sum((x[:, None, :] - levels[None]) ** 2, axis=-1), axis=1)
    stds = np.minimum(half, 1.0)[assign] / (2.0 * math.sqrt(k + 1.0))
    witness = {"k": k, "steepness": a, "min_q_std": float(stds.min()), "intervals": float(m)}
    spec = {"cuts": cuts, "steepness": a, "q_mean": mids[assign], "q_std": stds,
            "policy": policy.name, "family": "gaussian", "levels": levels, "assign": assign}
    return Construction(f"staircase/weighted/{policy.name}", k, x, dec,
                        _encoder(mids[assign][:, None], stds[:, None]), witness, spec,
                        kind="staircase")


def constant_coordinate(
    data: object, coord: int, k: float, *, slope: float = 0.0
) -> Construction:
    """L6: ``W = 0``, ``b`` = column means, ``log sigma_coord^2 = -k``, others the column
    log-variances; ``q`` = prior (KL = 0, ELBO = log-likelihood).

    Requires column ``coord`` to be constant (otherwise it is not a witness).  ``slope``
    sets ``W_j = slope`` on every other column (mean ``b_j + slope t``; the constant
    column's factor stays ``t``-independent).
    """
    x = _data(data)
    k = _check_k(k)
    n, D = x.shape
    if not 0 <= coord < D:
        raise WellposedInputError(f"coord must be in [0, {D}), got {coord}")
    if np.ptp(x[:, coord]) != 0.0:
        raise WellposedInputError(
            f"column {coord} is not constant; pick a constant column (wellposed audit-data "
            "lists them)"
        )
    var = x.var(axis=0)
    log_var = np.log(np.where(var > 0, var, 1.0))
    log_var[coord] = -k
    mean = x.mean(axis=0)
    mean[coord] = x[0, coord]  # exact: a float mean of n equal numbers can be 1 ulp off
    W = np.full((D, 1), float(slope))
    W[coord] = 0.0
    dec = LinearGaussianDecoder(W, mean, log_var)
    enc = _encoder(np.zeros((n, 1)), np.ones((n, 1)))
    return Construction("constant_coordinate", k, x, dec, enc,
                        {"k": k, "coord": float(coord), "slope": float(slope)})


def rank_deficient_ppca(data: object, latent_dim: int, k: float) -> Construction:
    """L5: ``W = U_r (L_r)^{1/2}`` (top ``r`` principal directions, zero-padded to
    ``latent_dim`` columns), ``b`` = mean, noise ``log gamma = -k``; the encoder is the exact
    posterior's diagonal (exact when ``W^T W`` is diagonal, as here).

    Requires the centred data rank ``r <= latent_dim < D``.  For data in a subspace that
    is not axis-aligned, float64 rounding of the residual (~1e-16 relative) is divided by
    ``e^-k`` and dominates the exact log-likelihood once ``k`` exceeds about 60; use
    moderate ``k`` (the rate ``n (D - r)/2`` per unit ``k`` is already exact there).
    """
    x = _data(data)
    k = _check_k(k)
    n, D = x.shape
    d = int(latent_dim)
    centred = x - x.mean(axis=0)
    evals, evecs = np.linalg.eigh(centred.T @ centred / n)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    r = int(np.sum(evals > 1e-12 * max(evals[0], 1e-300)))
    if not r <= d < D:
        raise WellposedInputError(
            f"rank_deficient_ppca needs rank r <= latent_dim < D; got r={r}, latent_dim={d}, "
            f"D={D}"
        )
    W = np.zeros((D, d))
    W[:, :r] = evecs[:, :r] * np.sqrt(evals[:r])
    dec = LinearGaussianDecoder(W, x.mean(axis=0), -k)
    col = np.sum(W**2, axis=0)
    # posterior variance 1 / (1 + e^k col) and mean e^k W^T r / (1 + e^k col), without e^k
    with np.errstate(divide="ignore"):
        log_post_var = -np.logaddexp(0.0, k + np.log(col))
    means = centred @ W / (math.exp(-max(k, -700.0)) + col) if k < 700 else (
        centred @ W / np.where(col > 0, col, 1.0))
    enc = TabularEncoder(means, np.tile(log_post_var, (n, 1)))
    return Construction("rank_deficient_ppca", k, x, dec, enc, {"k": k, "rank": float(r)})


def collapse_to_point(x1: object, k: float, *, slope: float = 0.0) -> Construction:
    """S7 counterexample: ``n = 1``, ``mu(t) = x_1``, ``sigma^2 = e^-k``, ``q`` = prior.

    ``KL = 0`` and ``ELBO = -(D/2) log(2 pi sigma^2) = (D/2)(k - log 2pi) -> inf``.
    ``slope = w`` gives ``mu(t) = x_1 + w t 1`` (``W = w 1``): the ELBO loses
    ``D w^2 e^k / 2``.
    """
    x = _single(x1, "collapse_to_point")
    k = _check_k(k)
    D = x.shape[1]
    dec = LinearGaussianDecoder(np.full((D, 1), float(slope)), x[0], -k)
    enc = _encoder(np.zeros((1, 1)), np.ones((1, 1)))
    return Construction("collapse_to_point", k, x, dec, enc,
                        {"k": k, "log_var": -k, "slope": float(slope)})


def thread_decoder(
    kind: str, lam: float | None = None, *, log_lam: float | None = None, slope: float = 0.0
) -> LinearGaussianDecoder:
    """S8 / S9: ``p(x|t) = N(x | t, 1/lam)`` (``"identity"``) or ``N(x | 0, 1/lam)``
    (``"constant"``), ``D = d = 1``: ``W = 1`` or ``0``, ``b = 0``, ``log sigma^2 = -log lam``.

    Give the precision as ``lam`` or, past the float64 range of ``lam``, as ``log_lam``.
    ``slope = w`` adds ``w`` to ``W`` (``"constant"``: ``N(x | w t, 1/lam)``).
    """
    if kind not in ("identity", "constant"):
        raise WellposedInputError(f"kind must be 'identity' or 'constant', got {kind!r}")
    if (lam is None) == (log_lam is None):
        raise WellposedInputError("give exactly one of lam and log_lam")
    if log_lam is None:
        assert lam is not None  # exactly one of the two was given
        log_var = -math.log(_check_k(lam, "lam"))
    elif math.isfinite(float(log_lam)):
        log_var = -float(log_lam)
    else:
        raise WellposedInputError(f"log_lam must be finite, got {log_lam!r}")
    W = np.array([[(1.0 if kind == "identity" else 0.0) + float(slope)]])
    return LinearGaussianDecoder(W, np.zeros(1), log_var)


def thread_encoder(mean: float = 0.0, log_var: float = 0.0) -> TabularEncoder:
    """S8 / S9: ``q(t | x = 0) = N(mean, e^log_var)`` for the one observation (defaults: the
    prior ``N(0, 1)``; ``log_var = 2 log s`` for ``q = N(m, s^2)``)."""
    return TabularEncoder(np.array([[mean]]), np.array([[log_var]]))


def ppca_at(
    data: object,
    W: np.ndarray,
    b: np.ndarray,
    log_var: float,
    posterior: tuple[np.ndarray, np.ndarray] | None = None,
) -> Construction:
    """L5: pPCA ``p(x|t) = N(x | W t + b, e^log_var I)`` at given parameters (e.g. the
    maximum-likelihood fit of :func:`wellposed.lines.exact.ppca_fit`).

    ``posterior = (means, cov)`` (:func:`wellposed.lines.exact.linear_posterior`:
    ``cov = (I + W^T W / sigma^2)^-1``, ``means_i = cov W^T (x_i - b) / sigma^2``) gives the
    encoder ``q(t|x_i) = N(means_i, diag cov)``, the exact posterior when ``W^T W`` is
    diagonal (as for the ML ``W``), so the ELBO equals the log-likelihood; without it there
    is no encoder.
    """
    x = _data(data)
    dec = LinearGaussianDecoder(W, b, log_var)
    enc = None
    if posterior is not None:
        means, cov = posterior
        enc = TabularEncoder(means, np.log(np.broadcast_to(np.diag(cov), means.shape)))
    return Construction("ppca", 0.0, x, dec, enc, {"log_var": float(log_var)})


def floored_collapse(
    x1: object, xi: float, k: float, *, slope: float = 0.0
) -> Construction:
    """S4 tightness, ``n = 1``: the App. C.2 decoder (one hidden unit) with ``Floor(xi)``,
    ``W3 = 1, b3 = 0`` (``h = tanh(t)``), ``W4 = 0, b4 = x_1`` (``mu(t) = x_1``) and
    ``W5 = slope, b5 = -k``; at ``slope = 0``, ``sigma^2 = xi + softplus(-k) -> xi``, ``q`` =
    prior, and the ELBO ``-(D/2) log(2 pi (xi + softplus(-k)))`` rises to the floor bound
    ``-(D/2) log(2 pi xi)``.  ``slope != 0``: ``sigma^2(t) = xi + softplus(slope tanh(t) - k)``.
    """
    x = _single(x1, "floored_collapse")
    k, xi = _check_k(k), _check_k(xi, "xi")
    D = x.shape[1]
    dec = GaussianMLPDecoder(1, 1, D, Floor(xi))
    dec.set_weights(W3=np.ones((1, 1)), b3=np.zeros(1), W4=np.zeros((D, 1)), b4=x[0],
                    W5=np.full((D, 1), float(slope)), b5=np.full(D, -k))
    enc = TabularEncoder(np.zeros((1, 1)), np.zeros((1, 1)))
    return Construction("floored_collapse", k, x, dec, enc,
                        {"k": k, "xi": xi, "slope": float(slope)}, kind="mlp")


def floored_spike(data: object, xi: float, k: float) -> Construction:
    """S4: the :func:`spike` (co-adapted encoder) with its raw variance head
    ``-k sigmoid(2 k t_1)`` under ``Floor(xi)``: ``sigma^2(t) = xi + softplus(-k sigmoid(2 k
    t_1)) >= xi``, so the spike's divergence stops at the floor bound."""
    c = spike(data, k)
    xi = _check_k(xi, "xi")
    dec = GaussianMLPDecoder(1, 1, c.data.shape[1], Floor(xi))
    dec.load_state_dict(c.decoder.state_dict())
    return Construction("spike/floor", c.k, c.data, dec, c.encoder, {**c.witness, "xi": xi},
                        dict(c.spec), kind="mlp")


def weight_decay_saturation(
    x1: object, hidden: int, lam: float, k: float, *, slope: float = 0.0
) -> Construction:
    """L8 tightness, ``n = 1``: the App. C.2 decoder of width ``H = hidden`` with
    ``W3 = 0, b3 = k`` (``h = tanh(k) -> 1``), ``W4 = 0, b4 = x_1`` and ``W5 = -a, b5 = -a``,
    ``a = 1/(2 lam)`` (the maximiser of the weight-decay bound at ``n = 1``), so
    ``log sigma^2 = -a (H tanh(k) + 1)``; ``q`` = prior.  With the penalty
    ``(lam/2) a^2 D (H + 1)`` the penalized ELBO ``-(D/2)(log 2pi - a (H tanh(k) + 1))
    - (lam/2) a^2 D (H + 1)`` rises to the bound ``D (H + 1)/(8 lam) - (D/2) log 2pi``.
    ``slope = w`` sets ``W3 = w`` (``h = tanh(w t + k)``; the penalty is unchanged).
    """
    x = _single(x1, "weight_decay_saturation")
    k, lam = _check_k(k), _check_k(lam, "lam")
    H, D = int(hidden), x.shape[1]
    a = 1.0 / (2.0 * lam)
    dec = GaussianMLPDecoder(1, H, D)
    dec.set_weights(W3=np.full((H, 1), float(slope)), b3=np.full(H, k), W4=np.zeros((D, H)),
                    b4=x[0], W5=np.full((D, H), -a), b5=np.full(D, -a))
    enc = TabularEncoder(np.zeros((1, 1)), np.zeros((1, 1)))
    return Construction("weight_decay_saturation", k, x, dec, enc,
                        {"k": k, "a": a, "lam": lam, "hidden": float(H), "slope": float(slope)},
                        kind="mlp")


def collapsing_gmm(data: object, k: float, *, floor: float | None = None) -> dict[str, np.ndarray]:
    """S3 / L7: mixture ``(1/2) N(x_0, e^-k I) + (1/2) N(mean, v I)`` (``v``: average variance).

    With ``floor`` the collapsing variance is ``max(e^-k, floor)`` (Ingrassia 2004).
    Returns ``weights (2,)``, ``means (2, D)``, ``log_vars (2,)`` (isotropic components).
    """
    x = _data(data)
    k = _check_k(k)
    broad = float(np.mean(x.var(axis=0))) if x.shape[0] > 1 else 1.0
    lv0 = -k if floor is None else max(-k, math.log(floor))
    return {
        "weights": np.array([0.5, 0.5]),
        "means": np.stack([x[0], x.mean(axis=0)]),
        "log_vars": np.array([lv0, math.log(max(broad, 1e-12))]),
    }
