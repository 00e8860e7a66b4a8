"""The objectives compared by training: App. C.2 networks, one likelihood each, and their bounds.

Every objective uses the same encoder (:class:`~wellposed.models.networks.GaussianMLPEncoder`)
and the same one-hidden-layer tanh decoder trunk (Kingma & Welling, arXiv 1312.6114,
App. C.1 / C.2); only the output likelihood and the data it sees differ:

===========  =====================================================  ======================
name         likelihood (data)                                      bound per point
===========  =====================================================  ======================
learned      Gaussian, learned ``log sigma^2`` per coordinate       none (F1, L6)
shared       Gaussian, one learned scalar ``log sigma^2``           none (L4, L5)
floor        Gaussian, ``sigma^2 = xi + softplus(r)`` (Floor)       -(D/2) log 2pi xi
softclip     Gaussian, sigma-VAE soft-clip ``log sigma >= -6``      D (6 - log 2pi / 2)
fixed        Gaussian, ``sigma^2 = 1`` (squared error, S2)          -(D/2) log 2pi
bernoulli    Bernoulli on data binarised at 1/2 (App. C.1)          empirical (S5)
cbernoulli   continuous Bernoulli on ``[0, 1]`` data                none at 0 / 1 (F3)
dlogistic    discretised logistic, bins of width 1/L                empirical (F5)
dequantised  Gaussian, learned variance, ``y = (k + u) / (L + 1)``  empirical + D log(L+1)
===========  =====================================================  ======================

"empirical" is ``sum_u n_u log(n_u / n) / n`` over the distinct training rows: no
distribution on a discrete set gives a data set more likelihood than its empirical
distribution (:func:`wellposed.lines.exact.bernoulli_bound`; docs/claims.md, S5 / L3); the
dequantised Gaussian adds ``-D log h`` with bin width ``h = 1/(L+1)`` (Jensen:
``E_u log p(y) <= log(P(k) / h)``, Theis et al. 2016).  Densities are in log space and work
in float32 (training) and float64 (evaluation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from wellposed.errors import WellposedInputError
from wellposed.lines.exact import bernoulli_bound
from wellposed.models.densities import bernoulli_log_prob, gaussian_log_prob, gaussian_supremum
from wellposed.models.networks import (
    BernoulliMLPDecoder,
    GaussianMLPDecoder,
    GaussianMLPEncoder,
    prior_log_prob,
)
from wellposed.models.variance import Fixed, Floor, Learned, SoftClip, VariancePolicy
from wellposed.training.data import TrainingData

__all__ = [
    "FLOOR_XI",
    "OBJECTIVES",
    "Objective",
    "TrainingModel",
    "continuous_bernoulli_log_prob",
    "discretised_logistic_log_prob",
    "objective",
]

#: the floor objective's ``xi``: ``(1/16)^2``, the squared grid step of digits / 16
FLOOR_XI = 1.0 / 256.0


@dataclass(frozen=True)
class Objective:
    """One objective: its likelihood, variance policy (Gaussian) and the data it needs."""

    name: str
    title: str
    likelihood: str  # gaussian | bernoulli | cbernoulli | dlogistic
    policy: VariancePolicy | None = None
    shared: bool = False  # one learned scalar log sigma^2
    binarise: bool = False
    dequantise: bool = False

    @property
    def needs_levels(self) -> bool:
        return self.likelihood == "dlogistic" or self.dequantise

    @property
    def needs_unit_interval(self) -> bool:
        return self.likelihood in ("bernoulli", "cbernoulli")

    def check(self, data: TrainingData) -> None:
        """WellposedInputError when ``data`` cannot feed this objective (says what to do)."""
        if self.needs_levels and data.levels is None:
            raise WellposedInputError(
                f"objective {self.name!r} needs quantised data (integers 0..255 in the .npy "
                f"file); {data.name} is continuous: drop {self.name} from --objectives"
            )
        if self.needs_unit_interval and not data.in_unit_interval:
            raise WellposedInputError(
                f"objective {self.name!r} needs data in [0, 1]; {data.name} has values "
                f"outside it: rescale the data or drop {self.name} from --objectives"
            )

    def prepare(
        self, x: torch.Tensor, levels: int | None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The data as this objective sees it: binarised at 1/2, dequantised with fresh
        uniform noise from ``generator`` (``y = (k + u) / (L + 1)``), or unchanged."""
        if self.binarise:
            return (x >= 0.5).to(x.dtype)
        if self.dequantise:
            assert levels is not None
            u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            return (torch.round(x * levels) + u) / (levels + 1)
        return x

    def bound_per_point(self, data: TrainingData) -> float | None:
        """The analytic upper bound on the objective per training point (None: unbounded)."""
        D = data.dim
        if self.likelihood == "gaussian" and not self.dequantise:
            floor = None if self.policy is None or self.shared else self.policy.log_var_floor
            return None if floor is None else gaussian_supremum(D, floor)
        if self.likelihood == "cbernoulli":
            both = np.concatenate([data.train, data.held_out])
            return None if np.any((both == 0.0) | (both == 1.0)) else math.nan
        rows = data.train >= 0.5 if self.binarise else np.round(data.train * (data.levels or 1))
        empirical = bernoulli_bound(rows) / len(rows)
        if self.dequantise:
            return empirical + D * math.log((data.levels or 0) + 1)
        return empirical


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("learned", "learned per-coordinate variance", "gaussian", Learned()),
        Objective("shared", "learned shared scalar variance", "gaussian", Learned(), shared=True),
        Objective("floor", "floor xi = 1/256", "gaussian", Floor(FLOOR_XI)),
        Objective("softclip", "sigma-VAE soft-clip (log sigma >= -6)", "gaussian", SoftClip(-6.0)),
        Objective("fixed", "fixed sigma^2 = 1", "gaussian", Fixed(1.0)),
        Objective("bernoulli", "Bernoulli on binarised data", "bernoulli", binarise=True),
        Objective("cbernoulli", "continuous Bernoulli", "cbernoulli"),
        Objective("dlogistic", "discretised logistic", "dlogistic"),
        Objective(
            "dequantised", "Gaussian on dequantised data", "gaussian", Learned(), dequantise=True
        ),
    )
}


