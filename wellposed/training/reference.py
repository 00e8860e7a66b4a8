"""The training objectives re-evaluated in numpy float64 from the weights: the gate's reference.

:func:`objective_check` evaluates, at a model's current parameters and with fixed draws,
the objective training maximises (:meth:`TrainingModel.elbo`, the same function
:func:`wellposed.training.loop.train_step` calls) and the IWAE log-weights, next to an
independent evaluation of the same formulas that shares no code with them:

* the networks (``tanh`` MLPs of App. C.1 / C.2) from their weight arrays in numpy;
* the variance policies by their float64 maps ``log_var_of`` (the exact line's);
* the KL by :func:`wellposed.lines.exact.gaussian_kl`;
* each likelihood written out here in numpy: the Gaussian
  ``-(1/2)(log 2pi + log sigma^2 + (x - mu)^2 / sigma^2)``, the Bernoulli
  ``x log sigmoid(l) + (1 - x) log sigmoid(-l)``, the continuous Bernoulli's normaliser
  ``log C = log(l / tanh(l / 2))`` (series ``log 2 + l^2 / 12`` near 0), the discretised
  logistic's bin masses ``sigmoid(a) - sigmoid(b)`` (end bins open);
* the data as the objective sees it (binarised at 1/2; dequantised ``(k + u) / (L + 1)``
  with the same uniform draws ``u``).

Both are float64 functions of the same parameters and draws, so they must agree to rounding:
:data:`RTOL` relative per point.  A constant of the KL, a normaliser's sign, a bin width or
a dequantisation step changed in the training objectives shows as a difference of order 1.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch

from wellposed.lines.exact import gaussian_kl
from wellposed.models.networks import GaussianMLPDecoder
from wellposed.training.objectives import TrainingModel

__all__ = ["CHECK_POINTS", "RTOL", "objective_check", "reference_log_weights"]

#: per-point agreement required between the training objective and its reference (float64
#: rounding of sums over D <= 64 coordinates and H = 200 hidden units is ~1e-13)
RTOL = 1e-8
#: training points the check evaluates (the first rows of the training split)
CHECK_POINTS = 100

_LOG_2PI = math.log(2.0 * math.pi)


def _arr(p: torch.Tensor) -> np.ndarray:
    return np.asarray(p.detach().to("cpu", torch.float64).numpy(), dtype=np.float64)


def _logsig(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = -np.logaddexp(0.0, -z)
    return out


def _log_c(logits: np.ndarray) -> np.ndarray:
    """``log C(lam)`` of the continuous Bernoulli, ``lam = sigmoid(l)``: ``C = l / tanh(l/2)``."""
    a = np.abs(logits)
    small = a < 1e-3
    safe = np.where(small, 1.0, a)
    out: np.ndarray = np.where(
        small, math.log(2.0) + np.log1p(logits**2 / 12.0), np.log(safe / np.tanh(safe / 2.0))
    )
    return out


def _dlogistic(x: np.ndarray, mean: np.ndarray, log_var: np.ndarray, levels: int) -> np.ndarray:
    """Log mass of the bin of ``x = k / L`` under a logistic ``(mean, e^{lv / 2})``."""
    inv = np.exp(-0.5 * log_var)
    half = 0.5 / levels
    a = (x + half - mean) * inv
    b = (x - half - mean) * inv
    middle = _logsig(a) + _logsig(-b) + np.log(-np.expm1(b - a))
    out: np.ndarray = np.where(
        x <= half / 2, _logsig(a), np.where(x >= 1 - half / 2, _logsig(-b), middle)
    )
    return out


def _log_lik(model: TrainingModel, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log p(x | t)`` summed over coordinates, from the decoder's weights."""
    dec = model.decoder
    h = np.tanh(t @ _arr(dec.W3).T + _arr(dec.b3))
    out = h @ _arr(dec.W4).T + _arr(dec.b4)
    kind = model.objective.likelihood
    if kind in ("bernoulli", "cbernoulli"):
        ll = x * _logsig(out) + (1.0 - x) * _logsig(-out)
        if kind == "cbernoulli":
            ll = ll + _log_c(out)
        return np.asarray(ll.sum(-1))
    if model.objective.shared:
        log_var = np.full_like(out, float(model.shared_log_var.detach()))
    else:
        assert isinstance(dec, GaussianMLPDecoder)
        raw = h @ _arr(dec.W5).T + _arr(dec.b5)
        policy = dec.variance
        log_var = np.vectorize(policy.log_var_of, otypes=[np.float64])(raw)
    if kind == "dlogistic":
        assert model.levels is not None
        return np.asarray(_dlogistic(x, out, log_var, model.levels).sum(-1))
    sq = (x - out) ** 2 * np.exp(-log_var)
    return np.asarray((-0.5 * (_LOG_2PI + log_var + sq)).sum(-1))


