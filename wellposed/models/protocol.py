"""The model protocol: any torch module pair as a decoder / encoder the evaluation lines accept.

What a user's modules must return (docs/your-model.md):

* **decoder**: ``decoder(t)`` for latents ``t`` of shape ``(..., n, d)`` returns a
  ``torch.distributions.Distribution`` over ``x`` with batch shape ``(..., n)`` and event
  shape ``(D,)`` (e.g. ``Independent(Normal(mu, sigma), 1)``) or batch shape ``(..., n, D)``
  and event shape ``()`` (e.g. ``Normal(mu, sigma)``, ``Bernoulli(logits=l)``; the
  coordinates are then summed), **or** the tuple ``(mean, log_var)`` of two tensors of shape
  ``(..., n, D)``: a Gaussian ``N(mean, diag exp(log_var))`` (Kingma & Welling App. C.2).
* **encoder**: ``encoder(x)`` for data ``x`` of shape ``(n, D)`` returns a Gaussian over the
  latents, ``Normal(m, s)`` or ``Independent(Normal(m, s), 1)`` with ``m`` of shape
  ``(n, d)``, or the tuple ``(m, log s^2)``.

The harness's own networks (:mod:`wellposed.models.networks`) satisfy the protocol already
and are used as they are.  :func:`conform` wraps anything else in :class:`ModuleDecoder` /
:class:`ModuleEncoder`, float64 copies that the evaluation lines use like their own
networks (``log_prob(x, t)`` summed over coordinates, ``check_data``, ``latent_dim``,
``data_dim``).  A module that does not conform raises :class:`WellposedInputError` with the
return value it should have.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.distributions as tdist
from torch import nn

from wellposed.errors import WellposedInputError
from wellposed.models.networks import Decoder
from wellposed.models.validate import DTYPE, as_data

__all__ = [
    "DECODER_CONTRACT",
    "ENCODER_CONTRACT",
    "ModuleDecoder",
    "ModuleEncoder",
    "WellposedInputError",
    "conform",
    "conform_decoder",
    "conform_encoder",
    "decoder_distribution",
    "encoder_gaussian",
    "family_name",
    "log_var_floor_bound",
]

DECODER_CONTRACT = (
    "a decoder must map latents t of shape (..., n, d) to a torch.distributions.Distribution "
    "over x (e.g. torch.distributions.Independent(Normal(mu, sigma), 1) or "
    "Bernoulli(logits=l)) or to the tuple (mean, log_var) of two tensors of shape (..., n, D)"
)
ENCODER_CONTRACT = (
    "an encoder must map data x of shape (n, D) to a Gaussian over the latents: "
    "torch.distributions.Normal(m, s), Independent(Normal(m, s), 1), or the tuple "
    "(m, log_var) of two tensors of shape (n, d)"
)


def _is_pair(out: object) -> bool:
    return (
        isinstance(out, tuple | list)
        and len(out) == 2
        and all(isinstance(o, torch.Tensor) for o in out)
    )


def _broadcast(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (a + b).shape  # the broadcast shape (both are finite-shaped tensors)
    return a.expand(shape), b.expand(shape)


def decoder_distribution(out: object, *, who: str = "decoder") -> tdist.Distribution:
    """The decoder's output as a ``Distribution``; a ``(mean, log_var)`` tuple becomes
    ``Independent(Normal(mean, exp(log_var / 2)), 1)``."""
    if isinstance(out, tdist.Distribution):
        return out
    if isinstance(out, tuple | list) and _is_pair(out):
        mean, log_var = _broadcast(out[0], out[1])
        return tdist.Independent(
            tdist.Normal(mean, torch.exp(0.5 * log_var), validate_args=False), 1
        )
    raise WellposedInputError(f"{who} returned {_describe(out)}; {DECODER_CONTRACT}")


def encoder_gaussian(out: object, *, who: str = "encoder") -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's output as ``(m, log s^2)`` (Gaussian ``q(t | x)``, diagonal)."""
    if isinstance(out, tuple | list) and _is_pair(out):
        return _broadcast(out[0], out[1])
    base = out.base_dist if isinstance(out, tdist.Independent) else out
    if isinstance(base, tdist.Normal):
        return base.loc, 2.0 * torch.log(base.scale)
    raise WellposedInputError(f"{who} returned {_describe(out)}; {ENCODER_CONTRACT}")


def family_name(dist: tdist.Distribution) -> str:
    """The output family: the class name, looking through ``Independent`` wrappers."""
    while isinstance(dist, tdist.Independent):
        dist = dist.base_dist
    return type(dist).__name__


def _describe(out: object) -> str:
    if isinstance(out, torch.Tensor):
        return f"a single tensor of shape {tuple(out.shape)}"
    if isinstance(out, tuple | list):
        return f"a {type(out).__name__} of {len(out)} item(s)"
    return f"an object of type {type(out).__name__}"


def _double(module: nn.Module) -> nn.Module:
    """A float64 copy in eval mode (the evidence path is float64, and the objective a
    deterministic function of the parameters: dropout off, batch norm on its running
    statistics); the user's module is left as it is."""
    return copy.deepcopy(module).to(DTYPE).eval()