def objective(name: str) -> Objective:
    """The objective called ``name`` (WellposedInputError naming the choices otherwise)."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise WellposedInputError(
            f"unknown objective {name!r}; choose from {', '.join(OBJECTIVES)}"
        ) from None


def continuous_bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``log CB(x | lam) = x log lam + (1-x) log(1-lam) + log C(lam)``, ``lam = sigmoid(l)``.

    ``C(lam) = 2 atanh(1 - 2 lam) / (1 - 2 lam) = l / tanh(l / 2)`` (Loaiza-Ganem &
    Cunningham 2019; docs/claims.md, F3); near ``l = 0`` the series ``2 (1 + l^2 / 12)``.
    """
    small = logits.abs() < 1e-3
    safe = torch.where(small, torch.ones_like(logits), logits)
    log_c = torch.where(
        small,
        math.log(2.0) + torch.log1p(logits * logits / 12.0),
        torch.log(safe.abs()) - torch.log(torch.tanh(safe.abs() / 2.0)),
    )
    return bernoulli_log_prob(x, logits) + log_c


def discretised_logistic_log_prob(
    x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, levels: int
) -> torch.Tensor:
    """Bin mass of a logistic ``(mean, e^log_scale)`` on the bin of ``x = k / L`` (width 1/L;
    the end bins reach to -inf and +inf), in log space: with ``a, b`` the standardised upper
    and lower edges, ``sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - e^{b - a})``
    (docs/claims.md, F5: every value ``<= 0``)."""
    inv = torch.exp(-log_scale)
    half = 0.5 / levels
    a = (x + half - mean) * inv
    b = (x - half - mean) * inv
    logsig = torch.nn.functional.logsigmoid
    middle = logsig(a) + logsig(-b) + torch.log(-torch.expm1(b - a))
    low = x <= half / 2
    high = x >= 1.0 - half / 2
    return torch.where(low, logsig(a), torch.where(high, logsig(-b), middle))


