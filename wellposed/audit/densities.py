"""Log densities of the audited families, in log space and float64, and their witnesses.

The formulas the family audit evaluates (docs/claims.md#f1 to #f6): the general log
densities of the unbounded families in log-scale parameters (:func:`witness_log_density`
evaluates them along each family's witness sequence theta(k)), the exact spike values for
k far beyond float64's parameter range (Stirling form, DLMF 5.11.1), the continuous
Bernoulli's log-partition function, and the densities of the bounded families (F4-F6).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special

from wellposed.models.variance import SoftClip
from wellposed.numerics import HALF_LOG_2PI

__all__ = [
    "GAUSSIAN_NLL_EPS",
    "K_FIT",
    "SOFTCLIP_MIN",
    "STUDENTT_SCALE_FLOOR",
    "binary_entropy",
    "cb_log_normalizer",
    "cb_log_prob",
    "cb_sup_interior",
    "log_bernoulli",
    "log_beta_density",
    "log_discretized_gaussian",
    "log_discretized_logistic",
    "log_gamma_density",
    "log_gaussian_nll_value",
    "log_location_scale",
    "log_lognormal",
    "log_softclip_gaussian",
    "log_studentt_floor",
    "log_vonmises",
    "spike_beta",
    "spike_cb_boundary",
    "spike_gamma",
    "spike_laplace",
    "spike_logistic",
    "spike_lognormal",
    "spike_normal",
    "spike_studentt",
    "spike_vonmises",
    "studentt_peak",
    "witness_log_density",
]

#: sigma-VAE softclip floor: log sigma >= -6 (Rybkin et al. 2021, arXiv 2006.13202, code).
SOFTCLIP_MIN = -6.0
#: MIWAE Student-t scale floor (Mattei & Frellsen 2019, code: 0.001 + softplus).
STUDENTT_SCALE_FLOOR = 1e-3
#: torch.nn.GaussianNLLLoss default eps.
GAUSSIAN_NLL_EPS = 1e-6


# ----------------------------------------------------------------------------------------
# stable special functions
# ----------------------------------------------------------------------------------------


def _lgamma_ratio_tail(z: np.ndarray) -> np.ndarray:
    """Stirling remainder lgamma(z) - [(z - 1/2) log z - z + log(2 pi)/2] (DLMF 5.11.1)."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    big = z > 20.0
    iz = 1.0 / z[big]
    out[big] = iz / 12.0 - iz**3 / 360.0 + iz**5 / 1260.0
    zs = z[~big]
    out[~big] = special.gammaln(zs) - ((zs - 0.5) * np.log(zs) - zs + HALF_LOG_2PI)
    return out


def cb_log_normalizer(eta: np.ndarray) -> np.ndarray:
    """A(eta) = log((e^eta - 1)/eta), the continuous Bernoulli log-partition function.

    In natural parameter eta = logit(lam): log p(x | eta) = eta x - A(eta) on [0, 1]
    (Loaiza-Ganem & Cunningham 2019; C(lam)(1 - lam) = eta / (e^eta - 1)).
    Stable for |eta| up to 1e300: for eta > 0, A = eta + log(-expm1(-eta)) - log eta.
    """
    eta = np.asarray(eta, dtype=np.float64)
    out = np.empty_like(eta)
    small = np.abs(eta) < 1e-4
    pos = eta >= 1e-4
    neg = eta <= -1e-4
    e = eta[small]
    out[small] = e / 2.0 + e * e / 24.0
    e = eta[pos]
    out[pos] = e + np.log(-np.expm1(-e)) - np.log(e)
    e = eta[neg]
    out[neg] = np.log(-np.expm1(e)) - np.log(-e)
    return out


