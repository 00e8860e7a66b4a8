"""Variance policies: how a decoder's raw variance head becomes ``log sigma^2``.

A policy maps the raw head output ``r`` (``W5 h + b5`` in Kingma & Welling,
arXiv 1312.6114, App. C.2) to ``log sigma^2``.  ``log_var_floor`` is the smallest
``log sigma^2`` the policy can produce (``None``: no floor), which gives the
per-coordinate supremum ``-(1/2)(log 2pi + floor)`` of a Gaussian log-density
(docs/claims.md, L2 and F6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from wellposed.errors import WellposedInputError

__all__ = [
    "Fixed",
    "Floor",
    "Learned",
    "SharedScalar",
    "SoftClip",
    "ValueClamp",
    "VariancePolicy",
    "log_softplus",
    "softplus",
]


def softplus(r: torch.Tensor) -> torch.Tensor:
    """``log(1 + e^r) = logaddexp(r, 0)``, full relative precision for every ``r``.

    (``torch.nn.functional.softplus`` returns ``r`` itself above its threshold 20, a
    relative error of ``e^{-20}/20 ~ 1e-10``.)
    """
    return torch.logaddexp(r, torch.zeros_like(r))


def log_softplus(r: torch.Tensor) -> torch.Tensor:
    """``log(softplus(r)) = log log(1 + e^r)``, equal to ``r`` (to 1e-13) for ``r < -30``."""
    low = r < -30.0
    safe = torch.where(low, torch.full_like(r, -30.0), r)
    return torch.where(low, r, torch.log(softplus(safe)))


def _finite_float(name: str, value: object, hint: str) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise WellposedInputError(f"{name} must be a number, got {value!r}; {hint}") from exc
    if not math.isfinite(out):
        raise WellposedInputError(f"{name} must be finite, got {value!r}; {hint}")
    return out


def _require_positive(name: str, value: float, hint: str) -> float:
    value = _finite_float(name, value, hint)
    if not math.isfinite(value) or value <= 0.0:
        raise WellposedInputError(f"{name} must be a finite number > 0, got {value!r}; {hint}")
    return value


class VariancePolicy:
    """Base class: ``__call__(raw) -> log sigma^2`` (same shape as ``raw``)."""

    name: str = "policy"
    uses_head: bool = True

    @property
    def log_var_floor(self) -> float | None:
        """Infimum of the produced ``log sigma^2`` (``None`` when there is none)."""
        return None

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def log_var_of(self, raw: float) -> float:
        """The same map in float64 numpy, for the exact line (the head outputs ``raw``)."""
        raise NotImplementedError  # pragma: no cover - abstract


@dataclass(frozen=True)
class Learned(VariancePolicy):
    """App. C.2: ``log sigma^2 = r``, unconstrained, per coordinate and latent-dependent."""

    name = "learned"

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return raw

    def log_var_of(self, raw: float) -> float:
        return float(raw)


@dataclass(frozen=True)
class SharedScalar(VariancePolicy):
    """One learned ``log sigma^2`` for every coordinate and latent value (sigma-VAE, L4)."""

    log_var: float = 0.0
    name = "shared"
    uses_head = False

    def __post_init__(self) -> None:
        _finite_float("SharedScalar.log_var", self.log_var, "e.g. SharedScalar(0.0)")

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.full_like(raw, float(self.log_var))

    def log_var_of(self, raw: float) -> float:
        return float(self.log_var)


@dataclass(frozen=True)
class Fixed(VariancePolicy):
    """Fixed ``sigma^2`` (``sigma2 = 1`` is squared-error loss up to constants, S2)."""

    sigma2: float = 1.0
    name = "fixed"
    uses_head = False

    def __post_init__(self) -> None:
        _require_positive("Fixed.sigma2", self.sigma2, "pass the fixed variance, e.g. Fixed(1.0)")

    @property
    def log_var_floor(self) -> float:
        return math.log(self.sigma2)

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.full_like(raw, math.log(self.sigma2))

    def log_var_of(self, raw: float) -> float:
        return math.log(self.sigma2)


@dataclass(frozen=True)
class Floor(VariancePolicy):
    """``sigma^2 = xi + softplus(r)``: every eigenvalue ``>= xi`` (S4, L2)."""

    xi: float = 1e-3
    name = "floor"

    def __post_init__(self) -> None:
        _require_positive("Floor.xi", self.xi, "a variance floor must be positive, e.g. 1e-3")

    @property
    def log_var_floor(self) -> float:
        return math.log(self.xi)

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.logaddexp(torch.full_like(raw, math.log(self.xi)), log_softplus(raw))

    def log_var_of(self, raw: float) -> float:
        """``log(xi + softplus(r))``."""
        return math.log(self.xi + float(np.logaddexp(0.0, raw)))


@dataclass(frozen=True)
class SoftClip(VariancePolicy):
    """sigma-VAE softclip on ``log sigma``: ``log sigma = m + softplus(r/2 - m)``, ``m = -6``.

    Rybkin et al. (arXiv 2006.13202); floor ``log sigma^2 >= 2m``.
    """

    min_log_sigma: float = -6.0
    name = "softclip"

    def __post_init__(self) -> None:
        _finite_float("SoftClip.min_log_sigma", self.min_log_sigma, "e.g. SoftClip(-6.0)")

    @property
    def log_var_floor(self) -> float:
        return 2.0 * self.min_log_sigma

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        m = self.min_log_sigma
        return 2.0 * (m + softplus(0.5 * raw - m))

    def log_var_of(self, raw: float) -> float:
        """``2 (m + softplus(r/2 - m))``."""
        m = self.min_log_sigma
        return 2.0 * (m + float(np.logaddexp(0.0, 0.5 * raw - m)))


@dataclass(frozen=True)
class ValueClamp(VariancePolicy):
    """``log sigma^2 = max(r, c)`` in value only; the gradient passes straight through.

    Like ``torch.nn.GaussianNLLLoss(eps)``: the value is bounded, the gradient is not.
    Written ``clamp(r).detach() + (r - r.detach())`` so the value is exactly
    ``max(r, c)`` even for ``|r|`` near the float64 range (``r + (c - r)`` is not).
    """

    min_log_var: float = math.log(1e-6)
    name = "value_clamp"

    def __post_init__(self) -> None:
        _finite_float("ValueClamp.min_log_var", self.min_log_var, "e.g. ValueClamp(-13.8)")

    @property
    def log_var_floor(self) -> float:
        return self.min_log_var

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.clamp(raw, min=self.min_log_var).detach() + (raw - raw.detach())

    def log_var_of(self, raw: float) -> float:
        return max(float(raw), self.min_log_var)
