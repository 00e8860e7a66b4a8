"""Training steps per second: the harness's training step against a plain PyTorch loop.

Both train the App. C.2 VAE of the digits runs (D = 64, d = 5, H = 200, tanh, learned
per-coordinate variance) with Adam (lr 1e-3) on minibatches of 100, float32, on
``--threads`` intra-op threads (default 1, as ``wellposed train`` runs each process):

* ``harness``: :func:`wellposed.training.loop.train_step` on
  :class:`wellposed.training.objectives.TrainingModel` (the project's networks and its
  overflow-safe Gaussian log-density);
* ``plain``: ``nn.Linear`` layers and ``torch.distributions.Normal(mu, exp(lv/2))``, the
  loop a practitioner would write.

The two are timed round-robin in one process (best of ``--rounds`` blocks of ``--steps``
steps each), so the ratio compares like with like even on a loaded machine; printed, never
asserted.  ``python benchmarks/bench_training.py [--steps 200 --rounds 5 --threads 1]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from tabulate import tabulate
from torch import nn
from torch.distributions import Normal

from wellposed.training.data import TrainingData
from wellposed.training.loop import RunConfig, make_model, train_step

D, d, H, B = 64, 5, 200, 100


class PlainVAE(nn.Module):
    """The same shapes written with nn.Linear and torch.distributions."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(D, H)
        self.enc_m, self.enc_lv = nn.Linear(H, d), nn.Linear(H, d)
        self.dec = nn.Linear(d, H)
        self.dec_m, self.dec_lv = nn.Linear(H, D), nn.Linear(H, D)

    def elbo(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.enc(x))
        m, lv = self.enc_m(h), self.enc_lv(h)
        t = m + torch.exp(0.5 * lv) * eps
        g = torch.tanh(self.dec(t))
        ll = Normal(self.dec_m(g), torch.exp(0.5 * self.dec_lv(g))).log_prob(x).sum(-1)
        kl = 0.5 * (torch.exp(lv) + m * m - 1.0 - lv).sum(-1)
        return (ll - kl).mean()


def _timer(step: Callable[[], None], steps: int) -> Callable[[], float]:
    def run() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        return steps / (time.perf_counter() - t0)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x_np = rng.integers(0, 17, size=(1400, D)) / 16.0
    data = TrainingData("bench", x_np, x_np[:10], 16, 0)
    gen = torch.Generator().manual_seed(0)
    x = torch.as_tensor(x_np, dtype=torch.float32)

    model = make_model(RunConfig("bench", "learned", 0), data)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def harness() -> None:
        idx = torch.randint(len(x), (B,), generator=gen)
        eps = torch.randn((1, B, d), generator=gen)
        train_step(model, opt, x, idx, eps, gen)

    torch.manual_seed(0)
    plain_model = PlainVAE()
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)

    def plain() -> None:
        idx = torch.randint(len(x), (B,), generator=gen)
        eps = torch.randn((B, d), generator=gen)
        loss = -plain_model.elbo(x[idx], eps)
        plain_opt.zero_grad(set_to_none=True)
        loss.backward()
        plain_opt.step()

    timers = {"harness": _timer(harness, args.steps), "plain": _timer(plain, args.steps)}
    best = {k: 0.0 for k in timers}
    for _ in range(args.rounds):
        for name, run in timers.items():
            best[name] = max(best[name], run())
    print(
        tabulate(
            [[k, f"{v:.0f}"] for k, v in best.items()],
            headers=["loop", "steps/s"],
            tablefmt="github",
        )
    )
    print(
        f"\nharness / plain: {best['harness'] / best['plain']:.2f}x "
        f"({args.threads} thread(s), batch {B}, float32, best of {args.rounds} x "
        f"{args.steps} steps)"
    )


if __name__ == "__main__":
    main()
