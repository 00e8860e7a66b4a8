"""One training run: Adam on the ELBO in float32, evaluated in float64 at log-spaced steps.

:func:`train_run` trains one :class:`RunConfig` (data set x objective x seed) and returns a
JSON-able dict: the configuration and its seeds, the metrics at every logged step
(:func:`evaluate`) and of the untrained model (``initial``), the final per-coordinate decoder
log-variances, the largest minibatch objective seen at any step, the training objective
against its float64 reference at the initial and the trained parameters
(``objective_check``, :func:`wellposed.training.reference.objective_check`) and the
timing.  Training is float32 (speed); every reported
number is computed on a float64 copy of the model with its own seeded noise:

* ``train_elbo`` / ``held_elbo``: ``(1/n) sum_i E_q[log p(x_i|t)] - KL(q(t|x_i) || N(0,I))``
  with ``S`` reparameterised draws per point and the closed-form KL;
* ``held_iwae``: ``(1/n) sum_i log (1/K) sum_k p(x_i, t_k) / q(t_k | x_i)`` (Burda et al.
  2016), a tighter lower bound on the held-out log-likelihood (the held-out metrics at every
  other logged step, counting back from the last: they are most of the evaluation's cost);
* ``min_lv`` / ``median_lv`` / ``min_lv_flagged``: decoder ``log sigma^2`` at the encoder
  means of the training points (all coordinates, and the coordinates the data audit flags
  as constant, docs/claims.md L6);
* ``flagged_ll``: ``E_q log p(x_j | t)`` per constant coordinate (mean over those
  coordinates, the training points and the draws), against its supremum in T2;
* ``spikes``: training points whose decoded mean is within ``tol`` of the point in every
  coordinate (half a grid step on quantised data, else 0.01);
* ``sample_nn``: median RMS distance of 500 prior samples' decoded means to their nearest
  training point, next to the same distance for the held-out points (memorisation, Mattei &
  Frellsen 2018).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from wellposed.audit.data import audit_data
from wellposed.errors import WellposedInputError
from wellposed.training.data import TrainingData, load_training_data
from wellposed.training.objectives import TrainingModel, objective
from wellposed.training.reference import CHECK_POINTS, objective_check

__all__ = ["RunConfig", "evaluate", "log_steps", "make_model", "train_run", "train_step"]


@dataclass(frozen=True)
class RunConfig:
    """One run.  ``data`` is a built-in set name or a ``.npy`` path (``data_is_path``)."""

    data: str
    objective: str
    seed: int
    steps: int = 3000
    batch: int = 100
    lr: float = 1e-3
    latent_dim: int = 5
    hidden: int = 200
    log_points: int = 12
    iwae_k: int = 100
    eval_samples: int = 4
    device: str = "cpu"
    data_is_path: bool = False

    def load(self) -> TrainingData:
        if self.data_is_path:
            return load_training_data(path=self.data)
        return load_training_data(self.data)


def log_steps(steps: int, points: int) -> list[int]:
    """Log-spaced steps from 10 (or 1) to ``steps``, distinct, ``steps`` always included."""
    first = min(10, steps)
    grid = np.unique(np.round(np.geomspace(first, steps, max(2, points))).astype(int))
    return [int(s) for s in grid]


def make_model(cfg: RunConfig, data: TrainingData) -> TrainingModel:
    """The float32 model of ``cfg`` on its device (weights drawn from ``cfg.seed``)."""
    obj = objective(cfg.objective)
    obj.check(data)
    model = TrainingModel(
        obj,
        data.dim,
        latent_dim=cfg.latent_dim,
        hidden=cfg.hidden,
        seed=cfg.seed,
        levels=data.levels,
    )
    return model.to(device=cfg.device, dtype=torch.float32)


def train_step(
    model: TrainingModel,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    idx: torch.Tensor,
    eps: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """One Adam step on the minibatch ``x[idx]`` (one reparameterised draw ``eps``);
    returns the minibatch ELBO per point (detached)."""
    obj = model.objective
    xb = obj.prepare(x[idx], model.levels, generator)
    elbo = model.elbo(xb, eps).mean()
    opt.zero_grad(set_to_none=True)
    (-elbo).backward()  # type: ignore[no-untyped-call]
    opt.step()
    return elbo.detach()


def _nearest_rms(points: torch.Tensor, ref: torch.Tensor) -> float:
    """Median over ``points`` of the RMS distance to the nearest row of ``ref``."""
    d2 = torch.cdist(points, ref).min(dim=1).values ** 2 / points.shape[1]
    return float(torch.sqrt(d2).median())


def evaluate(
    model: TrainingModel,
    data: TrainingData,
    cfg: RunConfig,
    step: int,
    flagged: list[int],
    final: bool = False,
    held: bool = True,
) -> dict[str, Any]:
    """The float64 metrics of the module docstring for ``model`` (not modified); with
    ``held=False`` the held-out ELBO and IWAE (most of the cost: K draws per point) are
    left out."""
    m64 = copy.deepcopy(model).to(dtype=torch.float64)
    dev = next(m64.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(cfg.seed * 1_000_003 + step)
    obj = m64.objective
    out: dict[str, Any] = {"step": step}
    with torch.no_grad():
        xtr = torch.as_tensor(data.train, dtype=torch.float64, device=dev)
        xho = torch.as_tensor(data.held_out, dtype=torch.float64, device=dev)
        for name, x in (("train", xtr), ("held", xho))[: 2 if held else 1]:
            xp = obj.prepare(x, data.levels, gen)
            eps = torch.randn(
                (cfg.eval_samples, *x.shape[:1], cfg.latent_dim),
                generator=gen,
                dtype=torch.float64,
                device=dev,
            )
            t, kl = m64.encode(xp, eps)
            ll = m64.log_lik_coords(xp, t)
            out[f"{name}_elbo"] = float((ll.sum(-1).mean(0) - kl).mean())
            if name == "train":
                out["kl"] = float(kl.mean())
                # E_q log p(x_j | t) on the constant coordinates, per coordinate
                out["flagged_ll"] = float(ll[..., flagged].mean()) if flagged else None
        if held:
            xp = obj.prepare(xho, data.levels, gen)
            eps = torch.randn(
                (cfg.iwae_k, len(xho), cfg.latent_dim),
                generator=gen,
                dtype=torch.float64,
                device=dev,
            )
            logw = m64.iwae_log_weights(xp, eps)
            out["held_iwae"] = float((torch.logsumexp(logw, 0) - math.log(cfg.iwae_k)).mean())
        m, _ = m64.encoder(obj.prepare(xtr, data.levels, gen))
        _, log_var = m64.heads(m)
        if log_var is not None:
            # contiguous: torch's median over an expanded (stride-0) tensor, as the shared
            # objective's is, returns garbage along dim 0 (seen with torch 2.13 on CPU)
            log_var = log_var.contiguous()
            out["min_lv"] = float(log_var.min())
            out["median_lv"] = float(log_var.median())
            out["min_lv_flagged"] = float(log_var[:, flagged].min()) if flagged else None
        tol = 0.5 / data.levels if data.levels else 0.01
        err = (m64.mean(m) - xtr).abs().amax(dim=1)
        out["spikes"] = int((err < tol).sum())
        if final:
            if log_var is not None:
                out["lv_coord_median"] = [float(v) for v in log_var.median(dim=0).values]
                out["lv_coord_min"] = [float(v) for v in log_var.min(dim=0).values]
            t = torch.randn((500, cfg.latent_dim), generator=gen, dtype=torch.float64, device=dev)
            out["sample_nn"] = _nearest_rms(m64.mean(t), xtr)
            out["held_nn"] = _nearest_rms(xho, xtr)
    return out


def train_run(cfg: RunConfig, on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Train ``cfg`` and return its record (module docstring).  Seeds: the weights from
    ``cfg.seed`` (:class:`TrainingModel`), minibatches and noise from a generator seeded
    with ``cfg.seed``, evaluation noise from ``seed * 1000003 + step``."""
    if cfg.steps < 1 or cfg.batch < 1:
        raise WellposedInputError("steps and batch must be positive integers")
    data = cfg.load()
    audit = audit_data(data.train)
    flagged = sorted(
        {j for f in audit.findings if f.kind == "constant_coordinate" for j in f.where}
    )
    torch.manual_seed(cfg.seed)
    model = make_model(cfg, data)
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    x = torch.as_tensor(data.train, dtype=torch.float32, device=dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    check_x, check_seed = data.train[:CHECK_POINTS], cfg.seed * 1_000_003 + 7
    initial = evaluate(model, data, cfg, 0, flagged, held=False)
    checks = {"initial": objective_check(model, check_x, check_seed)}
    marks = log_steps(cfg.steps, cfg.log_points)
    logs: list[dict[str, Any]] = []
    batch_max = -math.inf
    stopped: int | None = None
    start = time.perf_counter()
    train_seconds = 0.0
    for step in range(1, cfg.steps + 1):
        t0 = time.perf_counter()
        idx = torch.randint(len(x), (min(cfg.batch, len(x)),), generator=gen, device=dev)
        eps = torch.randn((1, len(idx), cfg.latent_dim), generator=gen, device=dev)
        value = float(train_step(model, opt, x, idx, eps, gen))
        train_seconds += time.perf_counter() - t0
        if not math.isfinite(value):
            stopped = step  # float32 overflow: stop, keep what was logged
            break
        batch_max = max(batch_max, value)
        if step in marks:
            # held-out metrics at every other logged step, counting back from the last one
            held = (len(marks) - 1 - marks.index(step)) % 2 == 0
            logs.append(
                evaluate(model, data, cfg, step, flagged, final=step == cfg.steps, held=held)
            )
        if on_step is not None:
            on_step(step)
    if stopped is not None and logs:
        logs[-1]["final"] = True
    checks["trained"] = objective_check(model, check_x, check_seed)
    obj = objective(cfg.objective)
    return {
        "config": asdict(cfg),
        "data_name": data.name,
        "data_shape": list(data.shape),
        "n_train": len(data.train),
        "n_held": len(data.held_out),
        "dim": data.dim,
        "levels": data.levels,
        "split_seed": data.split_seed,
        "flagged": flagged,
        "bound": obj.bound_per_point(data),
        "batch_max": batch_max,
        "initial": initial,
        "objective_check": checks,
        "stopped_at": stopped,
        "log": logs,
        "seconds": time.perf_counter() - start,
        "steps_per_s": (step if stopped is None else stopped - 1) / max(train_seconds, 1e-9),
    }
