"""The attack of ``audit-model``: ascent on a model's own parameters towards a divergence.

The objective (:func:`objective_value`) is the ELBO ``sum_i [mean_s log p(x_i | m_i + s_i
eps_si) - KL(q_i || N(0, I))]`` (analytic KL, Kingma & Welling 2014) over fixed draws
``eps`` (common random numbers), ``-GaussianNLLLoss`` in place of ``log p`` when the factory
returns that loss, or the factory's own objective.  :func:`attack` runs Adam, then rounds of
a saddle-free Levenberg-Marquardt Newton step (gradient and Hessian in the parameters, as in
:mod:`wellposed.audit.search`) with extrapolation, and every fifth round a doubling line
search along the gradient of the scale progress ``k`` (decoder ``-log scale^2`` plus encoder
``-log s^2``): the Mattei & Frellsen spike found by optimisation (docs/your-model.md).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributions as tdist
from torch import nn

from wellposed.errors import WellposedInputError
from wellposed.models.protocol import ModuleDecoder, ModuleEncoder, conform_decoder
from wellposed.models.validate import DTYPE

__all__ = [
    "ATTACK_SAMPLES",
    "CHECK_SAMPLES",
    "NEWTON_PARAMS",
    "RECORD_SAMPLES",
    "AttackTrace",
    "AuditedModel",
    "attack",
    "build_model",
    "draws",
    "evaluate",
    "load_factory",
    "objective_value",
    "progress",
]

#: Monte Carlo draws of the attacked objective (fixed: common random numbers)
ATTACK_SAMPLES = 16
#: parameters moved by the Newton rounds (the Hessian is P x P)
NEWTON_PARAMS = 400
#: draws of the recorded trace (fixed, so rounds are comparable)
RECORD_SAMPLES = 64
#: fresh draws for re-evaluating a witness
CHECK_SAMPLES = 1024


@dataclass
class AuditedModel:
    """A factory's modules as float64 copies, and the objective the attack maximises."""

    decoder: ModuleDecoder
    encoder: ModuleEncoder
    loss: nn.GaussianNLLLoss | None = None
    custom: Callable[..., torch.Tensor] | None = None
    factory: str = ""

    def parameters(self) -> list[nn.Parameter]:
        return [*self.decoder.parameters(), *self.encoder.parameters()]

    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"decoder": copy.deepcopy(self.decoder.module.state_dict()),
                "encoder": copy.deepcopy(self.encoder.module.state_dict())}

    def load(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        self.decoder.module.load_state_dict(state["decoder"])
        self.encoder.module.load_state_dict(state["encoder"])

# ----------------------------------------------------------------------------------------
# loading a factory
# ----------------------------------------------------------------------------------------


def load_factory(spec: str) -> Callable[..., Any]:
    """``"pkg.module:factory"`` -> the callable (the current directory is importable, as
    with ``python -m``); anything else is a :class:`WellposedInputError`."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise WellposedInputError(f"give the factory as PKG.MODULE:FACTORY (e.g. "
                                  f"examples.c2_logvar_head:factory), got {spec!r}")
    mod_name, attr = spec.split(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(mod_name)
    except Exception as exc:  # an import error of any kind is the user's input
        raise WellposedInputError(f"cannot import {mod_name!r} ({type(exc).__name__}: {exc}); "
                                  "run from the directory that holds the package, or install "
                                  "it") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise WellposedInputError(f"{mod_name} has no callable {attr!r}; define "
                                  f"def {attr}(): return decoder, encoder")
    return fn


def build_model(factory: Callable[..., Any], data_dim: int, *, seed: int = 0,
                name: str = "") -> AuditedModel:
    """Call ``factory`` (with ``data_dim=`` when it takes that argument; torch seeded with
    ``seed``) and wrap what it returns: ``(decoder, encoder[, objective])``."""
    torch.manual_seed(int(seed))
    params = inspect.signature(factory).parameters if callable(factory) else {}
    try:
        out = factory(data_dim=data_dim) if "data_dim" in params else factory()
    except WellposedInputError:
        raise
    except Exception as exc:
        raise WellposedInputError(f"the factory {name or factory!r} raised "
                                  f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(out, tuple | list) or len(out) not in (2, 3) or not all(
            isinstance(m, nn.Module) for m in out[:2]):
        raise WellposedInputError(
            f"the factory {name or 'factory'} must return (decoder, encoder) or (decoder, "
            "encoder, objective) with torch.nn.Module decoder and encoder; got "
            f"{type(out).__name__}")
    dec_mod, enc_mod = out[0], out[1]
    objective = out[2] if len(out) == 3 else None
    enc = ModuleEncoder(enc_mod)
    dec = conform_decoder(dec_mod, encoder=enc_mod,
                          data=torch.zeros(1, data_dim, dtype=DTYPE))
    assert isinstance(dec, ModuleDecoder)
    dec.data_dim = int(data_dim)
    loss = objective if isinstance(objective, nn.GaussianNLLLoss) else None
    custom = None if objective is None or loss is not None else objective
    if custom is not None and not callable(custom):
        raise WellposedInputError("the objective must be torch.nn.GaussianNLLLoss(...) or a "
                                  "callable objective(decoder, encoder, x) -> scalar tensor")
    return AuditedModel(dec, enc, loss, custom, name)

# ----------------------------------------------------------------------------------------
# the objective and the progress variable
# ----------------------------------------------------------------------------------------


def _reconstruction(model: AuditedModel, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``log p(x | t)`` summed over coordinates, ``(S, n)``; GaussianNLLLoss: ``-loss``."""
    if model.loss is None:
        return model.decoder.log_prob(x, t)
    out = model.decoder.module(t)
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise WellposedInputError("with GaussianNLLLoss as the objective the decoder must "
                                  "return the tuple (mean, log_var)")
    mean, log_var = out
    loss = nn.GaussianNLLLoss(full=model.loss.full, eps=model.loss.eps, reduction="none")
    return -loss(mean, x.expand_as(mean), torch.exp(log_var)).sum(-1)


def objective_value(model: AuditedModel, x: torch.Tensor, eps: torch.Tensor,
               seed: int) -> torch.Tensor:
    """ELBO ``sum_i [mean_s log p(x_i | m_i + s_i eps_si) - KL(q_i || N(0, I))]`` (analytic
    KL, Kingma & Welling 2014), or the factory's own objective (torch seeded)."""
    if model.custom is not None:
        torch.manual_seed(int(seed))
        out = model.custom(model.decoder.module, model.encoder.module, x)
        if not (isinstance(out, torch.Tensor) and out.numel() == 1):
            raise WellposedInputError("the factory's objective must return a scalar tensor "
                                      "(higher is better), e.g. the ELBO summed over x")
        return out.reshape(())
    m, lv = model.encoder(x)
    t = m + torch.exp(0.5 * lv) * eps
    recon = _reconstruction(model, x, t).mean(0)
    kl = 0.5 * (m * m + torch.exp(lv) - 1.0 - lv).sum(-1)
    return (recon - kl).sum()


def draws(seed: int, samples: int, n: int, d: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn((samples, n, d), generator=gen, dtype=DTYPE)


def evaluate(model: AuditedModel, x: torch.Tensor, *, samples: int = CHECK_SAMPLES,
             seed: int = 1) -> tuple[float, float]:
    """The objective with ``samples`` fresh draws: ``(value, standard error)``; the SE is
    ``std_s / sqrt(S)`` of the per-draw totals (0 for a factory's own objective)."""
    with torch.no_grad():
        if model.custom is not None:
            return float(objective_value(model, x, torch.empty(0), seed)), 0.0
        m, lv = model.encoder(x)
        eps = draws(seed, samples, x.shape[0], m.shape[-1])
        recon = _reconstruction(model, x, m + torch.exp(0.5 * lv) * eps)  # (S, n)
        kl = 0.5 * (m * m + torch.exp(lv) - 1.0 - lv).sum(-1)
        totals = (recon - kl).sum(-1)
        value = float(totals.mean())
        se = float(totals.std() / math.sqrt(samples)) if samples > 1 else 0.0
    return value, se


def progress(model: AuditedModel, x: torch.Tensor) -> torch.Tensor:
    """``k = -mean log(scale^2)`` of the output distribution at the encoder mean (a
    logit-parameterised family: ``2 mean log|logit|``); NaN when it has neither."""
    m, _ = model.encoder(x)
    out = model.decoder.module(m)
    if isinstance(out, tuple | list):
        return -out[1].mean()
    base = out
    while isinstance(base, tdist.Independent):
        base = base.base_dist
    if hasattr(base, "scale"):
        return -2.0 * torch.log(base.scale).mean()
    if "logits" in vars(base):
        return 2.0 * torch.log(torch.abs(base.logits) + 1e-300).mean()
    return torch.tensor(math.nan, dtype=DTYPE)

# ----------------------------------------------------------------------------------------
# the attack
# ----------------------------------------------------------------------------------------


@dataclass
class AttackTrace:
    k: list[float] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    best_value: float = -math.inf
    best_k: float = math.nan
    best_state: dict[str, Any] | None = None


def _record(model: AuditedModel, x: torch.Tensor, eps: torch.Tensor, seed: int,
            trace: AttackTrace) -> float:
    with torch.no_grad():
        v = float(objective_value(model, x, eps, seed))
        k = float(progress(model, x))
    if math.isfinite(v):
        trace.k.append(k)
        trace.value.append(v)
        if v > trace.best_value:
            trace.best_value, trace.best_k, trace.best_state = v, k, model.state()
    return v


def _scale_step(model: AuditedModel, x: torch.Tensor, eps: torch.Tensor, seed: int,
                current: float) -> None:
    """Doubling line search along ``grad k`` (shrink the scale) while the objective rises."""
    params = model.parameters()
    for p in params:
        p.grad = None
    k = progress(model, x) - model.encoder(x)[1].mean()  # decoder and encoder scales
    if not torch.isfinite(k) or not k.requires_grad:
        return
    grads = torch.autograd.grad(k, params, allow_unused=True)
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads if g is not None))
    if not norm > 0:
        return
    base = [p.detach().clone() for p in params]
    best_alpha, best = 0.0, current
    alpha = 0.5
    for _ in range(12):
        with torch.no_grad():
            for p, b, g in zip(params, base, grads, strict=True):
                p.copy_(b if g is None else b + (alpha / norm) * g)
            v = float(objective_value(model, x, eps, seed))
        if not (math.isfinite(v) and v > best):
            break
        best_alpha, best = alpha, v
        alpha *= 2.0
    with torch.no_grad():
        for p, b, g in zip(params, base, grads, strict=True):
            p.copy_(b if g is None else b + (best_alpha / norm) * g)


