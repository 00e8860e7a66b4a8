"""One interface over the three evaluation lines: ``elbo`` and ``log_likelihood``.

``method="exact"`` uses :mod:`wellposed.lines.exact` (closed forms; linear-Gaussian decoders),
``"quadrature"`` uses :mod:`wellposed.lines.quadrature` (scipy; any decoder with a 1-D latent),
``"mc"`` uses :mod:`wellposed.lines.montecarlo` (torch; any decoder, cpu or cuda).
Every call returns an :class:`Estimate` in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from wellposed.errors import WellposedInputError
from wellposed.lines import exact, montecarlo, quadrature
from wellposed.models.networks import Decoder, LinearGaussianDecoder
from wellposed.models.protocol import ModuleDecoder, conform
from wellposed.models.validate import check_encoder

__all__ = ["METHODS", "Estimate", "elbo", "log_likelihood"]

METHODS = ("exact", "quadrature", "mc")


@dataclass(frozen=True)
class Estimate:
    """An objective value from one evaluation line.

    ``se`` is the Monte Carlo standard error (``mc``), the integration error bound
    (``quadrature``) or 0 (``exact``); ``n_samples``/``seed``/``device`` are set for ``mc``,
    and ``se_batch``: the standard error again, by batch means of the same draws.
    """

    value: float
    per_point: np.ndarray = field(repr=False)
    method: str
    se: float = 0.0
    n_samples: int | None = None
    seed: int | None = None
    device: str | None = None
    se_batch: float | None = None


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise WellposedInputError(f"method must be one of {METHODS}, got {method!r}")


def _no_closed_form(decoder: Decoder) -> WellposedInputError:
    return WellposedInputError(
        f"no closed form for {type(decoder).__name__}: use method='quadrature' (1-D latent) "
        "or method='mc'"
    )


def _conformed(
    decoder: object, encoder: object, data: object, method: str
) -> tuple[Decoder, torch.nn.Module | None]:
    """Any module pair through the model protocol (:mod:`wellposed.models.protocol`); a
    wrapped user module has only the Monte Carlo line."""
    dec, enc = conform(decoder, encoder, data)  # type: ignore[arg-type]
    if isinstance(dec, ModuleDecoder) and method != "mc":
        raise WellposedInputError(
            f"method={method!r} needs one of the harness's own decoders; for your "
            f"{type(decoder).__name__} use method='mc'"
        )
    return dec, enc


def _linear_arrays(decoder: LinearGaussianDecoder) -> tuple[np.ndarray, ...]:
    return tuple(a.detach().cpu().numpy() for a in (decoder.W, decoder.b, decoder.log_var_vector))


def _from_mc(res: montecarlo.MCResult) -> Estimate:
    return Estimate(
        res.value,
        res.per_point.numpy(),
        "mc",
        res.se,
        res.n_samples,
        res.seed,
        res.device,
        res.se_batch,
    )


def elbo(
    decoder: torch.nn.Module,
    encoder: torch.nn.Module | None,
    data: object,
    *,
    method: str = "exact",
    samples: int = 1000,
    seed: int = 0,
    device: str = "auto",
) -> Estimate:
    """ELBO ``sum_i E_q[log p(x_i|t)] - KL(q(t|x_i) || N(0, I))`` by the chosen line.

    ``decoder`` / ``encoder``: the harness's networks or any module pair that follows the
    model protocol (:mod:`wellposed.models.protocol`; user modules: ``method="mc"``).  A
    construction without an encoder (``encoder=None``) has no ELBO: an input error.
    """
    _check_method(method)
    if encoder is None:
        raise WellposedInputError(
            "the ELBO needs an encoder; this construction has none "
            "(evaluate its log_likelihood instead)"
        )
    decoder, conformed = _conformed(decoder, encoder, data, method)
    assert conformed is not None
    encoder = conformed
    x = decoder.check_data(data)
    check_encoder(decoder, encoder, x)
    if method == "mc":
        res = montecarlo.elbo_mc(decoder, encoder, x, samples=samples, seed=seed, device=device)
        return _from_mc(res)
    if method == "quadrature":
        per, err = quadrature.elbo_quadrature(decoder, encoder, x)
        return Estimate(float(per.sum()), per, "quadrature", float(err.sum()))
    if not isinstance(decoder, LinearGaussianDecoder):
        raise _no_closed_form(decoder)
    with torch.no_grad():
        m, lv = (a.cpu().numpy() for a in encoder(x))
    W, b, log_var = _linear_arrays(decoder)
    xn = x.numpy()
    per = exact.linear_expected_log_lik(xn, W, b, log_var, m, lv) - exact.gaussian_kl(m, lv)
    return Estimate(float(per.sum()), per, "exact")


def log_likelihood(
    decoder: torch.nn.Module,
    data: object,
    *,
    method: str = "exact",
    encoder: torch.nn.Module | None = None,
    samples: int = 1000,
    seed: int = 0,
    device: str = "auto",
) -> Estimate:
    """Log-likelihood ``sum_i log int p(x_i|t) N(t|0,I) dt`` by the chosen line.

    ``mc`` is the IWAE estimate with ``K = samples`` and proposal ``encoder`` (prior if None).
    """
    _check_method(method)
    decoder, encoder = _conformed(decoder, encoder, data, method)
    x = decoder.check_data(data)
    if method == "mc":
        res = montecarlo.iwae_mc(decoder, x, encoder, samples=samples, seed=seed, device=device)
        return _from_mc(res)
    if method == "quadrature":
        per, err = quadrature.log_likelihood_quadrature(decoder, x)
        return Estimate(float(per.sum()), per, "quadrature", float(err.sum()))
    if not isinstance(decoder, LinearGaussianDecoder):
        raise _no_closed_form(decoder)
    per = exact.linear_log_marginal(x.numpy(), *_linear_arrays(decoder))
    return Estimate(float(per.sum()), per, "exact")