def cb_log_prob(x: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Continuous Bernoulli log density eta x - A(eta) (mathematics, no clamping)."""
    x = np.asarray(x, dtype=np.float64)
    eta = np.asarray(eta, dtype=np.float64)
    returned: np.ndarray = eta * x - cb_log_normalizer(eta)
    return returned


def _cb_mean(eta: np.ndarray) -> np.ndarray:
    """A'(eta) = 1/(1 - e^-eta) - 1/eta, the mean of CB(eta); increasing from 0 to 1."""
    eta = np.asarray(eta, dtype=np.float64)
    out = np.empty_like(eta)
    small = np.abs(eta) < 1e-4
    out[small] = 0.5 + eta[small] / 12.0
    e = eta[~small]
    with np.errstate(over="ignore"):  # expm1(-e) = inf for e << 0 gives the right limit 0
        out[~small] = -1.0 / np.expm1(-e) - 1.0 / e
    return out


def cb_sup_interior(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sup_eta log p(x | eta) for x in (0, 1): A is convex, so the max solves A'(eta) = x.

    Vectorized bisection in eta over [-2/x - 10, 2/(1-x) + 10] (A'(eta) ~ -1/eta near 0,
    ~ 1 - 1/eta near 1).  Returns (sup, argmax eta).
    """
    x = np.asarray(x, dtype=np.float64)
    lo = -2.0 / x - 10.0
    hi = 2.0 / (1.0 - x) + 10.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        up = _cb_mean(mid) < x
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    eta = 0.5 * (lo + hi)
    return cb_log_prob(x, eta), eta


def binary_entropy(x: np.ndarray) -> np.ndarray:
    """H(x) = -x log x - (1-x) log(1-x) in nats, with 0 log 0 = 0."""
    x = np.asarray(x, dtype=np.float64)
    returned: np.ndarray = -(special.xlogy(x, x) + special.xlogy(1.0 - x, 1.0 - x))
    return returned


# ----------------------------------------------------------------------------------------
# spike (witness) sequences: exact log p along the sequence, as functions of k
# ----------------------------------------------------------------------------------------


def studentt_peak(df: float) -> float:
    """log of the Student-t density at its mode with unit scale (df degrees of freedom)."""
    return float(
        special.gammaln((df + 1) / 2) - special.gammaln(df / 2) - 0.5 * math.log(df * math.pi)
    )


def spike_normal(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """log N(x | x, e^{-2k}) = k - log(2 pi)/2."""
    return np.asarray(k, dtype=np.float64) - HALF_LOG_2PI + 0.0 * np.asarray(x)


def spike_laplace(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """log Laplace(x | x, b = e^{-k}) = k - log 2."""
    return np.asarray(k, dtype=np.float64) - math.log(2.0) + 0.0 * np.asarray(x)


def spike_studentt(x: np.ndarray, k: np.ndarray, df: float = 3.0) -> np.ndarray:
    """log t_df(x | x, e^{-k}) = k + lgamma((df+1)/2) - lgamma(df/2) - log(df pi)/2."""
    return np.asarray(k, dtype=np.float64) + studentt_peak(df) + 0.0 * np.asarray(x)


def spike_logistic(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """log Logistic(x | x, s = e^{-k}) = k - log 4 (density e^{-z}/(s (1+e^{-z})^2) at z=0)."""
    return np.asarray(k, dtype=np.float64) - math.log(4.0) + 0.0 * np.asarray(x)


def spike_lognormal(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """log LogNormal(x | mu = log x, sigma = e^{-k}) = k - log(2 pi)/2 - log x (x > 0)."""
    return np.asarray(k, dtype=np.float64) - HALF_LOG_2PI - np.log(np.asarray(x, np.float64))


def spike_gamma(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """log Gamma(x | alpha = e^k, rate = alpha/x) = alpha log alpha - alpha - lgamma(alpha) - log x.

    Written with the Stirling remainder: = k/2 - log(2 pi)/2 - log x - tail(alpha).
    """
    k = np.asarray(k, dtype=np.float64)
    alpha = np.exp(np.minimum(k, 700.0))
    tail = np.where(k > 700.0, 0.0, _lgamma_ratio_tail(alpha))
    return 0.5 * k - HALF_LOG_2PI - np.log(np.asarray(x, np.float64)) - tail


def spike_beta(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """log Beta(x | c x, c (1-x)), c = e^k, 0 < x < 1.

    Stirling: = k/2 - log(2 pi x (1-x))/2 - tail(cx) - tail(c(1-x)) + tail(c).
    """
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    c = np.exp(np.minimum(k, 700.0))
    a, b = c * x, c * (1.0 - x)
    tails = _lgamma_ratio_tail(a) + _lgamma_ratio_tail(b) - _lgamma_ratio_tail(c)
    tails = np.where(k > 700.0, 0.0, tails)
    return 0.5 * k - 0.5 * np.log(2.0 * math.pi * x * (1.0 - x)) - tails


def spike_vonmises(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """log VonMises(x | x, kappa = e^k) = kappa - log(2 pi I0(kappa)) = -log(2 pi i0e(kappa)).

    For kappa > 1e8 the asymptotic form k/2 - log(2 pi)/2 - 1/(8 kappa) is used
    (i0e(kappa) = (2 pi kappa)^(-1/2) (1 + 1/(8 kappa) + ...)).
    """
    k = np.asarray(k, dtype=np.float64) + 0.0 * np.asarray(x)
    kappa = np.exp(np.minimum(k, 700.0))
    direct = -np.log(2.0 * math.pi * special.i0e(np.minimum(kappa, 1e8)))
    asym = 0.5 * k - HALF_LOG_2PI - 1.0 / (8.0 * kappa)
    return np.where(kappa > 1e8, asym, direct)


def spike_cb_boundary(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """log CB(x | eta = -e^k) at x = 0 (and eta = +e^k at x = 1) = k - log(1 - e^{-e^k}).

    This equals log C(lam) + log(1 - lam) ~ log log(1/lam): one nat per unit k.
    """
    k = np.asarray(k, dtype=np.float64) + 0.0 * np.asarray(x)
    e = np.exp(np.minimum(k, 700.0))
    return k - np.log(-np.expm1(-e))


# ----------------------------------------------------------------------------------------
# log densities in log-scale parameters, and the witness sequences they are evaluated along
# ----------------------------------------------------------------------------------------

#: sequence indices at which a witness's log density is evaluated for the verdict; float64
#: evaluates every density below exactly enough there (the concentration families cancel
#: terms of size e^k, so k stays <= 21: about 1e-6 nats of roundoff at k = 21)
K_FIT = (6.0, 9.0, 12.0, 15.0, 18.0, 21.0)


def log_location_scale(
    name: str, x: np.ndarray, loc: np.ndarray, log_scale: np.ndarray, df: float = 3.0
) -> np.ndarray:
    """log f((x - loc)/s) - log s for the standard density f of ``name`` (s = e^log_scale).

    normal: f(z) = e^{-z^2/2}/sqrt(2 pi); laplace: e^{-|z|}/2; logistic: e^{-z}/(1+e^{-z})^2;
    studentt: Gamma((df+1)/2)/(Gamma(df/2) sqrt(df pi)) (1 + z^2/df)^{-(df+1)/2}.
    """
    z = (np.asarray(x, np.float64) - loc) * np.exp(-np.asarray(log_scale, np.float64))
    if name == "normal":
        lf = -0.5 * z * z - HALF_LOG_2PI
    elif name == "laplace":
        lf = -np.abs(z) - math.log(2.0)
    elif name == "logistic":
        lf = -np.abs(z) - 2.0 * np.log1p(np.exp(-np.abs(z)))
    elif name == "studentt":
        lf = studentt_peak(df) - 0.5 * (df + 1.0) * np.log1p(z * z / df)
    else:
        raise ValueError(f"no location-scale density {name!r}")
    returned: np.ndarray = lf - log_scale
    return returned


def log_lognormal(x: np.ndarray, mu: np.ndarray, log_sigma: np.ndarray) -> np.ndarray:
    """log LogNormal(x | mu, sigma) = log N(log x | mu, sigma) - log x (x > 0)."""
    x = np.asarray(x, np.float64)
    returned: np.ndarray = log_location_scale("normal", np.log(x), mu, log_sigma) - np.log(x)
    return returned


def log_gamma_density(x: np.ndarray, log_alpha: np.ndarray, log_rate: np.ndarray) -> np.ndarray:
    """(alpha - 1) log x + alpha log(rate) - lgamma(alpha) - rate x (x >= 0; +inf at x = 0
    when alpha < 1)."""
    x = np.asarray(x, np.float64)
    a, lb = np.exp(np.asarray(log_alpha, np.float64)), np.asarray(log_rate, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        returned: np.ndarray = (a - 1.0) * np.log(x) + a * lb - special.gammaln(a) - np.exp(lb) * x
        return returned


def log_beta_density(x: np.ndarray, log_a: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """(a - 1) log x + (b - 1) log(1 - x) - log B(a, b) (0 <= x <= 1; +inf at an endpoint
    whose concentration is < 1)."""
    x = np.asarray(x, np.float64)
    a, b = np.exp(np.asarray(log_a, np.float64)), np.exp(np.asarray(log_b, np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        returned: np.ndarray = (
            (a - 1.0) * np.log(x) + (b - 1.0) * np.log1p(-x) - special.betaln(a, b)
        )
        return returned


def log_vonmises(x: np.ndarray, loc: np.ndarray, log_kappa: np.ndarray) -> np.ndarray:
    """kappa cos(x - loc) - log(2 pi I0(kappa)), with I0 = i0e(kappa) e^kappa (DLMF 10.25.2)."""
    kappa = np.exp(np.asarray(log_kappa, np.float64))
    returned: np.ndarray = kappa * (np.cos(np.asarray(x, np.float64) - loc) - 1.0) - np.log(
        2.0 * math.pi * special.i0e(kappa)
    )
    return returned


def witness_log_density(name: str, x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The family's log density (the general formulas above, not a formula of k) at the
    witness parameters theta(k) of docs/claims.md#f1 / #f2 / #f3:

    * location-scale (normal, laplace, studentt, logistic, global_logvar_gaussian):
      loc = x, scale = e^-k;
    * lognormal: mu = log x, sigma = e^-k; gamma: alpha = e^k, rate = alpha / x;
    * beta: a = e^k x, b = e^k (1 - x); vonmises: loc = x, kappa = e^k;
    * continuous_bernoulli at x = 0 (x = 1): natural parameter eta = -e^k (+e^k).
    """
    x = np.asarray(x, np.float64)
    k = np.asarray(k, np.float64)
    if name in ("normal", "laplace", "studentt", "logistic"):
        return log_location_scale(name, x, x, -k)
    if name == "global_logvar_gaussian":
        return log_location_scale("normal", x, x, -k)
    if name == "lognormal":
        return log_lognormal(x, np.log(x), -k)
    if name == "gamma":
        return log_gamma_density(x, k, k - np.log(x))
    if name == "beta":
        return log_beta_density(x, k + np.log(x), k + np.log1p(-x))
    if name == "vonmises":
        return log_vonmises(x, x, k)
    if name == "continuous_bernoulli":
        # eta = +-e^k towards the nearer endpoint; in log space so k > 709 stays finite:
        # eta x - A(eta) = -e^k d + k - log(1 - e^{-e^k}), d = distance to that endpoint
        d = np.where(x >= 0.5, 1.0 - x, x)
        with np.errstate(over="ignore"):
            e = np.exp(k)
        returned: np.ndarray = (
            np.where(d > 0, -e * np.where(d > 0, d, 1.0), 0.0) + k - np.log(-np.expm1(-e))
        )
        return returned
    raise ValueError(f"no witness sequence for {name!r}")


# ----------------------------------------------------------------------------------------
# exact log densities for bounded families (used by properties and evidence)
# ----------------------------------------------------------------------------------------


def log_bernoulli(x: np.ndarray, logit: np.ndarray) -> np.ndarray:
    """x log sigmoid(l) + (1-x) log sigmoid(-l) = -BCE(l, x), via log_expit."""
    returned: np.ndarray = x * special.log_expit(logit) + (1.0 - x) * special.log_expit(-logit)
    return returned


def _log_diff_exp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(e^a - e^b) for a >= b (-inf when equal)."""
    with np.errstate(divide="ignore"):
        returned: np.ndarray = a + np.log(-np.expm1(np.minimum(b - a, 0.0)))
        return returned


def log_discretized_gaussian(
    x: np.ndarray, loc: np.ndarray, log_scale: np.ndarray, bins: int = 256
) -> np.ndarray:
    """log P(bin of x) = log(Phi((x+h/2-mu)/s) - Phi((x-h/2-mu)/s)), h = 1/(bins-1).

    Edge bins (x = 0, x = 1) extend to -inf / +inf (PixelCNN++ convention).  Uses log_ndtr
    and the symmetry Phi(a) - Phi(b) = Phi(-b) - Phi(-a) to stay in the accurate tail.
    """
    h = 1.0 / (bins - 1)
    s = np.exp(log_scale)
    hi = np.where(x >= 1.0, np.inf, (x + h / 2 - loc) / s)
    lo = np.where(x <= 0.0, -np.inf, (x - h / 2 - loc) / s)
    right = lo > 0  # both in the upper tail: use the mirrored form
    a = np.where(right, special.log_ndtr(-lo), special.log_ndtr(hi))
    b = np.where(right, special.log_ndtr(-hi), special.log_ndtr(lo))
    return _log_diff_exp(a, b)


def log_discretized_logistic(
    x: np.ndarray, loc: np.ndarray, log_scale: np.ndarray, bins: int = 256
) -> np.ndarray:
    """log(sigmoid((x+h/2-mu)/s) - sigmoid((x-h/2-mu)/s)) with edge bins open (PixelCNN++)."""
    h = 1.0 / (bins - 1)
    s = np.exp(log_scale)
    hi = np.where(x >= 1.0, np.inf, (x + h / 2 - loc) / s)
    lo = np.where(x <= 0.0, -np.inf, (x - h / 2 - loc) / s)
    right = lo > 0
    a = np.where(right, special.log_expit(-lo), special.log_expit(hi))
    b = np.where(right, special.log_expit(-hi), special.log_expit(lo))
    return _log_diff_exp(a, b)


def log_softclip_gaussian(x: np.ndarray, loc: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """log N(x | loc, sigma), log sigma = -6 + softplus(raw + 6) (sigma-VAE softclip).

    ``log sigma`` comes from the library's own policy
    (:class:`~wellposed.models.variance.SoftClip`, raw head ``2 raw``), so the F6 bound
    and its tightness are checked on the code a decoder runs, not on a copy of it."""
    raw2 = torch.as_tensor(2.0 * np.asarray(raw, dtype=np.float64))
    log_sigma = 0.5 * SoftClip()(raw2).numpy()
    z = (x - loc) * np.exp(-log_sigma)
    returned: np.ndarray = -0.5 * z * z - log_sigma - HALF_LOG_2PI
    return returned


def log_studentt_floor(
    x: np.ndarray, loc: np.ndarray, raw_scale: np.ndarray, raw_df: np.ndarray
) -> np.ndarray:
    """MIWAE Student-t: scale = 1e-3 + softplus(raw_scale), df = 3 + softplus(raw_df)."""
    scale = STUDENTT_SCALE_FLOOR + np.logaddexp(0.0, raw_scale)
    df = 3.0 + np.logaddexp(0.0, raw_df)
    z = (x - loc) / scale
    returned: np.ndarray = (
        special.gammaln((df + 1) / 2)
        - special.gammaln(df / 2)
        - 0.5 * np.log(df * math.pi)
        - np.log(scale)
        - (df + 1) / 2 * np.log1p(z * z / df)
    )
    return returned


def log_gaussian_nll_value(
    x: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float = GAUSSIAN_NLL_EPS,
    full: bool = True,
) -> np.ndarray:
    """-GaussianNLLLoss: -(1/2)(log max(var,eps) + r^2/max(var,eps)) - [log(2pi)/2 if full].

    torch's default is ``full=False``, which omits the constant log(2pi)/2."""
    v = np.maximum(var, eps)
    returned: np.ndarray = -0.5 * (np.log(v) + (x - mean) ** 2 / v) - (
        HALF_LOG_2PI if full else 0.0
    )
    return returned