def _flat_grad_hess(model: AuditedModel, params: list[nn.Parameter], x: torch.Tensor,
                    eps: torch.Tensor, seed: int) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Objective, gradient and Hessian in the flattened parameters (one batched
    double-backward: ``P`` Hessian-vector products at once)."""
    F = objective_value(model, x, eps, seed)
    if not torch.isfinite(F):
        return float(F.detach()), torch.empty(0), torch.empty(0)
    grads = torch.autograd.grad(F, params, create_graph=True, allow_unused=True)
    g = torch.cat([(torch.zeros_like(p) if a is None else a).reshape(-1)
                   for p, a in zip(params, grads, strict=True)])
    P = g.numel()
    rows = torch.autograd.grad(g, params, grad_outputs=torch.eye(P, dtype=DTYPE),
                               is_grads_batched=True, allow_unused=True)
    H = torch.cat([(torch.zeros(P, p.numel(), dtype=DTYPE) if r is None else r.reshape(P, -1))
                   for p, r in zip(params, rows, strict=True)], 1)
    return float(F.detach()), g.detach(), 0.5 * (H + H.T).detach()


def _shift(params: list[nn.Parameter], delta: torch.Tensor) -> None:
    with torch.no_grad():
        at = 0
        for p in params:
            p.add_(delta[at:at + p.numel()].reshape(p.shape))
            at += p.numel()


def _newton_step(model: AuditedModel, params: list[nn.Parameter], x: torch.Tensor,
                 eps: torch.Tensor, check: torch.Tensor, seed: int,
                 damping: float) -> tuple[bool, float]:
    """One saddle-free Levenberg-Marquardt ascent step ``delta = V (|L| + mu)^-1 V^T g``
    (``H = V L V^T``, gradient and Hessian on the draws ``eps``; as in
    :mod:`wellposed.audit.search`), accepted when it raises the objective on the other
    draws ``check`` (so a step cannot fit its own draws); ``mu`` is halved after an accepted
    step and multiplied by 4 after a rejected one."""
    _, g, H = _flat_grad_hess(model, params, x, eps, seed)
    with torch.no_grad():
        F = float(objective_value(model, x, check, seed))
    if g.numel() == 0 or not torch.isfinite(H).all() or not torch.isfinite(g).all():
        return False, damping * 4.0
    lam, V = torch.linalg.eigh(H)
    for _ in range(6):
        delta = V @ ((V.T @ g) / (lam.abs() + damping))
        _shift(params, delta)
        with torch.no_grad():
            new = float(objective_value(model, x, check, seed))
        if math.isfinite(new) and new > F:
            for _ in range(8):  # extrapolate: the scale direction is nearly linear
                _shift(params, delta)
                with torch.no_grad():
                    further = float(objective_value(model, x, check, seed))
                if not (math.isfinite(further) and further > new):
                    _shift(params, -delta)
                    break
                new, delta = further, 2.0 * delta
            return True, max(damping / 2.0, 1e-12)
        _shift(params, -delta)
        damping *= 4.0
    return False, damping


def _newton_parameters(model: AuditedModel) -> list[nn.Parameter]:
    """The parameters the Newton rounds move: all of them when there are at most
    :data:`NEWTON_PARAMS`; else, per module, the last-registered tensors (the output heads)
    up to half that many each (the Hessian costs ``P^2``)."""
    out: list[nn.Parameter] = []
    for module in (model.decoder.module, model.encoder.module):
        taken = 0
        for p in reversed([p for p in module.parameters() if p.requires_grad]):
            if taken + p.numel() > NEWTON_PARAMS // 2 and taken > 0:
                break
            out.append(p)
            taken += p.numel()
    everything = [p for p in model.parameters() if p.requires_grad]
    return everything if sum(p.numel() for p in everything) <= NEWTON_PARAMS else out


def attack(model: AuditedModel, x: torch.Tensor, *, target: float, budget: float,
           seed: int = 0, adam_steps: int = 200, ceiling: float | None = None) -> AttackTrace:
    """Maximise the objective on ``x`` (the module doc, step 3) until it passes ``target``,
    comes within ``1e-3`` (relative) of a proved ``ceiling``, stalls (15 rounds gaining
    less than ``1e-7`` relative) or ``budget`` seconds are spent; returns the trace and the
    best state."""
    d = model.decoder.latent_dim
    fixed = draws(seed, RECORD_SAMPLES, x.shape[0], d)  # the trace's common random numbers
    params = [p for p in model.parameters() if p.requires_grad]
    newton = _newton_parameters(model)
    trace = AttackTrace()
    opt = torch.optim.Adam(params, lr=0.02)  # the first optimizer imports torch._dynamo
    start = time.monotonic()
    _record(model, x, fixed, seed, trace)
    for step in range(adam_steps):
        eps = draws(seed + 1 + step, ATTACK_SAMPLES, x.shape[0], d)
        opt.zero_grad()
        loss = -objective_value(model, x, eps, seed)
        if not torch.isfinite(loss):
            break
        loss.backward()
        opt.step()
        if time.monotonic() - start > budget / 4:
            break
    if trace.best_state is not None and not math.isfinite(_record(model, x, fixed, seed,
                                                                  trace)):
        model.load(trace.best_state)
    stalled, rounds, damping = 0, 0, 1.0
    goal = target + max(2.0, 0.05 * abs(target))  # room for the fresh-draw re-evaluation
    while time.monotonic() - start < budget and trace.best_value <= goal:
        before = trace.best_value
        rounds += 1
        eps = draws(seed + 100_000 + rounds, ATTACK_SAMPLES, x.shape[0], d)
        _, damping = _newton_step(model, newton, x, fixed, fixed, seed, damping)
        v = _record(model, x, fixed, seed, trace)
        if not math.isfinite(v):
            assert trace.best_state is not None
            model.load(trace.best_state)
            v = trace.best_value
        if rounds % 5 == 0:
            _scale_step(model, x, fixed, seed, v)
            _record(model, x, fixed, seed, trace)
        gain = trace.best_value - before
        stalled = stalled + 1 if gain <= 1e-7 * max(1.0, abs(before)) else 0
        near = ceiling is not None and trace.best_value >= ceiling - 1e-3 * max(1.0,
                                                                                abs(ceiling))
        if stalled >= 15 or near:
            break
    if trace.best_state is not None:
        model.load(trace.best_state)
    return trace
