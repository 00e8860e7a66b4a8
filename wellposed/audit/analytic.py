"""Closed-form per-observation suprema of log p(x | params) for the built-in families.

Every function here answers, for one scalar observation x, whether
``sup_params log p(x | params)`` is finite (docs/claims.md#f1 to #f6), with the verdict words
of :mod:`wellposed.evidence.decide`: ``"unbounded"``, ``"bounded"`` (and ``"inconclusive"``,
used by the numerical search).

All formulas are float64 and written in log space as functions of the *sequence index* k
(k = log(1/scale) for scale families, k = log(concentration) for concentration families,
k = log|logit| for the continuous Bernoulli), so that they stay finite for k up to 1e6 and
beyond (no exp(k) is ever formed where it could overflow).  :func:`fmt_number` is the one
display format of the audit's text (tables, reasons); JSON goes through
:func:`wellposed.evidence.records.jsonable`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from wellposed.evidence.decide import BOUNDED, UNBOUNDED
from wellposed.numerics import HALF_LOG_2PI

__all__ = [
    "ANALYTIC", "GAUSSIAN_NLL_BOUND", "GAUSSIAN_NLL_EPS", "SOFTCLIP_BOUND", "SOFTCLIP_MIN",
    "STUDENTT_FLOOR_BOUND", "STUDENTT_SCALE_FLOOR", "AnalyticFamily", "ScalarVerdict",
    "analytic_verdicts", "binary_entropy", "builtin_families", "cb_log_normalizer",
    "cb_log_prob", "cb_sup_interior", "fmt_number", "log_bernoulli", "log_discretized_gaussian",
    "log_discretized_logistic", "log_gaussian_nll_value", "log_softclip_gaussian",
    "log_studentt_floor", "spike_beta", "spike_cb_boundary", "spike_gamma", "spike_laplace",
    "spike_logistic", "spike_lognormal", "spike_normal", "spike_studentt", "spike_vonmises",
    "studentt_peak",
]

#: sigma-VAE softclip floor: log sigma >= -6 (Rybkin et al. 2021, arXiv 2006.13202, code).
SOFTCLIP_MIN = -6.0
#: MIWAE Student-t scale floor (Mattei & Frellsen 2019, code: 0.001 + softplus).
STUDENTT_SCALE_FLOOR = 1e-3
#: torch.nn.GaussianNLLLoss default eps.
GAUSSIAN_NLL_EPS = 1e-6


@dataclass(frozen=True)
class ScalarVerdict:
    """Verdict for one scalar observation (one coordinate)."""

    verdict: str  # UNBOUNDED | BOUNDED | INCONCLUSIVE
    rate: float | None = None  # growth of log p per unit of `rate_unit`
    rate_unit: str = ""
    bound: float | None = None  # sup log p (may be -inf outside the support)
    attained: bool | None = None
    reason: str = ""


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
    pos = (eta >= 1e-4)
    neg = (eta <= -1e-4)
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
    return eta * x - cb_log_normalizer(eta)


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
    return -(special.xlogy(x, x) + special.xlogy(1.0 - x, 1.0 - x))


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
# per-family analytic verdicts (vectorised over scalar observations)
# ----------------------------------------------------------------------------------------

VerdictFn = Callable[[float], ScalarVerdict]


def _outside(support: str) -> ScalarVerdict:
    return ScalarVerdict(
        BOUNDED, bound=-math.inf, attained=True,
        reason=f"x outside the support {support}: the density is 0 for every parameter",
    )


def _f1(rate_unit: str, name: str) -> VerdictFn:
    def fn(x: float) -> ScalarVerdict:
        return ScalarVerdict(
            UNBOUNDED, rate=1.0, rate_unit=rate_unit,
            reason=f"{name}: location = x, scale -> 0 gives log p = log(1/scale) + const",
        )
    return fn


def _lognormal(x: float) -> ScalarVerdict:
    if x <= 0:
        return _outside("(0, inf)")
    return ScalarVerdict(UNBOUNDED, rate=1.0, rate_unit="log(1/sigma)",
                         reason="mu = log x, sigma -> 0: log p = log(1/sigma) - log x - log(2pi)/2")


def _gamma(x: float) -> ScalarVerdict:
    if x < 0:
        return _outside("[0, inf)")
    if x == 0:
        return ScalarVerdict(UNBOUNDED, reason="x = 0: x^(alpha-1) = +inf for alpha < 1 "
                             "(and p(0) = rate for alpha = 1, rate -> inf)")
    return ScalarVerdict(UNBOUNDED, rate=0.5, rate_unit="log(concentration)",
                         reason="rate = alpha/x, alpha -> inf: log p = (1/2) log alpha "
                         "- log(2 pi)/2 - log x + O(1/alpha) (Stirling)")


def _beta(x: float) -> ScalarVerdict:
    if x < 0 or x > 1:
        return _outside("[0, 1]")
    if x in (0.0, 1.0):
        return ScalarVerdict(UNBOUNDED, reason=f"x = {fmt_number(x)}: the density is +inf at "
                             "the boundary when the matching concentration is < 1")
    return ScalarVerdict(UNBOUNDED, rate=0.5, rate_unit="log(concentration)",
                         reason="a = c x, b = c (1-x), c -> inf: log p = (1/2) log c "
                         "- log(2 pi x (1-x))/2 + O(1/c) (Stirling)")


def _vonmises(x: float) -> ScalarVerdict:
    return ScalarVerdict(UNBOUNDED, rate=0.5, rate_unit="log(concentration)",
                         reason="loc = x, kappa -> inf: log p = kappa - log(2 pi I0(kappa)) "
                         "= (1/2) log kappa - log(2 pi)/2 + O(1/kappa)")


def _cb(x: float) -> ScalarVerdict:
    if x < 0 or x > 1:
        return _outside("[0, 1]")
    if x in (0.0, 1.0):
        return ScalarVerdict(
            UNBOUNDED, rate=1.0, rate_unit="log|logit(lam)| ~ log log(1/lam)",
            reason=f"x = {fmt_number(x)}: log p = log|eta| - log(1 - e^-|eta|), eta = logit "
            f"lam -> {'-' if x == 0 else '+'}inf; C(lam) ~ log(1/lam), so log p ~ log log(1/lam): "
            "unbounded but extremely slow",
        )
    sup, eta = cb_sup_interior(np.array([x]))
    return ScalarVerdict(BOUNDED, bound=float(sup[0]), attained=True,
                         reason=f"log p = eta x - A(eta) is concave in eta; max at mean(eta) = x, "
                         f"eta* = {fmt_number(float(eta[0]))}")


def _bernoulli(x: float) -> ScalarVerdict:
    if x > 1 or x < 0:
        slope = x - 1.0 if x > 1 else -x
        return ScalarVerdict(UNBOUNDED, rate=slope, rate_unit="|logit|",
                             reason="x outside [0, 1]: the BCE formula x log p + (1-x) log(1-p) "
                             f"grows like {fmt_number(slope)} |logit| (not a likelihood; data "
                             "not in [0,1])")
    h = float(binary_entropy(np.array([x]))[0])
    binary = x in (0.0, 1.0)
    return ScalarVerdict(BOUNDED, bound=-h, attained=not binary,
                         reason="x log p + (1-x) log(1-p) <= -H(x), max at p = x"
                         + (" (approached as logit -> +-inf, not attained)" if binary else ""))


def _discretized(name: str) -> VerdictFn:
    def fn(x: float) -> ScalarVerdict:
        return ScalarVerdict(BOUNDED, bound=0.0, attained=False,
                             reason=f"{name}: log of a bin probability mass, <= 0 for every "
                             "parameter; approached as scale -> 0 with the mean in the bin")
    return fn


def _floor(bound: float, reason: str, attained: bool) -> VerdictFn:
    def fn(x: float) -> ScalarVerdict:
        return ScalarVerdict(BOUNDED, bound=bound, attained=attained, reason=reason)
    return fn


SOFTCLIP_BOUND = -SOFTCLIP_MIN - HALF_LOG_2PI
STUDENTT_FLOOR_BOUND = -math.log(STUDENTT_SCALE_FLOOR) - HALF_LOG_2PI
GAUSSIAN_NLL_BOUND = -0.5 * math.log(GAUSSIAN_NLL_EPS) - HALF_LOG_2PI


@dataclass(frozen=True)
class AnalyticFamily:
    """One built-in family: parameters, claim id, per-x verdict, spike sequence."""

    name: str
    parameters: str
    claim: str
    verdict: VerdictFn
    spike: Callable[[np.ndarray, np.ndarray], np.ndarray] | None
    torch_class: str | None
    source: str


ANALYTIC: dict[str, AnalyticFamily] = {
    f.name: f
    for f in [
        AnalyticFamily("normal", "loc real, scale > 0", "F1", _f1("log(1/scale)", "Normal"),
                       spike_normal, "Normal", "docs/claims.md#f1 (derived)"),
        AnalyticFamily("laplace", "loc real, scale > 0", "F1", _f1("log(1/scale)", "Laplace"),
                       spike_laplace, "Laplace", "docs/claims.md#f1 (derived)"),
        AnalyticFamily("studentt", "df > 0, loc real, scale > 0", "F1",
                       _f1("log(1/scale)", "Student-t"), spike_studentt, "StudentT",
                       "docs/claims.md#f1 (derived)"),
        AnalyticFamily("logistic", "loc real, scale > 0", "F1", _f1("log(1/scale)", "Logistic"),
                       spike_logistic, None, "docs/claims.md#f1 (derived)"),
        AnalyticFamily("lognormal", "loc real, scale > 0", "F2", _lognormal, spike_lognormal,
                       "LogNormal", "docs/claims.md#f2 (derived)"),
        AnalyticFamily("gamma", "concentration > 0, rate > 0", "F2", _gamma, spike_gamma,
                       "Gamma", "docs/claims.md#f2 (derived; Stirling, DLMF 5.11.1)"),
        AnalyticFamily("beta", "concentration1 > 0, concentration0 > 0", "F2", _beta,
                       spike_beta, "Beta",
                       "docs/claims.md#f2 (derived; Stirling, DLMF 5.11.1)"),
        AnalyticFamily("vonmises", "loc real, concentration > 0", "F2", _vonmises,
                       spike_vonmises, "VonMises", "docs/claims.md#f2 (derived; DLMF 10.40.1)"),
        AnalyticFamily("continuous_bernoulli", "lam in (0, 1) (logit eta real)", "F3", _cb,
                       spike_cb_boundary, "ContinuousBernoulli",
                       "Loaiza-Ganem & Cunningham 2019 (arXiv 1907.06845); docs/claims.md#f3"),
        AnalyticFamily("bernoulli", "p in (0, 1) (logit real); BCE on [0,1] data", "F4",
                       _bernoulli, None, "Bernoulli", "docs/claims.md#f4 (Gibbs' inequality)"),
        AnalyticFamily("discretized_gaussian", "loc real, scale > 0; 256 bins on [0,1]", "F5",
                       _discretized("discretized Gaussian"), None, None,
                       "docs/claims.md#f5; Salimans et al. 2017 (PixelCNN++) bins"),
        AnalyticFamily("discretized_logistic", "loc real, scale > 0; 256 bins on [0,1]", "F5",
                       _discretized("discretized logistic"), None, None,
                       "docs/claims.md#f5; Salimans et al. 2017 (PixelCNN++)"),
        AnalyticFamily("softclip_gaussian", "loc real, log sigma = -6 + softplus(raw + 6)", "F6",
                       _floor(SOFTCLIP_BOUND, "sigma >= e^-6, so log N <= 6 - log(2pi)/2; "
                              "approached as raw -> -inf", False), None, None,
                       "sigma-VAE (Rybkin et al. 2021, arXiv 2006.13202) softclip"),
        AnalyticFamily("studentt_floor", "df = 3 + softplus, loc real, scale = 1e-3 + softplus",
                       "F6", _floor(STUDENTT_FLOOR_BOUND, "peak density of t_df increases to "
                                    "the Gaussian's 1/sqrt(2 pi) as df -> inf; scale >= 1e-3: "
                                    "log p <= -log(1e-3) - log(2pi)/2; approached, not attained",
                                    False), None, "StudentT",
                       "MIWAE (Mattei & Frellsen 2019, arXiv 1812.02633) code"),
        AnalyticFamily("gaussian_nll_loss", "input real, var > 0 clamped at eps = 1e-6", "F6",
                       _floor(GAUSSIAN_NLL_BOUND, "value uses max(var, eps): -loss(full=True) <= "
                              "-(1/2) log eps - log(2pi)/2, attained for every var <= eps", True),
                       None, None, "torch.nn.GaussianNLLLoss (eps=1e-6)"),
        AnalyticFamily("global_logvar_gaussian", "loc real per output, one shared logvar", "F6",
                       _f1("log(1/sigma) (= -logvar/2)", "Gaussian with one learned logvar"),
                       spike_normal, None,
                       "latent-diffusion autoencoder loss (Rombach et al. 2022); "
                       "docs/claims.md#l4"),
    ]
}


def analytic_verdicts(name: str, values: np.ndarray) -> list[ScalarVerdict]:
    """Analytic verdict for each scalar value (values: 1-D float64 array of unique values)."""
    fam = ANALYTIC[name]
    return [fam.verdict(float(v)) for v in values]


# ----------------------------------------------------------------------------------------
# exact log densities for bounded families (used by properties and evidence)
# ----------------------------------------------------------------------------------------


def log_bernoulli(x: np.ndarray, logit: np.ndarray) -> np.ndarray:
    """x log sigmoid(l) + (1-x) log sigmoid(-l) = -BCE(l, x), via log_expit."""
    return x * special.log_expit(logit) + (1.0 - x) * special.log_expit(-logit)


def _log_diff_exp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(e^a - e^b) for a >= b (-inf when equal)."""
    with np.errstate(divide="ignore"):
        return a + np.log(-np.expm1(np.minimum(b - a, 0.0)))


