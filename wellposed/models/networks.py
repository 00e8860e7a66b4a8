"""Decoders and encoders with exactly settable weights (float64 torch).

* :class:`GaussianMLPDecoder` / :class:`BernoulliMLPDecoder`: Kingma & Welling
  (arXiv 1312.6114) App. C.2 / C.1 with one tanh hidden layer,
  ``h = tanh(W3 t + b3)``, ``mu = W4 h + b4``, raw variance head ``W5 h + b5`` turned
  into ``log sigma^2`` by a :mod:`~wellposed.models.variance` policy (logits ``W4 h + b4`` for
  the Bernoulli decoder).
* :class:`LinearGaussianDecoder`: ``mu = W t + b``, ``log sigma^2`` a scalar or one per
  coordinate, independent of ``t`` (probabilistic PCA when scalar; L5, L6).
* :class:`GaussianMLPEncoder` (App. C.2) and :class:`TabularEncoder` (one free
  ``(m_i, log s_i^2)`` per data point, what the adversarial constructions use).

Shapes: a latent batch ``t`` of shape ``(..., n, d)`` gives decoder parameters
``(..., n, D)``; ``log_prob(x, t)`` with ``x`` of shape ``(n, D)`` sums over
coordinates and returns ``(..., n)``.  The prior is ``N(0, I_d)``.
"""

from __future__ import annotations

import math
from typing import Self

import torch
from torch import nn

from wellposed.errors import WellposedInputError
from wellposed.models.densities import (
    bernoulli_log_prob,
    gaussian_log_prob,
    gaussian_rows_inplace_,
)
from wellposed.models.validate import DTYPE, as_data, as_param, positive_int
from wellposed.models.variance import Learned, VariancePolicy
from wellposed.numerics import LOG_2PI

_BLOCK_ROWS = 4096  # rows (sample x point pairs) per fused block: one GEMM of (rows, 2D)

__all__ = [
    "BernoulliMLPDecoder",
    "Decoder",
    "GaussianMLPDecoder",
    "GaussianMLPEncoder",
    "LinearGaussianDecoder",
    "TabularEncoder",
    "prior_log_prob",
]


def prior_log_prob(t: torch.Tensor) -> torch.Tensor:
    """``log N(t | 0, I_d)`` summed over the last axis."""
    return -0.5 * (t.shape[-1] * LOG_2PI + (t * t).sum(-1))


def _weights(shape: tuple[int, ...], generator: torch.Generator, scale: float) -> nn.Parameter:
    return nn.Parameter(torch.randn(shape, generator=generator, dtype=DTYPE) * scale)


class _Settable(nn.Module):
    """Mixin: ``set_weights(name=array, ...)`` with shape and finiteness checks."""

    def set_weights(self, **values: object) -> Self:
        params = dict(self.named_parameters())
        for name, value in values.items():
            if name not in params:
                raise WellposedInputError(
                    f"{type(self).__name__} has no weight {name!r}; choose from {sorted(params)}"
                )
            tensor = as_param(value, tuple(params[name].shape), f"{type(self).__name__}.{name}")
            with torch.no_grad():
                params[name].copy_(tensor)
        return self