def _seen(model: TrainingModel, x: np.ndarray, u: np.ndarray | None) -> np.ndarray:
    obj = model.objective
    if obj.binarise:
        return (x >= 0.5).astype(np.float64)
    if obj.dequantise:
        assert model.levels is not None and u is not None
        return np.asarray((np.round(x * model.levels) + u) / (model.levels + 1))
    return x


def reference_log_weights(
    model: TrainingModel, x: np.ndarray, eps: np.ndarray, u: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(log p(x | t_s) - KL, log p(x | t_s) + log p(t_s) - log q(t_s | x))`` per draw and
    point (``(S, n)`` each) for ``t_s = m + e^{lv/2} eps_s``, in numpy from the weights."""
    enc = model.encoder
    y = _seen(model, x, u)
    h = np.tanh(y @ _arr(enc.W1).T + _arr(enc.b1))
    m = h @ _arr(enc.W2).T + _arr(enc.b2)
    lv = h @ _arr(enc.W6).T + _arr(enc.b6)
    t = m + np.exp(0.5 * lv) * eps
    ll = _log_lik(model, y, t)
    log_p = -0.5 * (t * t + _LOG_2PI).sum(-1)
    log_q = -0.5 * (eps * eps + lv + _LOG_2PI).sum(-1)
    return ll - gaussian_kl(m, lv), ll + log_p - log_q


def objective_check(
    model: TrainingModel, x: np.ndarray, seed: int, draws: int = 2
) -> dict[str, Any]:
    """The training objective and the IWAE bound (``draws`` draws) per point of ``x`` (raw
    data) at ``model``'s parameters, against :func:`reference_log_weights`: their means, the
    largest per-point difference and the tolerance ``RTOL * max(1, |reference|)``."""
    m64 = copy.deepcopy(model).to(device="cpu", dtype=torch.float64)
    xt = torch.as_tensor(x, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    state = gen.get_state()
    seen = m64.objective.prepare(xt, m64.levels, gen)
    u = None
    if m64.objective.dequantise:
        gen.set_state(state)  # the same uniform draws prepare used
        u = torch.rand(xt.shape, generator=gen, dtype=torch.float64).numpy()
    eps = torch.randn((draws, len(x), m64.encoder.latent_dim), generator=gen, dtype=torch.float64)
    with torch.no_grad():
        value = m64.elbo(seen, eps).numpy()
        logw = m64.iwae_log_weights(seen, eps)
        iwae = (torch.logsumexp(logw, 0) - math.log(draws)).numpy()
    ref_elbo, ref_logw = reference_log_weights(m64, x, eps.numpy(), u)
    ref_value = ref_elbo.mean(0)
    top = ref_logw.max(0)
    ref_iwae = top + np.log(np.exp(ref_logw - top).mean(0))
    err = max(float(np.max(np.abs(value - ref_value))), float(np.max(np.abs(iwae - ref_iwae))))
    scale = max(1.0, float(np.max(np.abs(ref_value))), float(np.max(np.abs(ref_iwae))))
    if not (np.all(np.isfinite(value)) and np.all(np.isfinite(ref_value))):
        err = math.inf
    return {
        "elbo": float(value.mean()),
        "elbo_reference": float(ref_value.mean()),
        "iwae": float(iwae.mean()),
        "iwae_reference": float(ref_iwae.mean()),
        "max_abs_error": err,
        "tolerance": RTOL * scale,
        "ok": bool(err <= RTOL * scale),
        "points": len(x),
        "draws": draws,
        "seed": seed,
    }