def log_discretized_gaussian(x: np.ndarray, loc: np.ndarray, log_scale: np.ndarray,
                             bins: int = 256) -> np.ndarray:
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


def log_discretized_logistic(x: np.ndarray, loc: np.ndarray, log_scale: np.ndarray,
                             bins: int = 256) -> np.ndarray:
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
    """log N(x | loc, sigma), log sigma = -6 + softplus(raw + 6) (sigma-VAE softclip)."""
    log_sigma = SOFTCLIP_MIN + np.logaddexp(0.0, raw - SOFTCLIP_MIN)
    z = (x - loc) * np.exp(-log_sigma)
    return -0.5 * z * z - log_sigma - HALF_LOG_2PI


def log_studentt_floor(x: np.ndarray, loc: np.ndarray, raw_scale: np.ndarray,
                       raw_df: np.ndarray) -> np.ndarray:
    """MIWAE Student-t: scale = 1e-3 + softplus(raw_scale), df = 3 + softplus(raw_df)."""
    scale = STUDENTT_SCALE_FLOOR + np.logaddexp(0.0, raw_scale)
    df = 3.0 + np.logaddexp(0.0, raw_df)
    z = (x - loc) / scale
    return (special.gammaln((df + 1) / 2) - special.gammaln(df / 2)
            - 0.5 * np.log(df * math.pi) - np.log(scale)
            - (df + 1) / 2 * np.log1p(z * z / df))


def log_gaussian_nll_value(x: np.ndarray, mean: np.ndarray, var: np.ndarray,
                           eps: float = GAUSSIAN_NLL_EPS) -> np.ndarray:
    """-GaussianNLLLoss(full=True): -(1/2)(log max(var,eps) + r^2/max(var,eps) + log 2pi)."""
    v = np.maximum(var, eps)
    return -0.5 * (np.log(v) + (x - mean) ** 2 / v) - HALF_LOG_2PI


def builtin_families() -> tuple[str, ...]:
    """Names accepted by :func:`~wellposed.audit.audit_family` besides Distribution subclasses."""
    return tuple(ANALYTIC)


def fmt_number(x: float | None, sig: int = 6) -> str:
    """Short display of a number: ``sig`` significant digits, ``"inf"`` / ``"-inf"`` /
    ``"nan"`` spelled as in the JSON, ``""`` for None."""
    if x is None:
        return ""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{sig}g}"