class ModuleDecoder(Decoder):
    """A conforming user decoder seen as a harness :class:`~wellposed.models.networks.Decoder`.

    ``log_prob(x, t)`` is ``decoder_distribution(module(t)).log_prob(x)``, summed over the
    coordinates when the distribution's event shape is ``()``: shape ``(..., n)``.
    """

    family = "distribution"

    def __init__(
        self,
        module: nn.Module,
        *,
        latent_dim: int,
        data_dim: int | None = None,
        copy_module: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise WellposedInputError(
                f"the decoder must be a torch.nn.Module, got {type(module).__name__}; "
                f"{DECODER_CONTRACT}"
            )
        self.module = _double(module) if copy_module else module
        self.latent_dim = int(latent_dim)
        self.data_dim = int(data_dim) if data_dim is not None else 0

    def distribution(self, t: torch.Tensor) -> tdist.Distribution:
        """``p(x | t)`` as a Distribution (see :data:`DECODER_CONTRACT`)."""
        return decoder_distribution(self.module(t), who=type(self.module).__name__)

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        return self.distribution(t)

    def log_prob(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        dist = self.distribution(t)
        lp = dist.log_prob(x)
        if len(dist.event_shape) == 0:
            lp = lp.sum(-1)
        expected = t.shape[:-1]
        if tuple(lp.shape) != tuple(expected):
            raise WellposedInputError(
                f"{type(self.module).__name__}: log_prob of its distribution has shape "
                f"{tuple(lp.shape)}, expected {tuple(expected)} (one value per latent row); "
                f"{DECODER_CONTRACT}"
            )
        return lp

    def check_data(self, x: object) -> torch.Tensor:
        arr = as_data(x, self.data_dim) if self.data_dim else _as_2d(x)
        self.data_dim = int(arr.shape[1])
        return arr


def _as_2d(x: object) -> torch.Tensor:
    t = torch.as_tensor(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
    return as_data(t, int(t.shape[-1]) if t.ndim == 2 else 1)


class ModuleEncoder(nn.Module):
    """A conforming user encoder returning ``(m, log s^2)``, as the harness encoders do."""

    def __init__(self, module: nn.Module, *, copy_module: bool = True) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise WellposedInputError(
                f"the encoder must be a torch.nn.Module, got {type(module).__name__}; "
                f"{ENCODER_CONTRACT}"
            )
        self.module = _double(module) if copy_module else module

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, lv = encoder_gaussian(self.module(x), who=type(self.module).__name__)
        if m.ndim != 2 or m.shape[0] != x.shape[0]:
            raise WellposedInputError(
                f"{type(self.module).__name__} returned latents of shape {tuple(m.shape)} for "
                f"{x.shape[0]} data rows; expected (n, d) = ({x.shape[0]}, d); "
                f"{ENCODER_CONTRACT}"
            )
        return m, lv


def conform_encoder(encoder: nn.Module, *, copy_module: bool = True) -> nn.Module:
    """The harness's own encoders as they are; any other module wrapped in
    :class:`ModuleEncoder`."""
    if isinstance(encoder, ModuleEncoder) or _is_native_encoder(encoder):
        return encoder
    return ModuleEncoder(encoder, copy_module=copy_module)


def _is_native_encoder(encoder: object) -> bool:
    return type(encoder).__module__ == "wellposed.models.networks"


def conform_decoder(
    decoder: nn.Module,
    *,
    latent_dim: int | None = None,
    encoder: nn.Module | None = None,
    data: object = None,
    copy_module: bool = True,
) -> Decoder:
    """The harness's own decoders as they are; any other module wrapped in
    :class:`ModuleDecoder`.

    The latent size is ``latent_dim``, else the module's ``latent_dim`` attribute, else the
    width of the encoder's mean on ``data``; without any of these it is an input error.
    """
    if isinstance(decoder, Decoder):
        return decoder
    d = latent_dim if latent_dim is not None else getattr(decoder, "latent_dim", None)
    if d is None and encoder is not None and data is not None:
        x = _as_2d(data)
        with torch.no_grad():
            m, _ = conform_encoder(encoder, copy_module=copy_module)(x)
        d = int(m.shape[-1])
    if d is None or isinstance(d, bool) or int(d) < 1:
        raise WellposedInputError(
            f"cannot tell the latent size of {type(decoder).__name__}: give the module an "
            "attribute latent_dim = d, or pass an encoder"
        )
    return ModuleDecoder(
        decoder,
        latent_dim=int(d),
        data_dim=getattr(decoder, "data_dim", None),
        copy_module=copy_module,
    )


def conform(
    decoder: nn.Module,
    encoder: nn.Module | None = None,
    data: object = None,
    *,
    copy_module: bool = True,
) -> tuple[Decoder, nn.Module | None]:
    """``(decoder, encoder)`` as the evaluation lines use them (see the module doc)."""
    enc = None if encoder is None else conform_encoder(encoder, copy_module=copy_module)
    dec = conform_decoder(decoder, encoder=encoder, data=data, copy_module=copy_module)
    return dec, enc


def log_var_floor_bound(log_var_floor: float) -> float:
    """Per-coordinate supremum of a Gaussian log-density with ``log sigma^2 >= floor``:
    ``-(1/2)(log 2pi + floor)`` (docs/claims.md, L2 and F6)."""
    return -0.5 * (math.log(2.0 * math.pi) + log_var_floor)
