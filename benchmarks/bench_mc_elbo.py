"""Monte Carlo ELBO throughput of the App. C.2 Gaussian decoder.

Measures samples x data points per second at D = 784, d = 16, hidden = 256, float64, for

* ``ours``:  :func:`wellposed.lines.montecarlo.elbo_mc` (fused decoder path, analytic KL);
* ``plain``: the same estimator on the same samples written with ``torch.distributions``
  (``Normal(mu, exp(lv/2)).log_prob(x).sum(-1)``, ``kl_divergence`` for the KL);
* ``matmul``: the machine's own GEMM rate at the estimator's shapes, the compute ceiling:
  ``(S n, d) x (d, H)`` plus two ``(S n, H) x (H, D)`` (mean and log-variance heads).

The three are timed round-robin in one process (best of ``--rounds``), so the ratios
compare like with like even on a loaded machine.  A script, never a test:
``python benchmarks/bench_mc_elbo.py [--samples 64 --points 100 --rounds 7 --threads N]``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import torch
from tabulate import tabulate
from torch.distributions import Normal, kl_divergence

from wellposed.lines import montecarlo
from wellposed.models.networks import GaussianMLPDecoder, GaussianMLPEncoder

D, d, H = 784, 16, 256
T = torch.float64


def plain_elbo(
    dec: GaussianMLPDecoder, enc: GaussianMLPEncoder, x: torch.Tensor, eps: torch.Tensor
) -> float:
    """The textbook estimator: ``mean_s sum_i log N(x_i | mu(t_is), sigma^2(t_is)) - KL``."""
    m, lv = enc(x)
    std = torch.exp(0.5 * lv)
    t = m + std * eps
    h = torch.tanh(t @ dec.W3.T + dec.b3)
    mu = h @ dec.W4.T + dec.b4
    log_var = h @ dec.W5.T + dec.b5
    rec = Normal(mu, torch.exp(0.5 * log_var)).log_prob(x).sum(-1).mean(0)
    kl = kl_divergence(Normal(m, std), Normal(torch.zeros_like(m), torch.ones_like(m))).sum(-1)
    return float((rec - kl).sum())


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: keep)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    S, n = args.samples, args.points
    dec = GaussianMLPDecoder(d, H, D, seed=0)
    enc = GaussianMLPEncoder(D, H, d, seed=0)
    x = torch.rand(n, D, dtype=T, generator=torch.Generator().manual_seed(1))
    seed = 3
    # the same eps elbo_mc draws for this seed (chunking-invariant layout)
    eps = montecarlo._standard_normal(
        torch.Generator().manual_seed(seed), S, n, d, torch.device("cpu")
    )
    g = torch.Generator().manual_seed(2)
    a1, w1 = torch.randn(S * n, d, dtype=T, generator=g), torch.randn(d, H, dtype=T, generator=g)
    a2, w2 = torch.randn(S * n, H, dtype=T, generator=g), torch.randn(H, D, dtype=T, generator=g)

    jobs: dict[str, Callable[[], object]] = {
        "ours (montecarlo.elbo_mc)": lambda: montecarlo.elbo_mc(
            dec, enc, x, samples=S, seed=seed, device="cpu"
        ),
        "plain torch.distributions": lambda: plain_elbo(dec, enc, x, eps),
        "matmul ceiling (3 GEMMs)": lambda: (a1 @ w1, a2 @ w2, a2 @ w2),
    }
    with torch.no_grad():
        ours_val = montecarlo.elbo_mc(dec, enc, x, samples=S, seed=seed, device="cpu").value
        plain_val = plain_elbo(dec, enc, x, eps)
        best = {k: math.inf for k in jobs}
        for _ in range(args.rounds):
            for k, fn in jobs.items():
                best[k] = min(best[k], _time(fn))
    rate = {k: S * n / v for k, v in best.items()}
    ours, plain, mm = (rate[k] for k in jobs)
    gflops = 2 * S * n * (d * H + 2 * H * D) / best["matmul ceiling (3 GEMMs)"] / 1e9
    rows = [[k, f"{r:,.0f}", f"{r / ours:.2f}"] for k, r in rate.items()]
    print(
        f"D={D} d={d} hidden={H} float64  S={S} samples x n={n} points  "
        f"torch {torch.__version__}  torch.get_num_threads()={torch.get_num_threads()}  "
        f"best of {args.rounds} rounds"
    )
    print(tabulate(rows, headers=["path", "samples*points/s", "rate / ours"]))
    print(f"ours / plain = {ours / plain:.2f}  (aim >= 2)")
    print(f"ours / matmul ceiling = {ours / mm:.2f}  (aim >= 0.5; GEMM at {gflops:.1f} GFLOP/s)")
    print(
        f"same samples, same estimate: |ours - plain| / |plain| = "
        f"{abs(ours_val - plain_val) / abs(plain_val):.1e}"
    )


if __name__ == "__main__":
    main()
