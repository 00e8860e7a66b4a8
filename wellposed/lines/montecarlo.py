"""torch Monte Carlo estimators (the ``mc`` evaluation line), vectorized over samples and points.

* ELBO: ``sum_i (1/S) sum_s log p(x_i | t_is) - KL(q_i || p)`` with ``t_is = m_i + s_i eps_is``
  (reparameterization, Kingma & Welling 2014) and the KL in closed form (``kl="analytic"``), or
  ``(1/S) sum_s [log p(x_i|t) + log p(t) - log q(t)]`` (``kl="sampled"``). The standard error is
  ``std_s(sum_i term_is) / sqrt(S)``.
* IWAE (Burda et al. 2016): ``log (1/K) sum_k w_k``, ``w = p(x|t) p(t) / q(t)``, a lower bound
  on ``log p(x)`` that tightens as K grows.  Standard error by the delta method,
  ``sqrt(Var(w) / K) / E[w]`` computed in log space, or across replicates when ``replicates > 1``.
  With ``K = 1`` and common random numbers it equals the sampled-KL ELBO exactly.
* Every estimate also carries ``se_batch``, its standard error by *batch means* from the same
  draws (no extra samples): the samples cut into ``BATCHES`` contiguous batches, the spread
  of the batch means (of the IWAE weights, for one replicate) over ``sqrt(B)``, in numpy,
  sharing no code with ``se``.  :func:`wellposed.evidence.checks.agree_mc` holds ``se``
  against it, so an inflated or deflated standard error fails the gate.

Randomness: one ``torch.Generator`` seeded with ``seed`` on the evaluation device.  Each
Monte Carlo sample consumes one row of ``n * d`` standard normals padded to a multiple of 16
(torch's CPU sampler transforms uniforms in blocks of 16), so on the CPU the draws of sample
``s`` do not depend on how the samples are chunked: ``elbo_mc(samples=S)`` and
``iwae_mc(samples=1, replicates=S)`` see the same ``eps`` (common random numbers), and a seed
reproduces the same estimate on the same device type.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from wellposed.errors import WellposedInputError
from wellposed.models.networks import Decoder, prior_log_prob
from wellposed.models.protocol import conform
from wellposed.models.validate import DTYPE, check_encoder

_M = TypeVar("_M", bound=torch.nn.Module)

__all__ = ["BATCHES", "MCResult", "elbo_mc", "iwae_batch_se", "iwae_mc", "resolve_device"]

_CHUNK_ELEMENTS = 2**22  # samples x points x max(D, d) per chunk (32 MiB of float64 per array)
#: batches of the batch-means standard error (``se_batch``; ~16% relative spread around ``se``)
BATCHES = 20


@dataclass(frozen=True)
class MCResult:
    """A Monte Carlo estimate: total ``value``, per-point values, standard error, sample count,
    and the standard error again by batch means (``se_batch``, NaN where it cannot be formed)."""

    value: float
    per_point: torch.Tensor
    se: float
    n_samples: int
    device: str
    seed: int
    se_batch: float = math.nan


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> cuda when available else cpu; ``"cuda"`` without CUDA is an input error."""
    if device not in {"auto", "cpu", "cuda"}:
        raise WellposedInputError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise WellposedInputError(
            "device='cuda' but torch.cuda.is_available() is False: install the CUDA build of "
            "torch (README, 'torch: CPU by default, CUDA when you have it') or pass device='cpu'"
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _on(module: _M, dev: torch.device) -> _M:
    return module if dev.type == "cpu" else copy.deepcopy(module).to(dev)


def _gaussian_log_q(eps: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``log N(m + s eps | m, s^2)`` summed over the latent axis."""
    return -0.5 * (eps.shape[-1] * math.log(2 * math.pi) + (eps * eps).sum(-1) + log_var.sum(-1))


def _chunk(total: int, per_sample: int) -> int:
    return max(1, min(total, _CHUNK_ELEMENTS // max(per_sample, 1)))


def _standard_normal(
    gen: torch.Generator, count: int, n: int, d: int, dev: torch.device
) -> torch.Tensor:
    """``count`` samples of ``(n, d)`` standard normals, chunking-invariant (module doc)."""
    row = n * d
    padded = -(-row // 16) * 16
    eps = torch.randn((count, padded), generator=gen, dtype=DTYPE, device=dev)
    return eps[:, :row].reshape(count, n, d)


def _log_weights(
    dec: Decoder,
    x: torch.Tensor,
    mean: torch.Tensor,
    log_var: torch.Tensor,
    std: torch.Tensor,
    gen: torch.Generator,
    count: int,
    dev: torch.device,
) -> torch.Tensor:
    """``log w = log p(x|t) + log p(t) - log q(t)`` for ``count`` fresh samples: ``(count, n)``."""
    n, d = mean.shape
    eps = _standard_normal(gen, count, n, d, dev)
    t = mean + std * eps
    return dec.log_prob(x, t) + prior_log_prob(t) - _gaussian_log_q(eps, log_var)


def _check_samples(samples: object, name: str) -> int:
    if (
        isinstance(samples, bool)
        or not isinstance(samples, (int, float))
        or samples != int(samples)
        or samples < 1
    ):
        raise WellposedInputError(
            f"{name} must be a positive integer (e.g. {name}=1000), got {samples!r}"
        )
    return int(samples)


def _mean_se(rows: torch.Tensor) -> float:
    """``std(rows) / sqrt(S)`` (two-pass, no ``E[x^2] - E[x]^2`` cancellation), computed on
    ``rows / max|rows|`` and scaled back, so rows of size ``1e300`` do not overflow the
    squares.  Constant rows (a decoder that ignores ``t``, at any scale) give exactly 0;
    rows with a ``-inf`` (a sample whose log-density overflowed) make the estimate ``-inf``
    whatever the other samples, so its SE is 0 too (a deterministic value, the agreement
    checks treat it as a code path); a ``+inf`` or NaN row gives ``inf`` (no SE exists)."""
    rows = rows.reshape(-1)
    S = rows.numel()
    if S < 2 or bool(torch.all(rows == rows[0])):
        return 0.0
    if not bool(torch.all(torch.isfinite(rows))):
        broken = bool(torch.isnan(rows).any()) or bool(torch.isposinf(rows).any())
        return math.inf if broken else 0.0
    scale = float(rows.abs().max())
    z = rows / scale
    centred = z - z.mean()
    var = float((centred * centred).sum()) / (S - 1)
    return scale * math.sqrt(var / S)


def _batches(count: int) -> tuple[int, float]:
    """Batch size for ``count`` samples in :data:`BATCHES` batches (the remainder left out)
    and the factor ``sqrt(used / count)`` that scales the batch SE to all ``count`` samples."""
    size = count // BATCHES
    return size, math.sqrt(size * BATCHES / count) if size else math.nan


def _batch_means_se(rows: torch.Tensor) -> float:
    """The standard error of the mean of ``rows`` by batch means (numpy; no code shared with
    :func:`_mean_se`): ``std(batch means) / sqrt(B)``; the edge cases as there (constant or
    ``-inf`` rows 0, NaN / ``+inf`` rows ``inf``), NaN with fewer rows than batches."""
    r = rows.detach().cpu().numpy().astype(np.float64).ravel()
    size, factor = _batches(r.size)
    if size == 0:
        return math.nan
    if np.all(r == r[0]):
        return 0.0
    if not np.all(np.isfinite(r)):
        return math.inf if bool(np.any(np.isnan(r) | (r == np.inf))) else 0.0
    means = r[: size * BATCHES].reshape(BATCHES, size).mean(axis=1)
    top = float(np.max(np.abs(means))) or 1.0
    spread = float(np.std(means / top, ddof=1)) * top
    return spread / math.sqrt(BATCHES) * factor


def iwae_batch_se(log_w: torch.Tensor) -> float:
    """The delta-method standard error of one IWAE replicate by batch means: the ``K`` weights
    of each point (``log_w``: ``(K, n)``) cut into :data:`BATCHES` batches, the relative
    spread of the batch means of ``w`` (in log space, numpy), summed over points in variance."""
    lw = log_w.detach().cpu().numpy().astype(np.float64)
    size, factor = _batches(lw.shape[0])
    if size == 0:
        return math.nan
    batched = lw[: size * BATCHES].reshape(BATCHES, size, -1)
    top = np.max(batched, axis=(0, 1))
    live = np.isfinite(top)  # a point whose every weight is 0 has no spread
    with np.errstate(invalid="ignore", under="ignore"):
        means = np.exp(batched - np.where(live, top, 0.0)).mean(axis=1)  # (B, n)
    means = means[:, live]
    if not means.size:
        return 0.0
    rel_var = np.var(means, axis=0, ddof=1) / (BATCHES * np.mean(means, axis=0) ** 2)
    return math.sqrt(float(np.sum(rel_var))) * factor


@torch.no_grad()
def elbo_mc(
    decoder: Decoder,
    encoder: torch.nn.Module,
    x: torch.Tensor,
    *,
    samples: int = 1000,
    seed: int = 0,
    device: str = "auto",
    kl: str = "analytic",
) -> MCResult:
    """Monte Carlo ELBO with reparameterized samples; see the module doc for the formulas."""
    samples = _check_samples(samples, "samples")
    if kl not in {"analytic", "sampled"}:
        raise WellposedInputError(f"kl must be 'analytic' or 'sampled', got {kl!r}")
    decoder, conformed = conform(decoder, encoder, x)  # any protocol-conforming pair
    encoder = encoder if conformed is None else conformed
    check_encoder(decoder, encoder, x)
    dev = resolve_device(device)
    dec, enc, x = _on(decoder, dev), _on(encoder, dev), x.to(dev, DTYPE)
    mean, log_var = enc(x)
    std = torch.exp(0.5 * log_var)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    n, d = mean.shape
    step = _chunk(samples, n * max(x.shape[1], d))
    sums = torch.zeros(n, dtype=DTYPE, device=dev)
    rows = []  # sum_i term_is for every sample s: S floats, for the standard error
    for start in range(0, samples, step):
        eps = _standard_normal(gen, min(step, samples - start), n, d, dev)
        t = mean + std * eps
        terms = dec.log_prob(x, t)
        if kl == "sampled":
            terms = terms + prior_log_prob(t) - _gaussian_log_q(eps, log_var)
        sums += terms.sum(0)
        rows.append(terms.sum(-1))
    per_point = sums / samples
    if kl == "analytic":
        per_point = per_point - 0.5 * (mean**2 + std**2 - 1.0 - log_var).sum(-1)
    all_rows = torch.cat(rows)
    se, se_batch = _mean_se(all_rows), _batch_means_se(all_rows)
    return MCResult(
        float(per_point.sum()), per_point.cpu(), se, samples, dev.type, int(seed), se_batch
    )


@torch.no_grad()
def iwae_mc(
    decoder: Decoder,
    x: torch.Tensor,
    encoder: torch.nn.Module | None = None,
    *,
    samples: int = 1000,
    replicates: int = 1,
    seed: int = 0,
    device: str = "auto",
) -> MCResult:
    """IWAE estimate of ``log p(x)`` with ``K = samples`` importance samples per replicate.

    The proposal is ``encoder`` (``q(t | x)``) or, when ``None``, the prior.  With
    ``replicates = R > 1`` the value is the mean of R independent IWAE estimates and the
    standard error is their spread; with ``R = 1`` it is the delta-method SE.
    """
    K = _check_samples(samples, "samples")
    R = _check_samples(replicates, "replicates")
    dev = resolve_device(device)
    decoder, encoder = conform(decoder, encoder, x)  # any protocol-conforming pair
    dec, x = _on(decoder, dev), x.to(dev, DTYPE)
    n = x.shape[0]
    d = int(dec.latent_dim)
    if encoder is None:
        mean = torch.zeros(n, d, dtype=DTYPE, device=dev)
        log_var = torch.zeros(n, d, dtype=DTYPE, device=dev)
    else:
        check_encoder(dec, encoder, x)
        mean, log_var = _on(encoder, dev)(x)
    std = torch.exp(0.5 * log_var)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    per_sample = n * max(x.shape[1], d)
    room = _chunk(K * R, per_sample)
    if room >= K:
        # whole replicates per chunk: vectorized over replicates as well as samples
        reps = room // K
        estimates: list[torch.Tensor] = []
        lse2_last: torch.Tensor | None = None
        last_w = torch.zeros(0, n, dtype=DTYPE)  # the last replicate's log-weights
        for start in range(0, R, reps):
            count = min(reps, R - start)
            log_w = _log_weights(dec, x, mean, log_var, std, gen, count * K, dev)
            log_w = log_w.reshape(count, K, n)
            estimates.append(torch.logsumexp(log_w, 1) - math.log(K))
            lse2_last = torch.logsumexp(2.0 * log_w[-1], 0)
            last_w = log_w[-1]
        stacked = torch.cat(estimates)
        lse1_last = stacked[-1] + math.log(K)
    else:
        step = _chunk(K, per_sample)
        rows = []
        for _ in range(R):
            lse1 = torch.full((n,), -math.inf, dtype=DTYPE, device=dev)
            lse2 = torch.full((n,), -math.inf, dtype=DTYPE, device=dev)
            for start in range(0, K, step):
                log_w = _log_weights(dec, x, mean, log_var, std, gen, min(step, K - start), dev)
                lse1 = torch.logaddexp(lse1, torch.logsumexp(log_w, 0))
                lse2 = torch.logaddexp(lse2, torch.logsumexp(2.0 * log_w, 0))
            rows.append(lse1 - math.log(K))
        stacked, lse1_last, lse2_last = torch.stack(rows), lse1, lse2
    per_point = stacked.mean(0)
    # a replicate chunked over K keeps no weights: its batch SE is NaN (never checked as ok)
    se_batch = math.nan if room < K else iwae_batch_se(last_w)
    if R > 1:
        se = _mean_se(stacked.sum(-1))
        se_batch = _batch_means_se(stacked.sum(-1))
    elif K > 1:
        assert lse2_last is not None  # R >= 1 replicates ran
        # delta method: Var(mean w)/E[w]^2 = (E[w^2]/E[w]^2 - 1)/(K-1) (unbiased), in log space;
        # a point whose every weight is 0 (log w = -inf: the estimate is -inf) has none
        ratio = lse2_last + math.log(K) - 2.0 * lse1_last
        ratio = torch.where(torch.isneginf(lse1_last), torch.zeros_like(ratio), ratio)
        rel_var = torch.expm1(ratio).clamp(min=0.0)
        se = math.sqrt(float((rel_var / (K - 1)).sum()))
    else:
        se, se_batch = 0.0, 0.0
    return MCResult(
        float(per_point.sum()), per_point.cpu(), se, K * R, dev.type, int(seed), se_batch
    )