class TrainingModel(nn.Module):
    """Encoder + decoder of one :class:`Objective` (the project's App. C.1 / C.2 networks).

    ``encoder`` is a :class:`GaussianMLPEncoder`; ``decoder`` a :class:`GaussianMLPDecoder`
    with the objective's variance policy (Gaussian, and the discretised logistic, whose
    variance head is ``2 log scale``) or a :class:`BernoulliMLPDecoder`; ``shared_log_var``
    is the shared objective's learned scalar ``log sigma^2``.
    """

    def __init__(
        self,
        obj: Objective,
        data_dim: int,
        *,
        latent_dim: int = 5,
        hidden: int = 200,
        seed: int = 0,
        levels: int | None = None,
    ) -> None:
        super().__init__()
        self.objective = obj
        self.levels = levels
        self.encoder = GaussianMLPEncoder(data_dim, hidden, latent_dim, seed=seed)
        self.decoder: GaussianMLPDecoder | BernoulliMLPDecoder
        if obj.likelihood in ("bernoulli", "cbernoulli"):
            self.decoder = BernoulliMLPDecoder(latent_dim, hidden, data_dim, seed=seed)
        else:
            self.decoder = GaussianMLPDecoder(
                latent_dim, hidden, data_dim, obj.policy or Learned(), seed=seed
            )
        self.shared_log_var = nn.Parameter(
            torch.zeros((), dtype=torch.float64), requires_grad=obj.shared
        )

    def heads(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(mean or logits, log sigma^2 or None)`` at latents ``t``."""
        if isinstance(self.decoder, BernoulliMLPDecoder):
            return self.decoder(t), None
        mean, log_var = self.decoder(t)
        if self.objective.shared:
            log_var = self.shared_log_var.expand(mean.shape)
        return mean, log_var

    def log_lik_coords(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``log p(x_j | t)`` per coordinate; ``x`` as :meth:`Objective.prepare` returns it,
        ``t`` of shape ``(..., n, d)``; result ``(..., n, D)``."""
        out, log_var = self.heads(t)
        kind = self.objective.likelihood
        if kind == "bernoulli":
            return bernoulli_log_prob(x, out)
        if kind == "cbernoulli":
            return continuous_bernoulli_log_prob(x, out)
        assert log_var is not None
        if kind == "dlogistic":
            assert self.levels is not None
            return discretised_logistic_log_prob(x, out, 0.5 * log_var, self.levels)
        return gaussian_log_prob(x, out, log_var)

    def log_lik(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``log p(x | t)`` summed over coordinates, ``(..., n)``."""
        return self.log_lik_coords(x, t).sum(-1)

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The decoder's mean in data units (``sigmoid(logits)`` for the Bernoulli ones; the
        dequantised objective's ``(L + 1) mu - 1/2`` grid value divided by ``L``)."""
        out, _ = self.heads(t)
        if self.objective.likelihood in ("bernoulli", "cbernoulli"):
            return torch.sigmoid(out)
        if self.objective.dequantise and self.levels:
            return ((self.levels + 1) * out - 0.5) / self.levels
        return out

    def encode(self, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(t, KL(q || N(0, I)))``: latents ``t = m + e^{lv/2} eps`` (``eps`` of shape
        ``(S, n, d)``) and the closed-form KL per point (docs/design.md)."""
        m, lv = self.encoder(x)
        t = m + torch.exp(0.5 * lv) * eps
        kl = 0.5 * (torch.exp(lv) + m * m - 1.0 - lv).sum(-1)
        return t, kl

    def elbo_terms(self, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(log p(x | t), KL(q || N(0, I)))`` per point for ``t = m + e^{lv/2} eps``."""
        t, kl = self.encode(x, eps)
        return self.log_lik(x, t), kl

    def elbo(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The objective training maximises, per point: ``mean_s log p(x | t_s) - KL`` over
        the ``S`` draws of ``eps`` (``(S, n, d)``; training uses ``S = 1``)."""
        ll, kl = self.elbo_terms(x, eps)
        out: torch.Tensor = ll.mean(0) - kl
        return out

    def iwae_log_weights(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """``log p(x | t_k) + log p(t_k) - log q(t_k | x)`` for ``K`` draws, ``(K, n)``."""
        m, lv = self.encoder(x)
        t = m + torch.exp(0.5 * lv) * eps
        log_q = -0.5 * (eps * eps + lv + math.log(2.0 * math.pi)).sum(-1)
        out: torch.Tensor = self.log_lik(x, t) + prior_log_prob(t) - log_q
        return out
