"""Attack steps per second of ``audit-model`` against a plain Adam loop, and per-example audits.

On the same model and data, in one process, timed round-robin (best of ``--rounds``):

* ``attack``: :func:`wellposed.audit.attack.attack` for ``--steps`` steps (fit stage, spike
  stages with their Gauss-Newton steps, line searches and records), steps per second;
* ``adam``: a plain float32 Adam loop on the same ELBO over minibatches of 64 rows, one draw,
  the training loop a user would write, steps per second.

The ratio ``attack / adam`` is printed, never asserted.  ``--examples`` also times the
audit of every case of ``tests/test_examples.py`` (the README's table) with the command's
defaults but the test's steps.  A script, never a test::

    python benchmarks/bench_audit_model.py [--model conv|mlp] [--n 256] [--steps 100]
                                           [--rounds 3] [--threads N] [--examples]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from wellposed.audit.attack import attack, build_model, load_factory  # noqa: E402
from wellposed.audit.model import TARGET_LOG_SCALE, audit_model  # noqa: E402

MODELS = {"conv": "examples.conv_logvar_28:factory", "mlp": "examples.c2_logvar_head:factory"}


def images(n: int) -> np.ndarray:
    """Smooth 28x28 blobs in (0.05, 0.95), flattened (as in tests/test_examples.py)."""
    rng = np.random.default_rng(0)
    u = np.linspace(-1, 1, 28)
    blobs = np.exp(
        -(
            (u[None, :, None] - rng.uniform(-0.5, 0.5, (n, 1, 1))) ** 2
            + (u[None, None, :] - rng.uniform(-0.5, 0.5, (n, 1, 1))) ** 2
        )
        / 0.1
    )
    return (0.05 + 0.9 * blobs).reshape(n, 784)


def time_attack(spec: str, X: np.ndarray, steps: int) -> float:
    """Steps per second of the attack (no target: it runs all ``steps``)."""
    model = build_model(load_factory(spec), X.shape[1])
    x = torch.as_tensor(X, dtype=torch.float64)
    start = time.perf_counter()
    trace = attack(model, x, level=math.inf, floor_target=math.inf, steps=steps)
    return trace.steps / (time.perf_counter() - start)


def time_adam(spec: str, X: np.ndarray, steps: int) -> float:
    """Steps per second of a plain float32 Adam loop on the minibatch ELBO."""
    dec, enc = load_factory(spec)()[:2]
    x = torch.as_tensor(X, dtype=torch.float32)
    opt = torch.optim.Adam([*dec.parameters(), *enc.parameters()], lr=1e-3)
    start = time.perf_counter()
    for step in range(steps):
        xb = x[torch.randperm(x.shape[0])[:64]]
        m, lv = enc(xb)
        t = m + torch.exp(0.5 * lv) * torch.randn_like(m)
        out = dec(t)
        lp = (
            out.log_prob(xb)
            if hasattr(out, "log_prob")
            else torch.distributions.Normal(out[0], torch.exp(0.5 * out[1])).log_prob(xb).sum(-1)
        )
        loss = -(lp.sum() - 0.5 * (m * m + lv.exp() - 1 - lv).sum())
        opt.zero_grad()
        loss.backward()
        opt.step()
        del step
    return steps / (time.perf_counter() - start)


def bench_examples() -> None:
    """Audit time of every README example (the test's steps)."""
    from tests.test_examples import CASES, synthetic  # the README's cases

    os.chdir(ROOT)
    print("| example | data | steps | verdict | seconds |\n|---|---|---|---|---|")
    for case in CASES:
        X = synthetic(case.data, case.dim, case.n)
        start = time.perf_counter()
        res = audit_model(f"examples.{case.name}:factory", X, steps=case.steps)
        print(
            f"| `{case.name}` | {case.data}, D = {case.dim}, n = {case.n} | {case.steps} | "
            f"{res.verdict} | {time.perf_counter() - start:.1f} |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="conv")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--examples", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = MODELS[args.model]
    X = (
        images(args.n)
        if args.model == "conv"
        else np.random.default_rng(0).uniform(0.05, 0.95, size=(args.n, 8))
    )
    best = {"attack": 0.0, "adam": 0.0}
    for _ in range(args.rounds):
        best["attack"] = max(best["attack"], time_attack(spec, X, args.steps))
        best["adam"] = max(best["adam"], time_adam(spec, X, args.steps))
    print(
        f"{args.model}, n = {args.n}, {args.steps} steps, threads = "
        f"{torch.get_num_threads()}, target level {TARGET_LOG_SCALE}, load "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"attack {best['attack']:.2f} steps/s, plain Adam {best['adam']:.2f} steps/s, "
        f"ratio {best['attack'] / best['adam']:.2f}"
    )
    if args.examples:
        bench_examples()


if __name__ == "__main__":
    main()