class Decoder(_Settable):
    """Base of the decoders: what the evaluation lines use of one.

    ``latent_dim`` / ``data_dim`` are the sizes, ``family`` the output family
    (``"gaussian"`` or ``"bernoulli"``), :meth:`log_prob` sums ``log p(x | t)`` over
    coordinates and :meth:`check_data` validates data for this decoder.
    """

    family: str
    latent_dim: int
    data_dim: int

    def log_prob(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def check_data(self, x: object) -> torch.Tensor:
        raise NotImplementedError


class _MLP(Decoder):
    """Shared one-hidden-layer tanh trunk ``h = tanh(W3 t + b3)`` and a mean/logit head."""

    def __init__(self, latent_dim: int, hidden: int, data_dim: int, seed: int) -> None:
        super().__init__()
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        self.hidden = positive_int(hidden, "hidden")
        self.data_dim = positive_int(data_dim, "data_dim")
        g = torch.Generator().manual_seed(int(seed))
        self.W3 = _weights((hidden, latent_dim), g, 1.0 / math.sqrt(latent_dim))
        self.b3 = _weights((hidden,), g, 0.0)
        self.W4 = _weights((data_dim, hidden), g, 1.0 / math.sqrt(hidden))
        self.b4 = _weights((data_dim,), g, 0.0)

    def hidden_units(self, t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(t @ self.W3.T + self.b3)


class GaussianMLPDecoder(_MLP):
    """App. C.2 Gaussian MLP decoder; ``variance`` decides how ``log sigma^2`` is produced."""

    family = "gaussian"

    def __init__(
        self,
        latent_dim: int,
        hidden: int,
        data_dim: int,
        variance: VariancePolicy | None = None,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__(latent_dim, hidden, data_dim, seed)
        self.variance = variance if variance is not None else Learned()
        if not isinstance(self.variance, VariancePolicy):
            raise WellposedInputError(
                "variance must be a wellposed.models.variance policy such as Learned() or "
                "Floor(1e-3)"
            )
        g = torch.Generator().manual_seed(int(seed) + 1)
        self.W5 = _weights((data_dim, hidden), g, 1.0 / math.sqrt(hidden))
        self.b5 = _weights((data_dim,), g, 0.0)

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mu(t), log sigma^2(t))``, each of shape ``(..., D)``."""
        h = self.hidden_units(t)
        mean = h @ self.W4.T + self.b4
        raw = h @ self.W5.T + self.b5
        return mean, self.variance(raw)

    def log_prob(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``log p(x | t) = sum_j log N(x_j | mu_j(t), sigma_j^2(t))``.

        Under autograd this is :func:`~wellposed.models.densities.gaussian_log_prob` on
        :meth:`forward`.  Without autograd (the Monte Carlo line) a fused path computes the
        same value blockwise: one GEMM for both heads (concatenated weights), in-place
        elementwise work (:func:`~wellposed.models.densities.gaussian_rows_inplace_`), and the safe
        path only for rows whose fast value is not finite (e.g. ``log sigma^2 < -1419``).
        """
        if _needs_autograd(self, x, t) or x.ndim != 2 or t.ndim < 2:
            mean, log_var = self(t)
            return gaussian_log_prob(x, mean, log_var).sum(-1)
        return self._log_prob_fused(x, t)

    def _heads(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh (writable) ``(mu, log sigma^2)`` for hidden units ``h`` of shape ``(rows, H)``."""
        D = self.data_dim
        if isinstance(self.variance, Learned):
            out = torch.addmm(torch.cat([self.b4, self.b5]), h, torch.cat([self.W4, self.W5]).T)
            return out[:, :D], out[:, D:]
        mean = torch.addmm(self.b4, h, self.W4.T)
        raw = torch.addmm(self.b5, h, self.W5.T) if self.variance.uses_head else mean
        return mean, self.variance(raw).clone()

    def _log_prob_fused(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n, d = t.shape[-2], t.shape[-1]
        if x.shape[0] not in (1, n):
            return gaussian_log_prob(x, *self(t)).sum(-1)
        lead = t.shape[:-2]
        t3 = t.reshape(-1, n, d)
        out = torch.empty(t3.shape[:2], dtype=t.dtype, device=t.device)
        per_block = max(1, _BLOCK_ROWS // n)
        for s0 in range(0, t3.shape[0], per_block):
            tb = t3[s0 : s0 + per_block].reshape(-1, d)
            h = torch.addmm(self.b3, tb, self.W3.T).tanh_()
            mean, log_var = self._heads(h)
            rows = tb.shape[0] // n
            vals = gaussian_rows_inplace_(x, mean.view(rows, n, -1), log_var.view(rows, n, -1))
            bad = ~torch.isfinite(vals)
            if bad.any():  # recompute with the safe path (exact at any log sigma^2)
                idx = bad.nonzero(as_tuple=True)
                safe_mean, safe_lv = self(t3[s0 : s0 + per_block][idx])
                xs = x[idx[1]] if x.shape[0] == n else x
                vals[idx] = gaussian_log_prob(xs, safe_mean, safe_lv).sum(-1)
            out[s0 : s0 + per_block] = vals
        return out.reshape(*lead, n)

    def check_data(self, x: object) -> torch.Tensor:
        return as_data(x, self.data_dim)


def _needs_autograd(module: nn.Module, *tensors: torch.Tensor) -> bool:
    """True when a gradient could flow (grad mode on and a parameter or input requires it)."""
    if not torch.is_grad_enabled():
        return False
    return any(t.requires_grad for t in tensors) or any(
        p.requires_grad for p in module.parameters()
    )


class BernoulliMLPDecoder(_MLP):
    """App. C.1 Bernoulli MLP decoder: logits ``W4 tanh(W3 t + b3) + b4``; binary data only."""

    family = "bernoulli"

    def __init__(self, latent_dim: int, hidden: int, data_dim: int, *, seed: int = 0) -> None:
        super().__init__(latent_dim, hidden, data_dim, seed)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """Return the logits, shape ``(..., D)``."""
        return self.hidden_units(t) @ self.W4.T + self.b4

    def log_prob(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob(x, self(t)).sum(-1)

    def check_data(self, x: object) -> torch.Tensor:
        return as_data(x, self.data_dim, binary=True)


class LinearGaussianDecoder(Decoder):
    """``p(x | t) = N(x | W t + b, diag exp(log_var))`` with ``t``-independent variance.

    ``log_var`` is a scalar (probabilistic PCA, Tipping & Bishop 1999) or one value per
    coordinate (the constant-coordinate construction, L6).
    """

    family = "gaussian"

    def __init__(self, W: object, b: object, log_var: object) -> None:
        super().__init__()
        W_t = torch.as_tensor(W, dtype=DTYPE)
        if W_t.ndim != 2:
            raise WellposedInputError(f"W must be a (data_dim, latent_dim) matrix, got {W_t.shape}")
        self.data_dim, self.latent_dim = (int(s) for s in W_t.shape)
        lv = torch.as_tensor(log_var, dtype=DTYPE)
        lv_shape = () if lv.ndim == 0 else (self.data_dim,)
        self.W = nn.Parameter(as_param(W_t, (self.data_dim, self.latent_dim), "W"))
        self.b = nn.Parameter(as_param(b, (self.data_dim,), "b"))
        self.log_var = nn.Parameter(as_param(lv, lv_shape, "log_var"))

    @property
    def log_var_vector(self) -> torch.Tensor:
        return self.log_var.expand(self.data_dim)

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = t @ self.W.T + self.b
        return mean, self.log_var_vector.expand(mean.shape)

    def log_prob(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        mean, log_var = self(t)
        return gaussian_log_prob(x, mean, log_var).sum(-1)

    def check_data(self, x: object) -> torch.Tensor:
        return as_data(x, self.data_dim)


class GaussianMLPEncoder(_Settable):
    """App. C.2 encoder: ``h = tanh(W1 x + b1)``, ``m = W2 h + b2``, ``log s^2 = W6 h + b6``."""

    def __init__(self, data_dim: int, hidden: int, latent_dim: int, *, seed: int = 0) -> None:
        super().__init__()
        self.data_dim = positive_int(data_dim, "data_dim")
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        positive_int(hidden, "hidden")
        g = torch.Generator().manual_seed(int(seed) + 2)
        self.W1 = _weights((hidden, data_dim), g, 1.0 / math.sqrt(data_dim))
        self.b1 = _weights((hidden,), g, 0.0)
        self.W2 = _weights((latent_dim, hidden), g, 1.0 / math.sqrt(hidden))
        self.b2 = _weights((latent_dim,), g, 0.0)
        self.W6 = _weights((latent_dim, hidden), g, 1.0 / math.sqrt(hidden))
        self.b6 = _weights((latent_dim,), g, 0.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(m, log s^2)``, each ``(n, d)``."""
        h = torch.tanh(x @ self.W1.T + self.b1)
        return h @ self.W2.T + self.b2, h @ self.W6.T + self.b6

    def realise(self, x: object, mean: object, log_var: object) -> float:
        """Set the output layers so that the encoder maps ``x_i`` to exactly ``(m_i, lv_i)``.

        The hidden layer keeps its (seeded) weights; with ``F = [h(x_i), 1]`` (``n x (H+1)``)
        the heads solve ``F [W2 | b2]^T = m`` and ``F [W6 | b6]^T = lv`` (minimum-norm least
        squares), exact when the ``n`` hidden feature rows are linearly independent, which
        needs ``H + 1 >= n`` and distinct points.  This is how a co-adapted tabular encoder
        is realised by the App. C.2 MLP (docs/claims.md, L1).  Returns the largest absolute
        error of the outputs on ``x``; an error above ``1e-9`` is refused (points too close
        or ``H`` too small) with what to change.
        """
        xt = as_data(x, self.data_dim)
        n = xt.shape[0]
        targets = [
            as_param(v, (n, self.latent_dim), f"realise {name}")
            for v, name in ((mean, "mean"), (log_var, "log_var"))
        ]
        with torch.no_grad():
            h = torch.tanh(xt @ self.W1.T + self.b1)
            F = torch.cat([h, torch.ones(n, 1, dtype=DTYPE)], dim=1)
            for (w, b), target in zip((("W2", "b2"), ("W6", "b6")), targets, strict=True):
                sol = torch.linalg.lstsq(F, target, driver="gelsd").solution  # (H+1, d)
                getattr(self, w).copy_(sol[:-1].T)
                getattr(self, b).copy_(sol[-1])
            m, lv = self(xt)
            err = float(max((m - targets[0]).abs().max(), (lv - targets[1]).abs().max()))
        if not err <= 1e-9:
            raise WellposedInputError(
                f"the MLP encoder (H = {self.W1.shape[0]}) cannot realise the {n} targets "
                f"(error {err:.3g}); use H >= {n} hidden units and distinct data points"
            )
        return err


class TabularEncoder(_Settable):
    """Free variational parameters per data point: ``q(t | x_i) = N(m_i, diag exp(lv_i))``."""

    def __init__(self, mean: object, log_var: object) -> None:
        super().__init__()
        m = torch.as_tensor(mean, dtype=DTYPE)
        if m.ndim != 2:
            raise WellposedInputError(f"TabularEncoder mean must be (n, d), got {tuple(m.shape)}")
        self.n, self.latent_dim = (int(s) for s in m.shape)
        lv = torch.as_tensor(log_var, dtype=DTYPE).expand(self.n, self.latent_dim)
        self.mean = nn.Parameter(as_param(m, (self.n, self.latent_dim), "TabularEncoder.mean"))
        self.log_var = nn.Parameter(
            as_param(lv.clone(), (self.n, self.latent_dim), "TabularEncoder.log_var")
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[0] != self.n:
            raise WellposedInputError(
                f"TabularEncoder holds {self.n} rows of variational parameters but the data "
                f"has {x.shape[0]} points; build it with one row per data point"
            )
        return self.mean, self.log_var
