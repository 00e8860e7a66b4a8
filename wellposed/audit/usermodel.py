"""The user's model as the audit sees it: a factory loaded, its objective and per-row terms.

:func:`build_model` wraps what ``FACTORY()`` returns (:mod:`wellposed.models.protocol`) in
float64 copies; :func:`objective_value` is the ELBO ``sum_i [mean_s log p(x_i | m_i + s_i
eps_si) - KL(q_i || N(0, I))]`` (analytic KL, Kingma & Welling 2014) over given draws,
``-GaussianNLLLoss`` in place of ``log p`` when the factory returns that loss, or the
factory's own objective; :func:`row_terms` are its per-row terms, :func:`row_progress` the
per-row scale progress ``k``, :func:`evaluate` the re-evaluation with fresh draws, and
:func:`loc_log_scale` a location-scale output's two parameters.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.distributions as tdist
from torch import nn

from wellposed.errors import WellposedInputError
from wellposed.models.protocol import ModuleDecoder, ModuleEncoder, conform_decoder
from wellposed.models.validate import DTYPE

__all__ = [
    "CHECK_ROW_DRAWS",
    "CHECK_SAMPLES",
    "AuditedModel",
    "build_model",
    "check_samples",
    "draws",
    "evaluate",
    "load_factory",
    "loc_log_scale",
    "no_validation",
    "objective_value",
    "progress",
    "row_progress",
    "row_terms",
]

#: fresh draws for re-evaluating a witness, and the row-draws cap for many rows
CHECK_SAMPLES = 1024
CHECK_ROW_DRAWS = 2048


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
        return {
            "decoder": copy.deepcopy(self.decoder.module.state_dict()),
            "encoder": copy.deepcopy(self.encoder.module.state_dict()),
        }

    def load(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        self.decoder.module.load_state_dict(state["decoder"])
        self.encoder.module.load_state_dict(state["encoder"])


# ----------------------------------------------------------------------------------------
# loading a factory
# ----------------------------------------------------------------------------------------


def load_factory(spec: object) -> Callable[..., Any]:
    """``"pkg.module:factory"`` -> the callable (the current directory is importable, as
    with ``python -m``); anything else is a :class:`WellposedInputError`."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise WellposedInputError(
            f"give the factory as PKG.MODULE:FACTORY (e.g. "
            f"examples.c2_logvar_head:factory), got {spec!r}"
        )
    mod_name, attr = spec.split(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(mod_name)
    except Exception as exc:  # an import error of any kind is the user's input
        raise WellposedInputError(
            f"cannot import {mod_name!r} ({type(exc).__name__}: {exc}); "
            "run from the directory that holds the package, or install "
            "it"
        ) from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise WellposedInputError(
            f"{mod_name} has no callable {attr!r}; define def {attr}(): return decoder, encoder"
        )
    return cast(Callable[..., Any], fn)  # callable(): a user's attribute, checked above


def build_model(
    factory: Callable[..., Any], data_dim: int, *, seed: int = 0, name: str = ""
) -> AuditedModel:
    """Call ``factory`` (with ``data_dim=`` when it takes that argument; torch seeded with
    ``seed``) and wrap what it returns: ``(decoder, encoder[, objective])``."""
    torch.manual_seed(int(seed))
    # a Python caller may pass anything: typed as object so the check is not redundant
    params = inspect.signature(factory).parameters if callable(cast(object, factory)) else {}
    try:
        out = factory(data_dim=data_dim) if "data_dim" in params else factory()
    except WellposedInputError:
        raise
    except Exception as exc:
        raise WellposedInputError(
            f"the factory {name or factory!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if (
        not isinstance(out, tuple | list)
        or len(out) not in (2, 3)
        or not all(isinstance(m, nn.Module) for m in out[:2])
    ):
        raise WellposedInputError(
            f"the factory {name or 'factory'} must return (decoder, encoder) or (decoder, "
            "encoder, objective) with torch.nn.Module decoder and encoder; got "
            f"{type(out).__name__}"
        )
    dec_mod, enc_mod = out[0], out[1]
    objective = out[2] if len(out) == 3 else None
    try:
        enc = ModuleEncoder(enc_mod)
        dec = conform_decoder(dec_mod, encoder=enc_mod, data=torch.zeros(1, data_dim, dtype=DTYPE))
    except WellposedInputError:
        raise
    except Exception as exc:
        raise WellposedInputError(
            f"reading the latent size of {name or 'the model'} failed: its encoder "
            f"{type(enc_mod).__name__} on data with {data_dim} columns raised "
            f"{type(exc).__name__}: {exc}; is the model built for {data_dim} columns, and "
            "does the factory return (decoder, encoder) in that order (not swapped)?"
        ) from exc
    assert isinstance(dec, ModuleDecoder)
    dec.data_dim = int(data_dim)
    loss = objective if isinstance(objective, nn.GaussianNLLLoss) else None
    custom = None if objective is None or loss is not None else objective
    if custom is not None and not callable(custom):
        raise WellposedInputError(
            "the objective must be torch.nn.GaussianNLLLoss(...) or a "
            "callable objective(decoder, encoder, x) -> scalar tensor"
        )
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
        raise WellposedInputError(
            "with GaussianNLLLoss as the objective the decoder must "
            "return the tuple (mean, log_var)"
        )
    mean, log_var = out
    loss = nn.GaussianNLLLoss(full=model.loss.full, eps=model.loss.eps, reduction="none")
    nll: torch.Tensor = loss(mean, x.expand_as(mean), torch.exp(log_var))
    return -nll.sum(-1)


def objective_value(
    model: AuditedModel, x: torch.Tensor, eps: torch.Tensor, seed: int
) -> torch.Tensor:
    """ELBO ``sum_i [mean_s log p(x_i | m_i + s_i eps_si) - KL(q_i || N(0, I))]`` (analytic
    KL, Kingma & Welling 2014), or the factory's own objective (torch seeded)."""
    if model.custom is not None:
        torch.manual_seed(int(seed))
        out: object = model.custom(model.decoder.module, model.encoder.module, x)  # user code
        if not (isinstance(out, torch.Tensor) and out.numel() == 1):
            raise WellposedInputError(
                "the factory's objective must return a scalar tensor "
                "(higher is better), e.g. the ELBO summed over x"
            )
        return out.reshape(())
    return row_terms(model, x, eps).sum()


def row_terms(model: AuditedModel, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Each row's ELBO term ``mean_s log p(x_i | m_i + s_i eps_si) - KL(q_i || N(0, I))``,
    shape ``(n,)`` (analytic KL, Kingma & Welling 2014); not for a factory's own objective."""
    encoded: tuple[torch.Tensor, torch.Tensor] = model.encoder(x)
    m, lv = encoded
    t = m + torch.exp(0.5 * lv) * eps
    recon = _reconstruction(model, x, t).mean(0)
    return recon - 0.5 * (m * m + torch.exp(lv) - 1.0 - lv).sum(-1)


def draws(seed: int, samples: int, n: int, d: int, dtype: torch.dtype = DTYPE) -> torch.Tensor:
    """Standard normal draws ``(samples, n, d)`` from their own seeded generator."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn((samples, n, d), generator=gen, dtype=DTYPE).to(dtype)


def check_samples(n: int) -> int:
    """Fresh draws of a witness's re-evaluation: :data:`CHECK_SAMPLES`, fewer for many rows
    (at most ``CHECK_ROW_DRAWS`` row-draws in all, at least 8 per row)."""
    return max(8, min(CHECK_SAMPLES, CHECK_ROW_DRAWS // max(n, 1)))


def evaluate(
    model: AuditedModel, x: torch.Tensor, *, samples: int | None = None, seed: int = 1
) -> tuple[float, float]:
    """The objective with ``samples`` fresh draws (default :func:`check_samples`):
    ``(value, standard error)``.  Rows are independent given the parameters, so the SE is
    ``sqrt(sum_i var_s(term_is) / S)`` with each row's variance over its ``S`` draws
    (0 for a factory's own objective)."""
    with torch.no_grad():
        if model.custom is not None:
            return float(objective_value(model, x, torch.empty(0), seed)), 0.0
        S = check_samples(x.shape[0]) if samples is None else samples
        m, lv = model.encoder(x)
        chunks = []
        for start in range(0, S, 8):  # chunks of draws: at most 8 decoder passes in memory
            eps = draws(seed + start, min(8, S - start), x.shape[0], m.shape[-1])
            chunks.append(_reconstruction(model, x, m + torch.exp(0.5 * lv) * eps))
        per = torch.cat(chunks, 0)  # (S, n)
        kl = 0.5 * (m * m + torch.exp(lv) - 1.0 - lv).sum(-1)
        value = float((per.mean(0) - kl).sum())
        se = math.sqrt(float(per.var(0).sum()) / S) if S > 1 else 0.0
    return value, se


def row_progress(model: AuditedModel, x: torch.Tensor) -> torch.Tensor:
    """Each row's ``k = -mean_j log(scale_j^2)`` of the output distribution at the encoder
    mean, shape ``(n,)`` (a logit-parameterised family: ``2 mean log|logit|``); NaN when it
    has neither."""
    m, _ = model.encoder(x)
    out = model.decoder.module(m)
    n = x.shape[0]
    if isinstance(out, tuple | list):
        # torch.broadcast_tensors (torch/functional.py) carries no annotations
        pair: tuple[torch.Tensor, ...] = torch.broadcast_tensors(  # type: ignore[no-untyped-call]
            out[0], out[1]
        )
        return -pair[1].reshape(n, -1).mean(-1)
    base = out
    while isinstance(base, tdist.Independent):
        base = base.base_dist
    if hasattr(base, "scale"):
        return -2.0 * torch.log(base.scale).reshape(n, -1).mean(-1)
    if "logits" in vars(base):
        return 2.0 * torch.log(torch.abs(base.logits) + 1e-30).reshape(n, -1).mean(-1)
    return torch.full((n,), math.nan, dtype=x.dtype)


def progress(model: AuditedModel, x: torch.Tensor) -> torch.Tensor:
    """``k`` averaged over the rows (:func:`row_progress`)."""
    try:
        return row_progress(model, x).mean()
    except (WellposedInputError, RuntimeError, AttributeError, TypeError):
        return torch.tensor(math.nan, dtype=x.dtype)


@contextmanager
def no_validation() -> Iterator[None]:
    """Distributions skip argument validation (data-dependent checks cannot be batched by
    ``torch.func``); the user's setting is restored."""
    saved = tdist.Distribution._validate_args
    tdist.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        tdist.Distribution.set_default_validate_args(saved)


def loc_log_scale(out: object) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(location, log scale)`` of a decoder output (a ``(mean, log_var)`` tuple or a
    location-scale distribution), flattened; None for other families."""
    if isinstance(out, tuple | list):
        mean, log_var = torch.broadcast_tensors(out[0], out[1])  # type: ignore[no-untyped-call]
        return mean.reshape(-1), 0.5 * log_var.reshape(-1)
    base = out
    while isinstance(base, tdist.Independent):
        base = base.base_dist
    loc, scale = getattr(base, "loc", None), getattr(base, "scale", None)
    if isinstance(loc, torch.Tensor) and isinstance(scale, torch.Tensor):
        loc, scale = torch.broadcast_tensors(loc, scale)  # type: ignore[no-untyped-call]
        return loc.reshape(-1), torch.log(scale).reshape(-1)
    return None
