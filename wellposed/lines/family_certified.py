"""Certified enclosures of the closed forms the family claims F1-F6 rest on (python-flint arb).

Each function encloses one value that :mod:`wellposed.audit.densities` or
:mod:`wellposed.audit.analytic` computes in float64 and a family claim compares with a target
or a bound: the per-coordinate suprema (softclip, Student-t floor, GaussianNLLLoss,
Bernoulli ``-H(x)``, the discretized masses' ``0``, the continuous Bernoulli's interior
supremum) and the spike sequences' values (``k - log(2 pi)/2`` and the like).  Where the
float64 formula drops a Stirling or Bessel remainder, the enclosure carries that remainder's
proven range, so it holds the true value, not the truncated one (docs/design.md, "What
certified means").  :data:`wellposed.lines.certify.FAMILY_MIRRORS` names them for the gate.
"""

from __future__ import annotations

from flint import arb

from wellposed.errors import WellposedInputError
from wellposed.lines.enclosures import Enclosure, log_2pi, refine
from wellposed.lines.enclosures import exactly as _a

__all__ = [
    "bernoulli_sup",
    "cb_interior_sup",
    "discretized_sup",
    "gaussian_nll_sup",
    "softclip_sup",
    "spike",
    "studentt_floor_sup",
]


def softclip_sup(log_sigma_min: float) -> Enclosure:
    """``sup log N(x | mu, sigma) = -log sigma_min - log(2 pi)/2`` with ``log sigma >=
    log_sigma_min`` (the sigma-VAE softclip; docs/claims.md#f6)."""
    return refine(lambda: [-_a(log_sigma_min) - log_2pi() / 2])[0]


def studentt_floor_sup(scale_floor: float) -> Enclosure:
    """``sup log StudentT(x | mu, s, nu) = -log s_floor - log(2 pi)/2``: the peak
    ``lgamma((nu+1)/2) - lgamma(nu/2) - log(nu pi)/2`` rises to ``-log(2 pi)/2`` as
    ``nu -> inf`` (docs/claims.md#f6)."""
    return refine(lambda: [-_a(scale_floor).log() - log_2pi() / 2])[0]


def gaussian_nll_sup(eps: float, full: bool = True) -> Enclosure:
    """``sup -GaussianNLLLoss = -(1/2) log eps [- (1/2) log 2 pi when full]`` (variance
    clamped at ``eps``; torch.nn.GaussianNLLLoss, docs/claims.md#f6)."""
    return refine(lambda: [-_a(eps).log() / 2 - (log_2pi() / 2 if full else arb(0))])[0]


def discretized_sup() -> Enclosure:
    """A bin's log probability mass is at most ``log 1 = 0`` (docs/claims.md#f5)."""
    return Enclosure(0.0, 0.0)


def _xlogx(x: arb) -> arb:
    return arb(0) if x == 0 else x * x.log()


def bernoulli_sup(x: float) -> Enclosure:
    """``sup_p x log p + (1-x) log(1-p) = -H(x) = x log x + (1-x) log(1-x)`` for ``x`` in
    ``[0, 1]`` (``0 log 0 = 0``; docs/claims.md#f4)."""
    if not 0.0 <= x <= 1.0:
        raise WellposedInputError(f"-H(x) needs x in [0, 1], got {x!r}")
    return refine(lambda: [_xlogx(_a(x)) + _xlogx(1 - _a(x))])[0]


def _cb_f(x: arb, eta: arb) -> arb:
    """``log CB(x | eta) = eta x - log((e^eta - 1)/eta)`` (eta != 0)."""
    return eta * x - (eta.expm1() / eta).log()


def _cb_df(x: arb, eta: arb) -> arb:
    """``d/d eta log CB(x | eta) = x - A'(eta)``, ``A'(eta) = 1/(1 - e^-eta) - 1/eta``."""
    return x - (1 / (-(-eta).expm1()) - 1 / eta)


def cb_interior_sup(x: float, eta: float) -> Enclosure:
    """``sup_eta log CB(x | eta)`` for ``x`` in ``(0, 1)`` from a float64 maximiser
    ``eta``: the log density is concave in eta, so with the maximiser proven inside
    ``[eta - d, eta + d]`` (the derivative changes sign there) the supremum lies in
    ``[f(eta), f(eta) + |f'(eta)| d]`` (tangent line above a concave function)."""
    if not 0.0 < x < 1.0 or eta == 0.0:
        raise WellposedInputError(f"the interior supremum needs 0 < x < 1 and eta != 0, got {x!r}")
    d = 1e-6 * max(1.0, abs(eta))

    def compute() -> list[arb]:
        xa, e0 = _a(x), _a(eta)
        if not (_cb_df(xa, e0 - _a(d)) > 0 and _cb_df(xa, e0 + _a(d)) < 0):
            raise ArithmeticError(f"maximiser of log CB(x={x!r}) not proven near eta={eta!r}")
        f0 = _cb_f(xa, e0)
        return [f0, f0 + abs(_cb_df(xa, e0)) * _a(d)]

    at, above = refine(compute)
    return Enclosure(at.lo, above.hi)


def _stirling_tail(a: arb) -> arb:
    """``lgamma(a) - (a - 1/2) log a + a - log(2 pi)/2`` lies in ``[0, 1/(12 a)]``
    (a > 0; Whittaker & Watson 12.33): the ball of that range."""
    return arb("0.5 +/- 0.5") / (12 * a)


def _spike_normalish(name: str, x: arb, k: arb) -> arb:
    """The location-scale and log-normal spikes: ``log p(x | loc x, scale e^-k)``."""
    peak = {
        "normal": -log_2pi() / 2,
        "laplace": -arb(2).log(),
        "studentt": arb(2).lgamma() - arb(1.5).lgamma() - (3 * arb.pi()).log() / 2,
        "logistic": -arb(4).log(),
        "lognormal": -log_2pi() / 2 - x.log(),
    }
    return k + peak[name]


def _spike_ball(name: str, x: arb, k: arb) -> arb:
    """``log p`` along the family's witness at ``x`` and ``k`` (docs/claims.md#f1, #f2)."""
    if name in ("normal", "laplace", "studentt", "logistic", "lognormal"):
        return _spike_normalish(name, x, k)
    c = k.exp()
    if name == "gamma":  # alpha log alpha - alpha - lgamma(alpha) - log x, alpha = e^k
        return k / 2 - log_2pi() / 2 - x.log() - _stirling_tail(c)
    if name == "beta":  # c = e^k, a = c x, b = c (1 - x)
        tails = _stirling_tail(c * x) + _stirling_tail(c * (1 - x)) - _stirling_tail(c)
        return k / 2 - (2 * arb.pi() * x * (1 - x)).log() / 2 - tails
    if name == "vonmises":  # -log(2 pi I0(kappa) e^-kappa), kappa = e^k
        return -log_2pi() - c.bessel_i(0, scaled=True).log()
    if name == "continuous_bernoulli":  # k - log(1 - e^{-e^k}) at x = 0, eta = -e^k
        return k - (-(-c).exp()).log1p()
    raise WellposedInputError(f"no certified spike for family {name!r}")


def spike(name: str, x: float, k: float) -> Enclosure:
    """The spike (witness) value of family ``name`` at ``x`` and ``k``: e.g. ``k - log(2
    pi)/2`` for the normal, ``k/2 - log(2 pi)/2 - log x - tail`` for the gamma
    (:mod:`wellposed.audit.densities`, the ``spike_*`` functions)."""
    return refine(lambda: [_spike_ball(name, _a(x), _a(k))])[0]
